package records

import (
	"net/url"
	"strings"
	"testing"
)

func TestPatientsHaveValidNHSNumbers(t *testing.T) {
	for _, p := range patients {
		if !validNHSNumber(p.NHSNumber) || !strings.HasPrefix(p.NHSNumber, "999") {
			t.Errorf("%s: not a valid test-range NHS number", p.NHSNumber)
		}
	}
	for _, bad := range []string{"", "999123457", "9991234579", "99912345780", "999123457x", "9990000000x", "٩٩٩١٢٣٤٥٧٨"} {
		if validNHSNumber(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
	// A number whose check digit would be 10 is never valid.
	if validNHSNumber("9990000000") || validNHSNumber("0000000060") {
		t.Error("check digit 10 accepted")
	}
}

// localPath keeps a path on this site as it is and turns anything else
// into "/": never a host, a scheme, a ticket or a control character.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/", "/patients", "//evil.example", "/\\evil", "https://evil.example/", "/a?b=c", "/x#y",
		"/x?ticket=AQIC5", "/%2F%2Fevil", "/\x00", " /x", "/ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := localPath(in)
		if out != "/" && out != in {
			t.Fatalf("localPath(%q) = %q: neither the input nor /", in, out)
		}
		if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") || strings.Contains(out, "\\") || strings.Contains(out, "AQIC") {
			t.Fatalf("localPath(%q) = %q", in, out)
		}
		for _, c := range out {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("localPath(%q) = %q holds a control character", in, out)
			}
		}
		if u, err := url.Parse(out); err == nil && (u.Host != "" || u.Scheme != "") {
			t.Fatalf("localPath(%q) = %q names a host or scheme", in, out)
		}
	})
}
