package cis

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// Seeds beyond these are in testdata/fuzz/FuzzParseNamingProfileResponse.
func FuzzParseNamingProfileResponse(f *testing.F) {
	for _, name := range []string{"opensso-template.xml", "exception.xml"} {
		f.Add(readNamingFixture(f, name))
	}
	f.Add([]byte(namingAnswer(namingServiceID, namingAttr(NamingSessionURLAttribute, "http://127.0.0.1:7443/amserver/sessionservice"))))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseNamingProfileResponse(data)
		if err != nil {
			checkErrorBounded(t, "ParseNamingProfileResponse", err)
			var pe *ParseError
			if !errors.Is(err, ErrUnavailable) && (!errors.As(err, &pe) || !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge)) {
				t.Fatalf("error is not ErrUnavailable or a *ParseError wrapping ErrMalformed or ErrTooLarge: %v", err)
			}
			return
		}
		if len(p.Attributes) > MaxNamingAttributes {
			t.Fatalf("%d attributes", len(p.Attributes))
		}
		names := make(map[string]bool)
		for _, a := range p.Attributes {
			if names[a.Name] {
				t.Fatalf("attribute %q twice", a.Name)
			}
			names[a.Name] = true
		}
		// Written out again, the profile reads back the same.
		back, err := ParseNamingProfileResponse(encodeNamingProfile(p))
		if err != nil || !slices.Equal(back.Attributes, p.Attributes) {
			t.Fatalf("round trip: %v\n%v\n%v", err, p.Attributes, back)
		}
		u, err := p.SessionServiceURL("https://sbapi.example:8443/amserver/namingservice")
		if err != nil {
			checkErrorBounded(t, "SessionServiceURL", err)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("SessionServiceURL: %v", err)
			}
			return
		}
		if len(u) > maxNamedURLLen || checkBaseURL(u) != nil {
			t.Fatalf("SessionServiceURL gave %q", u)
		}
	})
}

// encodeNamingProfile writes p as the naming service would.
func encodeNamingProfile(p *NamingProfile) []byte {
	var inner bytes.Buffer
	inner.WriteString(`<NamingResponse vers="1.0" reqid="0"><GetNamingProfile>`)
	for _, a := range p.Attributes {
		inner.WriteString(`<Attribute name="`)
		escapeXML(&inner, a.Name, false)
		inner.WriteString(`" value="`)
		escapeXML(&inner, a.Value, false)
		inner.WriteString(`"></Attribute>`)
	}
	inner.WriteString(`</GetNamingProfile></NamingResponse>`)
	var b bytes.Buffer
	b.WriteString(`<ResponseSet vers="1.0" svcid="com.iplanet.am.naming" reqid="1"><Response>`)
	escapeXML(&b, inner.String(), false)
	b.WriteString(`</Response></ResponseSet>`)
	return b.Bytes()
}
