package samlidp

import (
	"errors"
	"testing"
)

// FuzzParseServiceProvider: service provider metadata comes from outside.
// Whatever the bytes, ParseServiceProvider returns a checked
// ServiceProvider or an ErrBadMetadata error, and never panics.
func FuzzParseServiceProvider(f *testing.F) {
	f.Add([]byte(readMetadataFixture(f)))
	f.Fuzz(func(t *testing.T, b []byte) {
		sp, err := ParseServiceProvider(b)
		if err != nil {
			if sp != nil || !errors.Is(err, ErrBadMetadata) {
				t.Fatalf("sp %v, err %v", sp, err)
			}
			return
		}
		if checkEntityID(sp.EntityID()) != nil || len(sp.ACSURLs()) == 0 {
			t.Fatalf("accepted entity %q with ACS %q", sp.EntityID(), sp.ACSURLs())
		}
		for _, u := range sp.ACSURLs() {
			if err := checkACSLocation(u); err != nil {
				t.Fatalf("accepted ACS: %v", err)
			}
		}
	})
}
