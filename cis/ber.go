package cis

import (
	"errors"
)

// maxBERDepth bounds the nesting of BER elements berToDER accepts; CMS
// SignedData with an embedded certificate nests about a dozen deep.
const maxBERDepth = 32

var errBER = errors.New("invalid BER")

// berToDER re-encodes one BER element (and nothing after it) in the forms
// encoding/asn1 and crypto/x509 read: definite, minimal lengths; constructed
// OCTET STRINGs joined into one primitive; BOOLEAN TRUE as 0xFF. This is
// what openssl and other BER encoders emit for attached CMS content. It is
// not a full DER canonicaliser (SET OF order is kept as sent).
func berToDER(b []byte) ([]byte, error) {
	out, rest, err := berElement(b, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, errors.New("trailing data after BER element")
	}
	return out, nil
}

// berElement converts the element at the start of b and returns the rest.
func berElement(b []byte, depth int) (der, rest []byte, err error) {
	if depth > maxBERDepth {
		return nil, nil, errors.New("BER nested too deep")
	}
	id, constructed, b, err := berIdentifier(b)
	if err != nil {
		return nil, nil, err
	}
	length, indefinite, b, err := berLength(b)
	if err != nil {
		return nil, nil, err
	}
	if !constructed {
		if indefinite || length > len(b) {
			return nil, nil, errBER
		}
		content := b[:length]
		if len(id) == 1 && id[0] == 0x01 && length == 1 && content[0] != 0 {
			content = []byte{0xFF} // BOOLEAN TRUE
		}
		return appendTLV(nil, id, content), b[length:], nil
	}
	var body []byte
	if !indefinite {
		if length > len(b) {
			return nil, nil, errBER
		}
		body, rest = b[:length], b[length:]
	} else {
		body = b
	}
	var children [][]byte
	for {
		if indefinite {
			if len(body) < 2 {
				return nil, nil, errors.New("BER: missing end-of-contents")
			}
			if body[0] == 0 && body[1] == 0 {
				rest = body[2:]
				break
			}
		} else if len(body) == 0 {
			break
		}
		var child []byte
		if child, body, err = berElement(body, depth+1); err != nil {
			return nil, nil, err
		}
		children = append(children, child)
	}
	var content []byte
	if len(id) == 1 && id[0] == 0x24 { // constructed OCTET STRING: join the pieces
		for _, c := range children {
			if len(c) == 0 || c[0] != 0x04 {
				return nil, nil, errors.New("BER: constructed OCTET STRING holds a non-OCTET STRING")
			}
			_, _, v, _ := berLength(c[1:]) // c is DER we wrote: cannot fail
			content = append(content, v...)
		}
		return appendTLV(nil, []byte{0x04}, content), rest, nil
	}
	for _, c := range children {
		content = append(content, c...)
	}
	return appendTLV(nil, id, content), rest, nil
}

// berIdentifier reads an identifier octet (or high-tag-number form) and
// returns its bytes.
func berIdentifier(b []byte) (id []byte, constructed bool, rest []byte, err error) {
	if len(b) == 0 {
		return nil, false, nil, errors.New("BER: truncated")
	}
	n := 1
	if b[0]&0x1F == 0x1F {
		for {
			if n >= len(b) || n > 4 {
				return nil, false, nil, errBER
			}
			c := b[n]
			n++
			if c&0x80 == 0 {
				break
			}
		}
	}
	return b[:n], b[0]&0x20 != 0, b[n:], nil
}

// berLength reads a definite (short or long form, up to 4 bytes) or
// indefinite length.
func berLength(b []byte) (length int, indefinite bool, rest []byte, err error) {
	if len(b) == 0 {
		return 0, false, nil, errors.New("BER: truncated")
	}
	c := b[0]
	switch {
	case c < 0x80:
		return int(c), false, b[1:], nil
	case c == 0x80:
		return 0, true, b[1:], nil
	}
	n := int(c & 0x7F)
	if n > 4 || len(b) < 1+n {
		return 0, false, nil, errBER
	}
	for _, d := range b[1 : 1+n] {
		length = length<<8 | int(d)
	}
	if length < 0 || length > 1<<28 {
		return 0, false, nil, errBER
	}
	return length, false, b[1+n:], nil
}

// appendTLV appends identifier id, the DER length of content, and content.
func appendTLV(dst, id, content []byte) []byte {
	dst = append(dst, id...)
	l := len(content)
	switch {
	case l < 0x80:
		dst = append(dst, byte(l))
	case l < 0x100:
		dst = append(dst, 0x81, byte(l))
	case l < 0x10000:
		dst = append(dst, 0x82, byte(l>>8), byte(l))
	case l < 0x1000000:
		dst = append(dst, 0x83, byte(l>>16), byte(l>>8), byte(l))
	default:
		dst = append(dst, 0x84, byte(l>>24), byte(l>>16), byte(l>>8), byte(l))
	}
	return append(dst, content...)
}
