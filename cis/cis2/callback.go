package cis2

import (
	"net/url"
)

// Limits on the callback's query.
const (
	maxCallbackQuery = 16 << 10
	maxCode          = 4096
	maxState         = 512
	maxIssuer        = 2048
	maxErrorText     = 1024
)

// Callback is the authorization response the provider sends to the
// redirect URI (RFC 6749 §4.1.2, RFC 9207): a code and the state, or an
// error and the state.
type Callback struct {
	Code             string // code
	State            string // state
	Issuer           string // iss (RFC 9207), if sent
	Error            string // error, if the provider refused
	ErrorDescription string // error_description, sanitised
}

// ParseCallback parses the raw query of a request to the redirect URI.
// Each of code, state, iss, error and error_description may appear at most
// once; code and state must be printable ASCII (RFC 6749's VSCHAR) of
// bounded length; exactly one of code and error must be present. Other
// parameters (session_state, client_id, scope, …) are ignored. Failures
// match ErrCallback. The result is not yet checked against a login in
// progress: RelyingParty.Finish does that.
func ParseCallback(rawQuery string) (*Callback, error) {
	if len(rawQuery) > maxCallbackQuery {
		return nil, refused(ErrCallback, "query longer than %d bytes", maxCallbackQuery)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, refused(ErrCallback, "query does not parse")
	}
	c := &Callback{}
	for _, f := range []struct {
		key   string
		dst   *string
		limit int
	}{
		{"code", &c.Code, maxCode}, {"state", &c.State, maxState}, {"iss", &c.Issuer, maxIssuer},
		{"error", &c.Error, maxErrorText}, {"error_description", &c.ErrorDescription, maxErrorText},
	} {
		vs, ok := q[f.key]
		if !ok {
			continue
		}
		if len(vs) != 1 {
			return nil, refused(ErrCallback, "%s given %d times", f.key, len(vs))
		}
		v := vs[0]
		if len(v) > f.limit {
			return nil, refused(ErrCallback, "%s longer than %d bytes", f.key, f.limit)
		}
		if f.key == "error_description" {
			*f.dst = shown(v)
			continue
		}
		if v == "" || !vschar(v) {
			return nil, refused(ErrCallback, "%s empty or not printable ASCII", f.key)
		}
		*f.dst = v
	}
	switch {
	case c.Code == "" && c.Error == "":
		return nil, refused(ErrCallback, "neither code nor error")
	case c.Code != "" && c.Error != "":
		return nil, refused(ErrCallback, "both code and error")
	}
	return c, nil
}

// vschar reports whether s is all %x20-7E.
func vschar(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
