//go:build cgo

package vcard_test

// Tests and benchmarks against the real card stack (make test): the virtual
// card in pcscd's vpcd reader, judged by independent tools (opensc-tool,
// pkcs11-tool with OpenSC's PKCS#11 module, openssl). They use reader
// "vcard" of the table in internal/stacktest.

import (
	"bytes"
	"context"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencis/cisauth/internal/stacktest"
	"github.com/opencis/cisauth/pcsc/vcard"
)

// stackUID is the user id of the cards these tests insert; no other
// package's tests use it, so a token label never matches theirs.
const stackUID = "555000000201"

// stackCard provisions a fresh card (full retries) with PIN 123456.
func stackCard(t testing.TB, cfg func(*vcard.CardConfig)) (*vcard.Card, *vcard.CardFile) {
	t.Helper()
	ca, key, err := vcard.NewTestCA("SubCA vcard stack test", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f, err := vcard.Provision(vcard.ProvisionConfig{UID: stackUID, Name: "Stack Test Dr", CACert: ca, CAKey: key, PIN: []byte("123456")})
	if err != nil {
		t.Fatal(err)
	}
	c := f.Config()
	if cfg != nil {
		cfg(&c)
	}
	card, err := vcard.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return card, f
}

// insertStackCard puts a fresh card into this package's reader until the
// test ends.
func insertStackCard(t *testing.T) (*stacktest.Stack, stacktest.Reader, *vcard.Card, *vcard.CardFile) {
	t.Helper()
	s := stacktest.Require(t)
	r := s.Readers(t, "vcard", 1)[0]
	card, f := stackCard(t, nil)
	stacktest.InsertCard(t, card, r.Index)
	return s, r, card, f
}

// tool runs an independent tool with a timeout and returns its combined
// output; ok is false when it exits non-zero.
func tool(t testing.TB, name string, args ...string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: timed out", name, strings.Join(args, " "))
	}
	return string(out), err == nil
}

func TestStackOpenSCToolNamesPIV(t *testing.T) {
	_, r, _, _ := insertStackCard(t)

	out, ok := tool(t, "opensc-tool", "-r", r.Name, "-n")
	if !ok || strings.TrimSpace(out) != "Personal Identity Verification Card" {
		t.Fatalf("opensc-tool -n: %q", out)
	}
	out, ok = tool(t, "opensc-tool", "-r", r.Name, "-a")
	if !ok || !strings.Contains(out, "3b:80:80:01:01") {
		t.Fatalf("opensc-tool -a: %q", out)
	}
}

func TestStackPKCS11ToolListsToken(t *testing.T) {
	s, r, _, _ := insertStackCard(t)

	out, ok := tool(t, "pkcs11-tool", "--module", s.OpenSCModule, "-L")
	if !ok {
		t.Fatalf("pkcs11-tool -L: %s", out)
	}
	slot := slotSection(out, r.Name)
	for _, want := range []string{"token label        : " + stackUID, "token manufacturer : piv_II", "login required", "PIN initialized"} {
		if !strings.Contains(slot, want) {
			t.Errorf("pkcs11-tool -L slot %q lacks %q:\n%s", r.Name, want, slot)
		}
	}
	out, ok = tool(t, "pkcs11-tool", "--module", s.OpenSCModule, "--slot-description", r.Name, "-O")
	if !ok || !strings.Contains(out, "Certificate Object") || !strings.Contains(out, "ID:         01") {
		t.Fatalf("pkcs11-tool -O: %s", out)
	}
}

