package vcard

import (
	"bytes"
	"crypto/subtle"
)

// Instructions the applet knows.
const (
	insVerify      = 0x20
	insGeneralAuth = 0x87
	insSelect      = 0xA4
	insGetResponse = 0xC0
	insGetData     = 0xCB
)

// maxChain caps the data of one chained command.
const maxChain = 4096

// Transmit answers one command APDU with a response APDU (data followed by
// SW1 SW2), as the card would in a reader. It never panics: malformed input
// gets an ISO 7816 error status.
func (c *Card) Transmit(apdu []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	resp := c.handle(apdu)
	if len(apdu) >= 2 && len(resp) >= 2 {
		c.log.Debug("vcard: apdu", "ins", apdu[1], "sw", uint16(resp[len(resp)-2])<<8|uint16(resp[len(resp)-1]))
	}
	return resp
}

func (c *Card) handle(apdu []byte) []byte {
	cmd, ok := parseCommand(apdu)
	if !ok {
		c.pending, c.chain, c.chaining = nil, nil, false
		return status(swWrongLength)
	}
	if cmd.cla&^0x10 != 0x00 {
		return status(swCLANotSupported)
	}
	if cmd.ins == insGetResponse {
		return c.getResponse(cmd)
	}
	c.pending = nil

	// Command chaining (ISO 7816-4 5.1.1.1): CLA bit 0x10 on all but the
	// last command; the applet sees the concatenated data.
	hdr := [3]byte{cmd.ins, cmd.p1, cmd.p2}
	if c.chaining && hdr != c.chainHdr {
		c.chain, c.chaining = nil, false
		return status(swLastCommandExpected)
	}
	if cmd.cla&0x10 != 0 {
		if len(c.chain)+len(cmd.data) > maxChain {
			c.chain, c.chaining = nil, false
			return status(swWrongLength)
		}
		c.chain = append(c.chain, cmd.data...)
		c.chainHdr, c.chaining = hdr, true
		return status(swOK)
	}
	if c.chaining {
		if len(c.chain)+len(cmd.data) > maxChain {
			c.chain, c.chaining = nil, false
			return status(swWrongLength)
		}
		cmd.data = append(c.chain, cmd.data...)
		c.chain, c.chaining = nil, false
	}

	switch cmd.ins {
	case insSelect:
		return c.selectApp(cmd)
	case insGetData:
		return c.getData(cmd)
	case insVerify:
		return c.verify(cmd)
	case insGeneralAuth:
		return c.generalAuthenticate(cmd)
	}
	return status(swINSNotSupported)
}

// respond sends up to ne bytes of data and keeps the rest for GET RESPONSE,
// announced with 61 XX.
func (c *Card) respond(data []byte, ne int) []byte {
	if ne <= 0 {
		ne = maxShortLe
	}
	ne = min(ne, maxResponseData)
	if len(data) <= ne {
		c.pending = nil
		return withStatus(data, swOK)
	}
	c.pending = bytes.Clone(data[ne:])
	return withStatus(data[:ne], swBytesRemaining|uint16(min(len(c.pending), 0x100)&0xFF))
}

func (c *Card) getResponse(cmd command) []byte {
	if cmd.p1 != 0 || cmd.p2 != 0 {
		c.pending = nil
		return status(swIncorrectP1P2)
	}
	if c.pending == nil {
		return status(swConditionsNotMet)
	}
	return c.respond(c.pending, cmd.ne)
}

// selectApp answers SELECT by AID (P1=04) for the PIV application or any
// prefix of its AID from the RID on; the applet is also selected at power-on.
func (c *Card) selectApp(cmd command) []byte {
	if cmd.p1 != 0x04 || cmd.p2&^0x0C != 0 {
		return status(swIncorrectP1P2)
	}
	if len(cmd.data) < 5 || !bytes.HasPrefix(pivAID, cmd.data) {
		return status(swNotFound)
	}
	return c.respond(selectResponse(), cmd.ne)
}

// getData answers GET DATA 00 CB 3F FF with a tag list 5C <tag>.
func (c *Card) getData(cmd command) []byte {
	if cmd.p1 != 0x3F || cmd.p2 != 0xFF {
		return status(swIncorrectP1P2)
	}
	t, rest, ok := parseTLV(cmd.data)
	if !ok || len(rest) != 0 || t.tag != 0x5C || len(t.value) == 0 || len(t.value) > 3 {
		return status(swWrongData)
	}
	var tag uint32
	for _, b := range t.value {
		tag = tag<<8 | uint32(b)
	}
	var obj []byte
	switch tag {
	case tagCHUID:
		obj = chuidObject(c.cert)
	case tagDiscovery:
		obj = discoveryObject()
	case tagCert9A:
		obj = certObject(c.cert)
	default:
		return status(swNotFound)
	}
	return c.respond(obj, cmd.ne)
}

// verify handles VERIFY for the PIV application PIN (key reference 80):
// with data it checks the PIN, without data it reports the state and spends
// no try, and with P1=FF it ends the verified state.
//
// A wrong PIN answers 63 Cx with the tries left; the wrong PIN that uses up
// the last try answers 69 83 at once (as OpenSC then reports
// CKR_PIN_LOCKED), and so does every VERIFY after it.
func (c *Card) verify(cmd command) []byte {
	if cmd.p2 != 0x80 || (cmd.p1 != 0x00 && cmd.p1 != 0xFF) {
		return status(swIncorrectP1P2)
	}
	if cmd.p1 == 0xFF {
		if len(cmd.data) != 0 {
			return status(swWrongData)
		}
		c.verified = false
		return status(swOK)
	}
	if c.retries == 0 {
		return status(swAuthBlocked)
	}
	if len(cmd.data) == 0 {
		if c.verified {
			return status(swOK)
		}
		return status(swVerifyFailed | uint16(c.retries))
	}
	if len(cmd.data) != pinLen {
		return status(swWrongData)
	}
	if subtle.ConstantTimeCompare(cmd.data, c.pin[:]) == 1 {
		c.retries = c.maxRetries
		c.verified = true
		return status(swOK)
	}
	c.verified = false
	c.retries--
	if c.retries == 0 {
		return status(swAuthBlocked)
	}
	return status(swVerifyFailed | uint16(c.retries))
}

// generalAuthenticate performs the raw RSA private-key operation of slot 9A:
// 7C { 82 00, 81 <block> } → 7C { 82 <result> }.
func (c *Card) generalAuthenticate(cmd command) []byte {
	if cmd.p1 != c.algorithm || cmd.p2 != 0x9A {
		return status(swIncorrectP1P2)
	}
	outer, rest, ok := parseTLV(cmd.data)
	if !ok || len(rest) != 0 || outer.tag != 0x7C {
		return status(swWrongData)
	}
	items, ok := parseTLVs(outer.value)
	if !ok {
		return status(swWrongData)
	}
	var challenge []byte
	var wantResponse bool
	for _, it := range items {
		switch {
		case it.tag == 0x81 && challenge == nil:
			challenge = it.value
		case it.tag == 0x82 && len(it.value) == 0 && !wantResponse:
			wantResponse = true
		default:
			return status(swWrongData)
		}
	}
	if challenge == nil || !wantResponse {
		return status(swWrongData)
	}
	if !c.verified {
		return status(swSecurityNotSatisfied)
	}
	out, err := rawRSA(c.key, challenge)
	if err != nil {
		return status(swWrongData)
	}
	c.signatures++
	return c.respond(appendTLV(nil, 0x7C, appendTLV(nil, 0x82, out)), cmd.ne)
}
