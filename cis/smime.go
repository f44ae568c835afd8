package cis

import (
	"encoding/base64"
	"strings"
)

// MaxSMIMESize bounds the length of a response param DecodeSMIME accepts.
const MaxSMIMESize = 4 * MaxCMSSize

// smimeHeader is what smartcard agents put before the base64 CMS.
const smimeHeader = "MIME-Version: 1.0\n" +
	"Content-Disposition: attachment; filename=\"smime.p7m\"\n" +
	"Content-Type: application/x-pkcs7-mime; name=\"smime.p7m\"\n" +
	"Content-Transfer-Encoding: base64\n" +
	"\n"

// EncodeSMIME wraps CMS DER as the value of the validate request's response
// param: the S/MIME header lines, a blank line and base64(der) wrapped at 64
// columns (LF line ends), all of it base64-encoded again.
func EncodeSMIME(der []byte) string {
	body := base64.StdEncoding.EncodeToString(der)
	var b strings.Builder
	b.Grow(len(smimeHeader) + len(body) + len(body)/64 + 1)
	b.WriteString(smimeHeader)
	for len(body) > 64 {
		b.WriteString(body[:64])
		b.WriteByte('\n')
		body = body[64:]
	}
	b.WriteString(body)
	b.WriteByte('\n')
	return base64.StdEncoding.EncodeToString([]byte(b.String()))
}

// DecodeSMIME returns the CMS DER inside a response param. It strips every
// line up to the first empty or white-space-only one (the S/MIME headers,
// indented or not), and tolerates white space around and inside both base64
// layers. Errors are *ParseError wrapping ErrMalformed or ErrTooLarge.
func DecodeSMIME(response string) ([]byte, error) {
	if len(response) > MaxSMIMESize {
		return nil, &ParseError{What: "S/MIME response", Offset: -1, Msg: "too large", Err: ErrTooLarge}
	}
	outer, err := base64.StdEncoding.DecodeString(stripASCIISpace(response))
	if err != nil {
		return nil, &ParseError{What: "S/MIME response", Offset: -1, Msg: "outer base64: " + err.Error()}
	}
	text := strings.ReplaceAll(string(outer), "\r\n", "\n")
	var body string
	found := false
	for line, rest, more := "", text, true; more; {
		line, rest, more = strings.Cut(rest, "\n")
		if strings.TrimSpace(line) == "" {
			body, found = rest, true
			break
		}
	}
	if !found {
		return nil, &ParseError{What: "S/MIME response", Offset: -1, Msg: "no blank line after the headers"}
	}
	body = stripASCIISpace(body)
	if body == "" {
		return nil, &ParseError{What: "S/MIME response", Offset: -1, Msg: "empty body"}
	}
	der, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, &ParseError{What: "S/MIME response", Offset: -1, Msg: "body base64: " + err.Error()}
	}
	return der, nil
}

// stripASCIISpace removes ASCII white space anywhere in s.
func stripASCIISpace(s string) string {
	if strings.IndexAny(s, " \t\r\n\v\f") < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n', '\v', '\f':
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