// slotSection returns the lines of `pkcs11-tool -L` for the slot whose
// description is reader.
func slotSection(out, reader string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Slot ") {
			in = strings.HasSuffix(strings.TrimSpace(line), reader)
		}
		if in {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func TestStackPKCS11ToolSignVerifiesWithOpenSSL(t *testing.T) {
	s, r, card, f := insertStackCard(t)

	dir := t.TempDir()
	msg := filepath.Join(dir, "msg.txt")
	if err := os.WriteFile(msg, []byte("challenge from GAS\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	certPEM := filepath.Join(dir, "card.pem")
	if err := os.WriteFile(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(dir, "pub.pem")
	if out, ok := tool(t, "openssl", "x509", "-in", certPEM, "-pubkey", "-noout", "-out", pub); !ok {
		t.Fatalf("openssl x509: %s", out)
	}
	for _, tc := range []struct{ mech, digest string }{{"SHA256-RSA-PKCS", "-sha256"}, {"SHA1-RSA-PKCS", "-sha1"}} {
		t.Run(tc.mech, func(t *testing.T) {
			sig := filepath.Join(dir, tc.mech+".sig")
			out, ok := tool(t, "pkcs11-tool", "--module", s.OpenSCModule, "--slot-description", r.Name,
				"--login", "--pin", "123456", "--sign", "-m", tc.mech, "--id", "01", "-i", msg, "-o", sig)
			if !ok {
				t.Fatalf("pkcs11-tool --sign: %s", out)
			}
			out, ok = tool(t, "openssl", "dgst", tc.digest, "-verify", pub, "-signature", sig, msg)
			if !ok || !strings.Contains(out, "Verified OK") {
				t.Fatalf("openssl dgst -verify: %s", out)
			}
		})
	}
	if n := card.Signatures(); n != 2 {
		t.Errorf("card made %d signatures, want 2", n)
	}
}

func TestStackPKCS11ToolPINLockout(t *testing.T) {
	s, r, card, _ := insertStackCard(t)

	login := func(pin string) string {
		out, ok := tool(t, "pkcs11-tool", "--module", s.OpenSCModule, "--slot-description", r.Name,
			"--login", "--pin", pin, "-O")
		if ok {
			t.Fatalf("login with PIN %q succeeded: %s", pin, out)
		}
		return out
	}
	flags := func() string {
		out, _ := tool(t, "pkcs11-tool", "--module", s.OpenSCModule, "-L")
		return slotSection(out, r.Name)
	}
	steps := []struct {
		wantErr, wantFlag string
		retries           int
	}{
		{"CKR_PIN_INCORRECT", "", 2},
		{"CKR_PIN_INCORRECT", "final user PIN try", 1},
		{"CKR_PIN_LOCKED", "user PIN locked", 0},
	}
	for i, st := range steps {
		if out := login("999999"); !strings.Contains(out, st.wantErr) {
			t.Fatalf("wrong PIN #%d: want %s in\n%s", i+1, st.wantErr, out)
		}
		if got := card.RetriesLeft(); got != st.retries {
			t.Fatalf("after wrong PIN #%d the card has %d tries left, want %d", i+1, got, st.retries)
		}
		if f := flags(); st.wantFlag != "" && !strings.Contains(f, st.wantFlag) {
			t.Errorf("after wrong PIN #%d token flags lack %q:\n%s", i+1, st.wantFlag, f)
		}
	}
	if out := login("123456"); !strings.Contains(out, "CKR_PIN_LOCKED") {
		t.Fatalf("right PIN on a locked card: want CKR_PIN_LOCKED in\n%s", out)
	}
}

func TestStackReinsertKeepsRetryCounter(t *testing.T) {
	s := stacktest.Require(t)
	r := s.Readers(t, "vcard", 1)[0]
	card, _ := stackCard(t, nil)
	in := stacktest.InsertCard(t, card, r.Index)
	out, _ := tool(t, "pkcs11-tool", "--module", s.OpenSCModule, "--slot-description", r.Name, "--login", "--pin", "999999", "-O")
	if !strings.Contains(out, "CKR_PIN_INCORRECT") {
		t.Fatalf("wrong PIN: %s", out)
	}
	stacktest.Pull(t, in)
	out, _ = tool(t, "pkcs11-tool", "--module", s.OpenSCModule, "-L")
	if strings.Contains(slotSection(out, r.Name), stackUID) {
		t.Fatalf("token still listed after pull:\n%s", out)
	}
	stacktest.InsertCard(t, card, r.Index)
	if card.RetriesLeft() != 2 {
		t.Fatalf("re-inserted card has %d tries left, want 2", card.RetriesLeft())
	}
	out, ok := tool(t, "pkcs11-tool", "--module", s.OpenSCModule, "--slot-description", r.Name, "--login", "--pin", "123456", "-O")
	if !ok || !bytes.Contains([]byte(out), []byte("Private Key Object")) {
		t.Fatalf("login after re-insert: %s", out)
	}
	if card.RetriesLeft() != 3 {
		t.Errorf("right PIN did not reset the counter: %d", card.RetriesLeft())
	}
}
