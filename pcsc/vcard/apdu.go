package vcard

import "encoding/binary"

// Status words the applet answers with.
const (
	swOK                   = 0x9000
	swWrongLength          = 0x6700
	swSecurityNotSatisfied = 0x6982
	swAuthBlocked          = 0x6983
	swConditionsNotMet     = 0x6985
	swLastCommandExpected  = 0x6883
	swWrongData            = 0x6A80
	swNotFound             = 0x6A82
	swIncorrectP1P2        = 0x6A86
	swINSNotSupported      = 0x6D00
	swCLANotSupported      = 0x6E00
	swBytesRemaining       = 0x6100 // | min(remaining, 0xFF); 00 means 256 or more
	swVerifyFailed         = 0x63C0 // | tries left
)

// maxShortLe is what Le=00 asks for in a short APDU; maxExtLe in an extended one.
const (
	maxShortLe = 256
	maxExtLe   = 65536
	// maxResponseData keeps a reply (data + SW) inside one vpcd frame.
	maxResponseData = 0xFFFF - 2
)

// command is a parsed ISO 7816-4 command APDU. data aliases the input.
type command struct {
	cla, ins, p1, p2 byte
	data             []byte
	// ne is the number of response bytes the reader expects (0 when Le is
	// absent).
	ne int
}

// parseCommand splits a command APDU into header, data and Le (cases 1, 2,
// 3 and 4, short and extended). ok is false when the lengths do not add up.
func parseCommand(b []byte) (c command, ok bool) {
	if len(b) < 4 {
		return c, false
	}
	c.cla, c.ins, c.p1, c.p2 = b[0], b[1], b[2], b[3]
	body := b[4:]
	switch {
	case len(body) == 0: // case 1
		return c, true
	case len(body) == 1: // case 2 short
		c.ne = shortLe(body[0])
		return c, true
	case body[0] != 0: // case 3 or 4 short
		lc := int(body[0])
		switch len(body) {
		case 1 + lc:
			c.data = body[1:]
			return c, true
		case 2 + lc:
			c.data = body[1 : 1+lc]
			c.ne = shortLe(body[1+lc])
			return c, true
		}
		return c, false
	case len(body) == 3: // case 2 extended
		c.ne = extLe(body[1:])
		return c, true
	case len(body) > 3: // case 3 or 4 extended
		lc := int(binary.BigEndian.Uint16(body[1:3]))
		if lc == 0 {
			return c, false
		}
		switch len(body) {
		case 3 + lc:
			c.data = body[3:]
			return c, true
		case 5 + lc:
			c.data = body[3 : 3+lc]
			c.ne = extLe(body[3+lc:])
			return c, true
		}
	}
	return c, false
}

// shortLe and extLe decode a short (one byte) or extended (two bytes) Le
// field, where 0 means the maximum.
func shortLe(b byte) int {
	if b == 0 {
		return maxShortLe
	}
	return int(b)
}

func extLe(b []byte) int {
	n := int(binary.BigEndian.Uint16(b))
	if n == 0 {
		return maxExtLe
	}
	return n
}

// status is a reply with no data.
func status(sw uint16) []byte {
	return []byte{byte(sw >> 8), byte(sw)}
}

// withStatus appends the status word to data in a new slice.
func withStatus(data []byte, sw uint16) []byte {
	out := make([]byte, 0, len(data)+2)
	out = append(out, data...)
	return append(out, byte(sw>>8), byte(sw))
}
