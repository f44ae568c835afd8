package vcard

// BER-TLV as PIV uses it: one- or two-byte tags (a first byte with the low
// five bits set announces a second), definite lengths up to three bytes.

// appendTLV appends tag (1–3 bytes, big-endian, leading zeros dropped),
// the BER length of value, and value.
func appendTLV(dst []byte, tag uint32, value []byte) []byte {
	switch {
	case tag > 0xFFFF:
		dst = append(dst, byte(tag>>16), byte(tag>>8), byte(tag))
	case tag > 0xFF:
		dst = append(dst, byte(tag>>8), byte(tag))
	default:
		dst = append(dst, byte(tag))
	}
	n := len(value)
	switch {
	case n < 0x80:
		dst = append(dst, byte(n))
	case n <= 0xFF:
		dst = append(dst, 0x81, byte(n))
	default:
		dst = append(dst, 0x82, byte(n>>8), byte(n))
	}
	return append(dst, value...)
}

// tlv is one parsed element; value aliases the input.
type tlv struct {
	tag   uint32
	value []byte
}

// parseTLVs splits b into consecutive TLV elements (one level, no
// recursion). ok is false on a truncated or over-long element.
func parseTLVs(b []byte) (out []tlv, ok bool) {
	for len(b) > 0 {
		var t tlv
		var rest []byte
		t, rest, ok = parseTLV(b)
		if !ok {
			return nil, false
		}
		out = append(out, t)
		b = rest
	}
	return out, true
}

func parseTLV(b []byte) (t tlv, rest []byte, ok bool) {
	if len(b) < 2 {
		return t, nil, false
	}
	t.tag = uint32(b[0])
	i := 1
	if b[0]&0x1F == 0x1F {
		for {
			if i >= len(b) || i > 3 {
				return t, nil, false
			}
			t.tag = t.tag<<8 | uint32(b[i])
			i++
			if b[i-1]&0x80 == 0 {
				break
			}
		}
	}
	if i >= len(b) {
		return t, nil, false
	}
	n := int(b[i])
	i++
	if n&0x80 != 0 {
		k := n & 0x7F
		if k == 0 || k > 3 || i+k > len(b) {
			return t, nil, false
		}
		n = 0
		for _, c := range b[i : i+k] {
			n = n<<8 | int(c)
		}
		i += k
	}
	if n > len(b)-i {
		return t, nil, false
	}
	t.value = b[i : i+n]
	return t, b[i+n:], true
}
