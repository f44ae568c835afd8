package middleware

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
)

// cookies signs, reads and writes the session cookie. The cookie's value is
// the session id signed with securecookie (HMAC-SHA256 over the cookie
// name, a timestamp and the id; no serializer, so no gob): the first key
// signs, every key verifies, and the timestamp expires with MaxAge
// whatever the browser does with Max-Age.
type cookies struct {
	name   string
	codecs []securecookie.Codec
	opts   sessions.Options
}

// maxCookieLen bounds a session cookie value we try to verify; ours are
// about 130 bytes.
const maxCookieLen = 512

func newCookies(name string, c CookieConfig) *cookies {
	k := &cookies{
		name: name,
		opts: sessions.Options{
			Path:     "/",
			MaxAge:   int(c.MaxAge.Seconds()),
			Secure:   !c.Insecure,
			HttpOnly: true,
			SameSite: c.SameSite,
		},
	}
	for _, key := range c.Keys {
		sc := securecookie.New(key, nil)
		sc.SetSerializer(securecookie.NopEncoder{})
		sc.MaxLength(maxCookieLen)
		k.codecs = append(k.codecs, sc)
	}
	k.maxAge(k.opts.MaxAge)
	return k
}

// maxAge sets the cookie's Max-Age and the signature's own expiry together
// (gorilla's Options.MaxAge alone would leave securecookie's 30 days).
func (k *cookies) maxAge(seconds int) {
	k.opts.MaxAge = seconds
	for _, c := range k.codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.MaxAge(seconds)
		}
	}
}

// errBadCookie means a session cookie did not verify; its value is never
// quoted.
var errBadCookie = errors.New("middleware: session cookie does not verify")

// encode signs a session id.
func (k *cookies) encode(id string) (string, error) {
	return securecookie.EncodeMulti(k.name, []byte(id), k.codecs...)
}

// decode verifies a cookie value and returns the session id in it.
func (k *cookies) decode(value string) (string, error) {
	if len(value) > maxCookieLen {
		return "", errBadCookie
	}
	var id []byte
	if err := securecookie.DecodeMulti(k.name, value, &id, k.codecs...); err != nil || !validSessionID(string(id)) {
		return "", errBadCookie
	}
	return string(id), nil
}

// set writes the session cookie.
func (k *cookies) set(w http.ResponseWriter, value string) {
	http.SetCookie(w, sessions.NewCookie(k.name, value, &k.opts))
}

// clear tells the browser to drop the session cookie.
func (k *cookies) clear(w http.ResponseWriter) {
	o := k.opts
	o.MaxAge = -1
	http.SetCookie(w, sessions.NewCookie(k.name, "", &o))
}

// value returns the first session cookie of the request, or "", without
// allocating: the hot path reads it on every request.
func (k *cookies) value(h http.Header) string {
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimLeft(part, " \t")
			if v, ok := strings.CutPrefix(part, k.name); ok && strings.HasPrefix(v, "=") {
				return strings.TrimRight(v[1:], " \t")
			}
		}
	}
	return ""
}
