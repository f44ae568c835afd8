package vcard

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"math/big"
	"testing"
)

func TestParseCommand(t *testing.T) {
	long := bytes.Repeat([]byte{0xAB}, 300)
	ext := append([]byte{0x00, 0x87, 0x07, 0x9A, 0x00, 0x01, 0x2C}, long...)
	tests := []struct {
		name  string
		in    []byte
		ok    bool
		ndata int
		ne    int
	}{
		{"too short", []byte{0x00, 0xA4, 0x04}, false, 0, 0},
		{"case 1", []byte{0x00, 0x20, 0x00, 0x80}, true, 0, 0},
		{"case 2 Le 00", []byte{0x00, 0xC0, 0x00, 0x00, 0x00}, true, 0, 256},
		{"case 2 Le 08", []byte{0x00, 0xC0, 0x00, 0x00, 0x08}, true, 0, 8},
		{"case 3", []byte{0x00, 0xA4, 0x04, 0x00, 0x02, 0xA0, 0x00}, true, 2, 0},
		{"case 4", []byte{0x00, 0xA4, 0x04, 0x00, 0x02, 0xA0, 0x00, 0x00}, true, 2, 256},
		{"Lc too big", []byte{0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0}, false, 0, 0},
		{"case 2 extended", []byte{0x00, 0xCB, 0x3F, 0xFF, 0x00, 0x00, 0x00}, true, 0, 65536},
		{"case 3 extended", ext, true, 300, 0},
		{"case 4 extended", append(append([]byte{}, ext...), 0x01, 0x00), true, 300, 256},
		{"extended Lc 0", []byte{0x00, 0xCB, 0x3F, 0xFF, 0x00, 0x00, 0x00, 0x01}, false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := parseCommand(tt.in)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && (len(c.data) != tt.ndata || c.ne != tt.ne) {
				t.Errorf("data %d bytes, ne %d; want %d, %d", len(c.data), c.ne, tt.ndata, tt.ne)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	c, _ := newTestCard(t)
	for _, tt := range []struct {
		name string
		cmd  []byte
		want uint16
	}{
		{"full AID", append([]byte{0x00, 0xA4, 0x04, 0x00, 0x0B}, append(pivAID, 0x00)...), swOK},
		{"partial AID", []byte{0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00}, swOK},
		{"other AID", []byte{0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x00, 0x03, 0x00}, swNotFound},
		{"too short", []byte{0x00, 0xA4, 0x04, 0x00, 0x02, 0xA0, 0x00, 0x00}, swNotFound},
		{"by file id", []byte{0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00}, swIncorrectP1P2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data, s := transmitAll(t, c, tt.cmd)
			if s != tt.want {
				t.Fatalf("SW %04X, want %04X", s, tt.want)
			}
			if s == swOK {
				apt, rest, ok := parseTLV(data)
				if !ok || len(rest) != 0 || apt.tag != 0x61 {
					t.Fatalf("reply %X is not an application property template", data)
				}
			}
		})
	}
}

func TestGetDataObjects(t *testing.T) {
	c, f := newTestCard(t)

	certObj, s := transmitAll(t, c, getDataAPDU([]byte{0x5F, 0xC1, 0x05}, 0x00))
	if s != swOK {
		t.Fatalf("certificate: SW %04X", s)
	}
	outer, _, ok := parseTLV(certObj)
	if !ok || outer.tag != 0x53 {
		t.Fatalf("certificate object %X", certObj[:8])
	}
	items, ok := parseTLVs(outer.value)
	if !ok || len(items) != 3 || items[0].tag != 0x70 || items[1].tag != 0x71 || items[2].tag != 0xFE {
		t.Fatalf("certificate object items %v", items)
	}
	cert, err := x509.ParseCertificate(items[0].value)
	if err != nil || !cert.Equal(f.Cert) {
		t.Fatalf("certificate in object: %v", err)
	}

	// OpenSC first reads 8 bytes to learn the length, then the rest.
	resp := c.Transmit(getDataAPDU([]byte{0x5F, 0xC1, 0x05}, 0x08))
	if len(resp) != 10 || resp[8] != 0x61 || !bytes.Equal(resp[:8], certObj[:8]) {
		t.Fatalf("8-byte read: %X", resp)
	}

	chuid, s := transmitAll(t, c, getDataAPDU([]byte{0x5F, 0xC1, 0x02}, 0x00))
	if s != swOK {
		t.Fatalf("CHUID: SW %04X", s)
	}
	outer, _, _ = parseTLV(chuid)
	items, ok = parseTLVs(outer.value)
	if !ok || len(items) != 5 || items[0].tag != 0x30 || len(items[0].value) != 25 || items[1].tag != 0x34 || len(items[1].value) != 16 {
		t.Fatalf("CHUID items %v", items)
	}
	if got, want := string(items[2].value), f.Cert.NotAfter.UTC().Format("20060102"); got != want {
		t.Errorf("CHUID expiry %q, want %q", got, want)
	}

	disc, s := transmitAll(t, c, getDataAPDU([]byte{0x7E}, 0x00))
	if s != swOK || !bytes.Equal(disc, discoveryObject()) || !bytes.Contains(disc, []byte{0x5F, 0x2F, 0x02, 0x40, 0x00}) {
		t.Fatalf("discovery %X SW %04X", disc, s)
	}

	for _, tag := range [][]byte{{0x5F, 0xC1, 0x07}, {0x5F, 0xC1, 0x0A}, {0x7F, 0x61}} {
		if _, s := transmitAll(t, c, getDataAPDU(tag, 0x00)); s != swNotFound {
			t.Errorf("GET DATA %X: SW %04X, want 6A82", tag, s)
		}
	}
	if s := sw(t, c.Transmit([]byte{0x00, 0xCB, 0x3F, 0x00, 0x03, 0x5C, 0x01, 0x7E, 0x00})); s != swIncorrectP1P2 {
		t.Errorf("bad P2: SW %04X", s)
	}
	if s := sw(t, c.Transmit([]byte{0x00, 0xCB, 0x3F, 0xFF, 0x03, 0x5D, 0x01, 0x7E, 0x00})); s != swWrongData {
		t.Errorf("bad tag list: SW %04X", s)
	}
}

func TestGetResponseWithoutPending(t *testing.T) {
	c, _ := newTestCard(t)
	if s := sw(t, c.Transmit([]byte{0x00, 0xC0, 0x00, 0x00, 0x00})); s != swConditionsNotMet {
		t.Fatalf("SW %04X, want 6985", s)
	}
	// Another command drops the rest of a long response.
	c.Transmit(getDataAPDU([]byte{0x5F, 0xC1, 0x05}, 0x08))
	c.Transmit(getDataAPDU([]byte{0x7E}, 0x00))
	if s := sw(t, c.Transmit([]byte{0x00, 0xC0, 0x00, 0x00, 0x00})); s != swConditionsNotMet {
		t.Fatalf("after another command: SW %04X, want 6985", s)
	}
}

func TestVerifyRetriesAndLockout(t *testing.T) {
	c, _ := newTestCard(t)
	status := []byte{0x00, 0x20, 0x00, 0x80}
	steps := []struct {
		name    string
		cmd     []byte
		want    uint16
		retries int
	}{
		{"status spends no try", status, 0x63C3, 3},
		{"wrong 1", verifyAPDU("9999"), 0x63C2, 2},
		{"status", status, 0x63C2, 2},
		{"right PIN resets the counter", verifyAPDU("1234"), swOK, 3},
		{"status verified", status, swOK, 3},
		{"logout", []byte{0x00, 0x20, 0xFF, 0x80}, swOK, 3},
		{"status after logout", status, 0x63C3, 3},
		{"unpadded PIN", []byte{0x00, 0x20, 0x00, 0x80, 0x04, '1', '2', '3', '4'}, swWrongData, 3},
		{"other key reference", []byte{0x00, 0x20, 0x00, 0x81, 0x08, '1', '2', '3', '4', 0xFF, 0xFF, 0xFF, 0xFF}, swIncorrectP1P2, 3},
		{"wrong 1 again", verifyAPDU("12345"), 0x63C2, 2},
		{"wrong 2", verifyAPDU("0000"), 0x63C1, 1},
		{"wrong 3 locks", verifyAPDU("1111"), swAuthBlocked, 0},
		{"status locked", status, swAuthBlocked, 0},
		{"right PIN when locked", verifyAPDU("1234"), swAuthBlocked, 0},
	}
	for _, st := range steps {
		if s := sw(t, c.Transmit(st.cmd)); s != st.want {
			t.Fatalf("%s: SW %04X, want %04X", st.name, s, st.want)
		}
		if got := c.RetriesLeft(); got != st.retries {
			t.Fatalf("%s: %d retries left, want %d", st.name, got, st.retries)
		}
	}
	if c.Verified() {
		t.Error("locked card reports the PIN verified")
	}
}

// gaAPDUs builds GENERAL AUTHENTICATE for block, chained in pieces of at
// most 255 bytes as OpenSC does.
func gaAPDUs(block []byte) [][]byte {
	var in []byte
	in = appendTLV(in, 0x82, nil)
	in = appendTLV(in, 0x81, block)
	data := appendTLV(nil, 0x7C, in)
	var out [][]byte
	for len(data) > 0 {
		n := min(len(data), 255)
		cla := byte(0x10)
		if n == len(data) {
			cla = 0x00
		}
		cmd := append([]byte{cla, 0x87, 0x07, 0x9A, byte(n)}, data[:n]...)
		if cla == 0 {
			cmd = append(cmd, 0x00)
		}
		out = append(out, cmd)
		data = data[n:]
	}
	return out
}

// generalAuthenticate sends block and returns the 82 value and the status.
func generalAuthenticate(t *testing.T, c *Card, block []byte) ([]byte, uint16) {
	t.Helper()
	cmds := gaAPDUs(block)
	for _, cmd := range cmds[:len(cmds)-1] {
		if s := sw(t, c.Transmit(cmd)); s != swOK {
			t.Fatalf("chained part: SW %04X", s)
		}
	}
	data, s := transmitAll(t, c, cmds[len(cmds)-1])
	if s != swOK {
		return nil, s
	}
	outer, _, ok := parseTLV(data)
	if !ok || outer.tag != 0x7C {
		t.Fatalf("reply %X", data)
	}
	inner, _, ok := parseTLV(outer.value)
	if !ok || inner.tag != 0x82 {
		t.Fatalf("reply %X", data)
	}
	return inner.value, s
}

func pkcs1Block(t testing.TB, k int, msg []byte) []byte {
	t.Helper()
	digest := sha256.Sum256(msg)
	prefix := []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}
	tail := append(prefix, digest[:]...)
	block := make([]byte, k)
	block[1] = 0x01
	for i := 2; i < k-len(tail)-1; i++ {
		block[i] = 0xFF
	}
	copy(block[k-len(tail):], tail)
	return block
}

func TestGeneralAuthenticate(t *testing.T) {
	c, f := newTestCard(t)
	msg := []byte("challenge from GAS")
	block := pkcs1Block(t, f.Key.Size(), msg)

	if _, s := generalAuthenticate(t, c, block); s != swSecurityNotSatisfied {
		t.Fatalf("without PIN: SW %04X, want 6982", s)
	}
	if s := sw(t, c.Transmit(verifyAPDU("1234"))); s != swOK {
		t.Fatalf("VERIFY: SW %04X", s)
	}
	sig, s := generalAuthenticate(t, c, block)
	if s != swOK {
		t.Fatalf("signature: SW %04X", s)
	}
	digest := sha256.Sum256(msg)
	if err := rsa.VerifyPKCS1v15(f.Cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}

	// A block without signature padding is raw RSA too (decipher).
	raw := bytes.Repeat([]byte{0x42}, f.Key.Size())
	got, s := generalAuthenticate(t, c, raw)
	if s != swOK {
		t.Fatalf("raw block: SW %04X", s)
	}
	want := new(big.Int).Exp(new(big.Int).SetBytes(raw), f.Key.D, f.Key.N)
	if new(big.Int).SetBytes(got).Cmp(want) != 0 {
		t.Fatal("raw RSA result is wrong")
	}
	if c.Signatures() != 2 {
		t.Errorf("Signatures() = %d, want 2", c.Signatures())
	}

	// Wrong inputs.
	if _, s := generalAuthenticate(t, c, bytes.Repeat([]byte{0xFF}, f.Key.Size())); s != swWrongData {
		t.Errorf("block above the modulus: SW %04X", s)
	}
	if _, s := generalAuthenticate(t, c, block[:100]); s != swWrongData {
		t.Errorf("short block: SW %04X", s)
	}
	if s := sw(t, c.Transmit([]byte{0x00, 0x87, 0x07, 0x9C, 0x04, 0x7C, 0x02, 0x82, 0x00, 0x00})); s != swIncorrectP1P2 {
		t.Errorf("slot 9C: SW %04X", s)
	}
	if s := sw(t, c.Transmit([]byte{0x00, 0x87, 0x11, 0x9A, 0x04, 0x7C, 0x02, 0x82, 0x00, 0x00})); s != swIncorrectP1P2 {
		t.Errorf("ECC algorithm: SW %04X", s)
	}

	// Power cycle ends the verified state.
	c.Reset()
	if _, s := generalAuthenticate(t, c, block); s != swSecurityNotSatisfied {
		t.Fatalf("after reset: SW %04X, want 6982", s)
	}
}

func TestChaining(t *testing.T) {
	c, _ := newTestCard(t)
	// A chain broken by another instruction is refused.
	if s := sw(t, c.Transmit([]byte{0x10, 0x87, 0x07, 0x9A, 0x02, 0x7C, 0x00})); s != swOK {
		t.Fatalf("first part: SW %04X", s)
	}
	if s := sw(t, c.Transmit([]byte{0x00, 0xCB, 0x3F, 0xFF, 0x03, 0x5C, 0x01, 0x7E, 0x00})); s != swLastCommandExpected {
		t.Fatalf("interleaved command: SW %04X, want 6883", s)
	}
	// The chain was dropped: the same command now works.
	if _, s := transmitAll(t, c, getDataAPDU([]byte{0x7E}, 0x00)); s != swOK {
		t.Fatalf("after broken chain: SW %04X", s)
	}
	// An endless chain is capped.
	part := append([]byte{0x10, 0x87, 0x07, 0x9A, 0xFF}, make([]byte, 255)...)
	var s uint16
	for i := 0; i < 20 && s != swWrongLength; i++ {
		s = sw(t, c.Transmit(part))
	}
	if s != swWrongLength {
		t.Fatalf("over-long chain: SW %04X, want 6700", s)
	}
}

func TestUnsupported(t *testing.T) {
	c, _ := newTestCard(t)
	for _, tt := range []struct {
		cmd  []byte
		want uint16
	}{
		{[]byte{0x00, 0xFD, 0x00, 0x00, 0x00}, swINSNotSupported}, // YubiKey GET VERSION
		{[]byte{0x00, 0x47, 0x00, 0x9A, 0x00}, swINSNotSupported}, // GENERATE ASYMMETRIC KEY PAIR
		{[]byte{0x80, 0xCB, 0x3F, 0xFF, 0x00}, swCLANotSupported},
		{[]byte{0x00, 0xA4}, swWrongLength},
		{[]byte{0x00, 0xA4, 0x04, 0x00, 0x09, 0x01}, swWrongLength},
	} {
		if s := sw(t, c.Transmit(tt.cmd)); s != tt.want {
			t.Errorf("%X: SW %04X, want %04X", tt.cmd, s, tt.want)
		}
	}
}
