package cis2

import (
	"errors"
	"strings"
	"testing"
)

func TestParseCallback(t *testing.T) {
	c, err := ParseCallback("code=abc.DEF-1&state=s1&iss=https%3A%2F%2Fam.example%3A443%2Fopenam&session_state=x&client_id=y")
	if err != nil {
		t.Fatal(err)
	}
	if c.Code != "abc.DEF-1" || c.State != "s1" || c.Issuer != "https://am.example:443/openam" || c.Error != "" {
		t.Fatalf("%+v", c)
	}
	c, err = ParseCallback("error=access_denied&error_description=User+cancelled%0A%1b%5B31m&state=s1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Error != "access_denied" || strings.ContainsAny(c.ErrorDescription, "\n\x1b") {
		t.Fatalf("%+v", c)
	}
	bad := map[string]string{
		"empty":              "",
		"neither":            "state=s",
		"both":               "code=a&error=b&state=s",
		"code twice":         "code=a&code=b&state=s",
		"state twice":        "code=a&state=s&state=t",
		"empty code":         "code=&state=s",
		"control in code":    "code=a%00b&state=s",
		"non-ASCII state":    "code=a&state=%C3%A9",
		"semicolon":          "code=a;state=s",
		"bad escape":         "code=%zz&state=s",
		"long code":          "code=" + strings.Repeat("a", maxCode+1),
		"long query":         "code=a&x=" + strings.Repeat("a", maxCallbackQuery),
		"long error text":    "error=" + strings.Repeat("e", maxErrorText+1),
		"error_description2": "error=x&error_description=a&error_description=b",
	}
	for name, q := range bad {
		if _, err := ParseCallback(q); !errors.Is(err, ErrCallback) || !errors.Is(err, ErrRefused) {
			t.Errorf("%s: want ErrCallback, got %v", name, err)
		}
	}
}

func FuzzParseCallback(f *testing.F) {
	f.Add("code=abc&state=xyz&iss=https%3A%2F%2F127.0.0.1%3A7443%2Fopenam")
	f.Add("error=access_denied&error_description=no&state=xyz")
	f.Add("code=a&code=b")
	f.Fuzz(func(t *testing.T, q string) {
		c, err := ParseCallback(q)
		if err != nil {
			if !errors.Is(err, ErrCallback) {
				t.Fatalf("error is not ErrCallback: %v", err)
			}
			return
		}
		if (c.Code == "") == (c.Error == "") {
			t.Fatalf("accepted with code %q and error %q", c.Code, c.Error)
		}
		for _, s := range []string{c.Code, c.State, c.Issuer, c.Error, c.ErrorDescription} {
			for i := 0; i < len(s); i++ {
				if s[i] < 0x20 || s[i] > 0x7e {
					t.Fatalf("unprintable byte in %q", s)
				}
			}
		}
	})
}
