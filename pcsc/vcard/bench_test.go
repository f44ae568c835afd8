package vcard

import "testing"

// BenchmarkTransmitGetData is the applet alone answering GET DATA for the
// certificate (with its GET RESPONSE parts), no reader involved.
func BenchmarkTransmitGetData(b *testing.B) {
	c, _ := newTestCard(b)
	get := getDataAPDU([]byte{0x5F, 0xC1, 0x05}, 0x00)
	for b.Loop() {
		if _, s := transmitAll(b, c, get); s != swOK {
			b.Fatalf("SW %04X", s)
		}
	}
}

// BenchmarkTransmitSign is the applet's RSA-2048 signature (GENERAL
// AUTHENTICATE with a PKCS#1 v1.5 block, chained, with GET RESPONSE).
func BenchmarkTransmitSign(b *testing.B) {
	c, f := newTestCard(b)
	c.Transmit(verifyAPDU("1234"))
	cmds := gaAPDUs(pkcs1Block(b, f.Key.Size(), []byte("challenge")))
	for b.Loop() {
		c.Transmit(cmds[0])
		if _, s := transmitAll(b, c, cmds[1]); s != swOK {
			b.Fatalf("SW %04X", s)
		}
	}
}
