package pcsc_test

// Real-stack tests: pcscd with the vpcd driver, virtual PIV cards
// (pcsc/vcard) through OpenSC's opensc-pkcs11.so, and a SoftHSM2 token.
// They use readers 0 and 1 of the table in internal/stacktest, skip without
// the stack outside `make test`, and fail without it under `make test`.

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"maps"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opencis/cisauth/internal/stacktest"
	"github.com/opencis/cisauth/pcsc"
	"github.com/opencis/cisauth/pcsc/vcard"
)

const (
	cardPIN  = "1234"
	uidAlice = "555000000001"
	uidBob   = "555000000002"
)

// eventWait bounds a wait for a Monitor event: pcscd polls every 400 ms.
const eventWait = stacktest.EventWait

// cardFiles holds one minted card per user id, shared by the tests (RSA-2048
// generation is slow); each test makes a fresh vcard.Card from it, so PIN
// counters start full.
var cardFiles = sync.OnceValues(func() (map[string]*vcard.CardFile, error) {
	ca, key, err := vcard.NewTestCA("SubCA pcsc test", 48*time.Hour)
	if err != nil {
		return nil, err
	}
	out := map[string]*vcard.CardFile{}
	for _, uid := range []string{uidAlice, uidBob} {
		cf, err := vcard.Provision(vcard.ProvisionConfig{
			UID: uid, Name: "Test " + uid, CACert: ca, CAKey: key, PIN: []byte(cardPIN), Retries: 3,
		})
		if err != nil {
			return nil, err
		}
		out[uid] = cf
	}
	return out, nil
})

func newCard(t testing.TB, uid string) *vcard.Card {
	t.Helper()
	files, err := cardFiles()
	if err != nil {
		t.Fatal(err)
	}
	c, err := vcard.New(files[uid].Config())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func openToken(t testing.TB, cfg pcsc.TokenConfig) *pcsc.Token {
	t.Helper()
	tk, err := pcsc.OpenToken(ctxFor(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tk.Close() })
	return tk
}

func login(t testing.TB, tk *pcsc.Token, pin string) crypto.Signer {
	t.Helper()
	ctx := ctxFor(t)
	if err := tk.Login(ctx, []byte(pin), pcsc.LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	s, err := tk.Signer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkSigns signs a challenge with SHA-1 and SHA-256 and verifies both
// signatures with the certificate's public key.
func checkSigns(t *testing.T, s crypto.Signer, cert *x509.Certificate) {
	t.Helper()
	pub := cert.PublicKey.(*rsa.PublicKey)
	if !pub.Equal(s.Public()) {
		t.Fatal("signer's public key is not the certificate's")
	}
	msg := []byte("48 bytes of GAS challenge, or anything else.....")
	d1 := sha1.Sum(msg)
	d256 := sha256.Sum256(msg)
	for h, d := range map[crypto.Hash][]byte{crypto.SHA1: d1[:], crypto.SHA256: d256[:]} {
		sig, err := s.Sign(rand.Reader, d, h)
		if err != nil {
			t.Fatalf("%v: %v", h, err)
		}
		if err := rsa.VerifyPKCS1v15(pub, h, d, sig); err != nil {
			t.Fatalf("%v signature does not verify with the certificate: %v", h, err)
		}
	}
}

func TestStackMonitorInsertPull(t *testing.T) {
	s := stacktest.Require(t)
	r := s.Readers(t, "pcsc", 1)[0]
	events := stacktest.StartMonitor(t, r.Name)
	stacktest.WaitEvent(t, events, pcsc.ReaderAdded, r.Name)

	card := newCard(t, uidAlice)
	in := stacktest.InsertCard(t, card, r.Index)
	ev := stacktest.WaitEvent(t, events, pcsc.CardInserted, r.Name)
	if string(ev.ATR) != string(card.ATR()) {
		t.Errorf("event ATR % X, card ATR % X", ev.ATR, card.ATR())
	}
	stacktest.Pull(t, in)
	stacktest.WaitEvent(t, events, pcsc.CardRemoved, r.Name)
}

func TestStackMonitorAllReadersAndInitialCard(t *testing.T) {
	s := stacktest.Require(t)
	r := s.Readers(t, "pcsc", 1)[0]
	stacktest.InsertCard(t, newCard(t, uidAlice), r.Index)
	// A monitor started with the card already in reports it.
	events := stacktest.StartMonitor(t)
	// pcscd lists readers in its own order (reader-config entries in
	// directory order), not in the stack's port order.
	pending := map[string]bool{}
	for _, rd := range s.All {
		pending[rd.Name] = true
	}
	timeout := time.After(eventWait)
	for len(pending) > 0 {
		select {
		case ev := <-events:
			if ev.Kind == pcsc.ReaderAdded {
				delete(pending, ev.Reader)
			}
		case <-timeout:
			t.Fatalf("no reader-added event for %v within %v", slices.Sorted(maps.Keys(pending)), eventWait)
		}
	}
	stacktest.WaitEvent(t, events, pcsc.CardInserted, r.Name)
	m, err := pcsc.NewMonitor(pcsc.MonitorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	names, err := m.Readers(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, rd := range s.All {
		if !slices.Contains(names, rd.Name) {
			t.Errorf("Readers = %q, missing %q", names, rd.Name)
		}
	}
}

func TestStackCardTransmitAndPull(t *testing.T) {
	s := stacktest.Require(t)
	r := s.Readers(t, "pcsc", 1)[0]
	in := stacktest.InsertCard(t, newCard(t, uidAlice), r.Index)
	ctx := ctxFor(t)
	c, err := pcsc.Connect(ctx, r.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	selectPIV := []byte{0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00}
	resp, err := c.Transmit(ctx, selectPIV)
	if err != nil || len(resp) < 2 || resp[len(resp)-2] != 0x90 {
		t.Fatalf("SELECT PIV = % X, %v", resp, err)
	}
	stacktest.Pull(t, in)
	if _, err := c.Transmit(ctx, selectPIV); !errors.Is(err, pcsc.ErrCardRemoved) {
		t.Fatalf("Transmit after pull = %v, want ErrCardRemoved", err)
	}
}

func TestStackOpenSCSignVerify(t *testing.T) {
	s := stacktest.Require(t)
	r := s.Readers(t, "pcsc", 1)[0]
	card := newCard(t, uidAlice)
	stacktest.InsertCard(t, card, r.Index)
	tk := openToken(t, pcsc.TokenConfig{Module: s.OpenSCModule, Reader: r.Name})
	ctx := ctxFor(t)

	// Certificates are public: the certificate and user id come before login.
	cert, err := tk.Certificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.Equal(card.Certificate()) {
		t.Fatal("token certificate is not the card's 9A certificate")
	}
	if uid, err := tk.UID(ctx); err != nil || uid != uidAlice {
		t.Fatalf("UID = %q, %v", uid, err)
	}
	if _, err := tk.Signer(ctx); !errors.Is(err, pcsc.ErrNotLoggedIn) {
		t.Fatalf("Signer before login = %v, want ErrNotLoggedIn", err)
	}
	pin := []byte(cardPIN)
	if err := tk.Login(ctx, pin, pcsc.LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	if string(pin) != "\x00\x00\x00\x00" {
		t.Error("Login did not clear the PIN")
	}
	signer, err := tk.Signer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := card.Signatures()
	checkSigns(t, signer, cert)
	if card.Signatures()-before != 2 {
		t.Errorf("the card made %d signatures, want 2", card.Signatures()-before)
	}
	if err := tk.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	// OpenSC's logout leaves a PIV card verified; PIVLogout ends that.
	if !card.Verified() {
		t.Log("OpenSC's C_Logout now ends the PIV verified state itself")
	}
	if err := pcsc.PIVLogout(ctx, r.Name); err != nil || card.Verified() {
		t.Fatalf("PIVLogout = %v, card verified %v", err, card.Verified())
	}
}

// aliceInReader inserts a fresh card for uidAlice (3 tries) in the first
// reader of this package and opens it through OpenSC.
func aliceInReader(t *testing.T) (*vcard.Card, *pcsc.Token) {
	t.Helper()
	s := stacktest.Require(t)
	r := s.Readers(t, "pcsc", 1)[0]
	card := newCard(t, uidAlice)
	stacktest.InsertCard(t, card, r.Index)
	return card, openToken(t, pcsc.TokenConfig{Module: s.OpenSCModule, Reader: r.Name})
}

func TestStackOpenSCPINLockout(t *testing.T) {
	card, tk := aliceInReader(t)
	ctx := ctxFor(t)
	// PKCS#11 does not count tries; the PIV card does, asked beside
	// OpenSC without spending one.
	retries := func(want int) {
		t.Helper()
		if n, err := pcsc.PIVPINRetries(ctx, tk.Reader()); n != want || err != nil {
			t.Fatalf("PIVPINRetries = %d, %v; want %d", n, err, want)
		}
	}
	retries(3)

	err := tk.Login(ctx, []byte("9999"), pcsc.LoginOptions{})
	if !errors.Is(err, pcsc.ErrPINIncorrect) || errors.Is(err, pcsc.ErrFinalTry) {
		t.Fatalf("wrong PIN #1 = %v", err)
	}
	retries(2)
	err = tk.Login(ctx, []byte("9999"), pcsc.LoginOptions{})
	var pe *pcsc.PINError
	if !errors.Is(err, pcsc.ErrPINIncorrect) || !errors.Is(err, pcsc.ErrFinalTry) || !errors.As(err, &pe) || pe.Retries != 1 {
		t.Fatalf("wrong PIN #2 = %v, want incorrect with the final try next", err)
	}
	// Login refuses to spend the final try on its own, even with the
	// right PIN; the card's counter proves nothing was sent.
	if err := tk.Login(ctx, []byte(cardPIN), pcsc.LoginOptions{}); !errors.Is(err, pcsc.ErrFinalTry) {
		t.Fatalf("login on the final try = %v, want ErrFinalTry", err)
	}
	if n := card.RetriesLeft(); n != 1 {
		t.Fatalf("card has %d tries left after the refused login, want 1", n)
	}
	retries(1)
	err = tk.Login(ctx, []byte("9999"), pcsc.LoginOptions{AllowFinalTry: true})
	if !errors.Is(err, pcsc.ErrPINLocked) || !errors.As(err, &pe) || !pe.Locked {
		t.Fatalf("wrong PIN on the confirmed final try = %v, want locked", err)
	}
	st, err := tk.PINStatus(ctx)
	if err != nil || !st.Locked || st.Retries != 0 {
		t.Fatalf("PINStatus = %+v, %v; want locked", st, err)
	}
	if err := tk.Login(ctx, []byte(cardPIN), pcsc.LoginOptions{AllowFinalTry: true}); !errors.Is(err, pcsc.ErrPINLocked) {
		t.Fatalf("right PIN on a locked card = %v, want ErrPINLocked", err)
	}
	if card.RetriesLeft() != 0 || card.Verified() {
		t.Fatal("locked card was verified")
	}
	retries(0)
}

// TestStackOpenSCLoginWhileLoggedIn: OpenSC answers C_Login on a logged-in
// token with CKR_USER_ALREADY_LOGGED_IN without sending the PIN to the card;
// Login must still have the card verify it. A wrong PIN is refused, costs
// a try on the card and leaves the token logged out; the right one logs in
// again.
func TestStackOpenSCLoginWhileLoggedIn(t *testing.T) {
	card, tk := aliceInReader(t)
	ctx := ctxFor(t)
	checkLoginWhileLoggedIn(t, tk, cardPIN, "9999")
	if n := card.RetriesLeft(); n != 3 {
		t.Errorf("card has %d tries left after the right PIN, want 3", n)
	}
	if err := tk.Login(ctx, []byte("9999"), pcsc.LoginOptions{}); !errors.Is(err, pcsc.ErrPINIncorrect) {
		t.Fatalf("wrong PIN while logged in = %v", err)
	}
	if n := card.RetriesLeft(); n != 2 {
		t.Errorf("card has %d tries left after a wrong PIN while logged in, want 2 (the card never saw it)", n)
	}
}

// checkLoginWhileLoggedIn logs tk in with right, then sends wrong while
// logged in (refused, and the token logged out), then right again (logged
// in, and signing works).
func checkLoginWhileLoggedIn(t *testing.T, tk *pcsc.Token, right, wrong string) {
	t.Helper()
	ctx := ctxFor(t)
	login(t, tk, right)
	err := tk.Login(ctx, []byte(wrong), pcsc.LoginOptions{})
	var pe *pcsc.PINError
	if !errors.As(err, &pe) || !errors.Is(err, pcsc.ErrPINIncorrect) {
		t.Fatalf("wrong PIN while logged in = %v, want a PINError matching ErrPINIncorrect", err)
	}
	d := sha256.Sum256([]byte("after a wrong PIN"))
	if signer, err := tk.Signer(ctx); err == nil {
		if _, err := signer.Sign(nil, d[:], crypto.SHA256); !errors.Is(err, pcsc.ErrNotLoggedIn) {
			t.Fatalf("signing after a wrong PIN = %v, want ErrNotLoggedIn", err)
		}
	} else if !errors.Is(err, pcsc.ErrNotLoggedIn) {
		t.Fatalf("Signer after a wrong PIN = %v, want ErrNotLoggedIn", err)
	}
	signer := login(t, tk, right)
	login(t, tk, right) // right PIN while logged in: still logged in
	if _, err := signer.Sign(nil, d[:], crypto.SHA256); err != nil {
		t.Fatalf("signing after the right PIN = %v", err)
	}
}

func TestStackOpenSCPullWhileSigning(t *testing.T) {
	s := stacktest.Require(t)
	r := s.Readers(t, "pcsc", 1)[0]
	card := newCard(t, uidAlice)
	in := stacktest.InsertCard(t, card, r.Index)
	tk := openToken(t, pcsc.TokenConfig{Module: s.OpenSCModule, Reader: r.Name})
	signer := login(t, tk, cardPIN)
	d := sha256.Sum256([]byte("loop"))

	errc := make(chan error, 1)
	tenSigned := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			if i == 10 {
				close(tenSigned)
			}
			if _, err := signer.Sign(nil, d[:], crypto.SHA256); err != nil {
				errc <- err
				return
			}
		}
	}()
	<-tenSigned
	stacktest.Pull(t, in)
	var err error
	select {
	case err = <-errc:
	case <-time.After(eventWait):
		t.Fatal("signing went on after the card was pulled")
	}
	if !errors.Is(err, pcsc.ErrCardRemoved) {
		t.Fatalf("first error after the pull = %v, want ErrCardRemoved", err)
	}
	if _, err := signer.Sign(nil, d[:], crypto.SHA256); !errors.Is(err, pcsc.ErrCardRemoved) {
		t.Fatalf("sign after the pull = %v, want ErrCardRemoved", err)
	}
	if err := tk.Close(); err != nil {
		t.Fatalf("Close after removal = %v", err)
	}
}

func TestStackOpenSCPulledWhileIdle(t *testing.T) {
	s := stacktest.Require(t)
	r := s.Readers(t, "pcsc", 1)[0]
	in := stacktest.InsertCard(t, newCard(t, uidAlice), r.Index)
	tk := openToken(t, pcsc.TokenConfig{Module: s.OpenSCModule, Reader: r.Name})
	signer := login(t, tk, cardPIN)
	stacktest.Pull(t, in)
	d := sha256.Sum256([]byte("idle"))
	if _, err := signer.Sign(nil, d[:], crypto.SHA256); !errors.Is(err, pcsc.ErrCardRemoved) {
		t.Fatalf("sign after an idle pull = %v, want ErrCardRemoved", err)
	}
}

func TestStackOpenSCNoCard(t *testing.T) {
	s := stacktest.Require(t)
	r := s.Readers(t, "pcsc", 1)[0]
	if err := pcsc.WaitCard(ctxFor(t), r.Name, false); err != nil {
		t.Fatal(err)
	}
	if _, err := pcsc.OpenToken(ctxFor(t), pcsc.TokenConfig{Module: s.OpenSCModule, Reader: r.Name}); !errors.Is(err, pcsc.ErrNoToken) {
		t.Fatalf("OpenToken on an empty reader = %v, want ErrNoToken", err)
	}
	if _, err := pcsc.OpenToken(ctxFor(t), pcsc.TokenConfig{Module: s.OpenSCModule, Reader: "No Such Reader"}); !errors.Is(err, pcsc.ErrNoReader) {
		t.Fatalf("OpenToken on an unknown reader = %v, want ErrNoReader", err)
	}
}

func TestStackTwoReaders(t *testing.T) {
	s := stacktest.Require(t)
	rs := s.Readers(t, "pcsc", 2)
	cards := map[string]*vcard.Card{uidAlice: newCard(t, uidAlice), uidBob: newCard(t, uidBob)}
	stacktest.InsertCard(t, cards[uidAlice], rs[0].Index)
	stacktest.InsertCard(t, cards[uidBob], rs[1].Index)
	ctx := ctxFor(t)

	var wg sync.WaitGroup
	for i, uid := range []string{uidAlice, uidBob} {
		tk := openToken(t, pcsc.TokenConfig{Module: s.OpenSCModule, Reader: rs[i].Name})
		if got, err := tk.UID(ctx); err != nil || got != uid {
			t.Fatalf("reader %q: UID = %q, %v; want %q", rs[i].Name, got, err, uid)
		}
		signer := login(t, tk, cardPIN)
		cert, err := tk.Certificate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for range 20 {
				d := sha256.Sum256([]byte(uid))
				sig, err := signer.Sign(nil, d[:], crypto.SHA256)
				if err == nil {
					err = rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, d[:], sig)
				}
				if err != nil {
					t.Errorf("%s: %v", uid, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for uid, c := range cards {
		if c.Signatures() != 20 {
			t.Errorf("card %s made %d signatures, want 20", uid, c.Signatures())
		}
	}
}

func softHSMCert(t testing.TB, s *stacktest.Stack) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(s.SoftHSMCert)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s holds no PEM", s.SoftHSMCert)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestStackSoftHSMSignVerify(t *testing.T) {
	s := stacktest.Require(t)
	tk := openToken(t, pcsc.TokenConfig{Module: s.SoftHSMModule, Label: s.SoftHSMLabel})
	ctx := ctxFor(t)
	want := softHSMCert(t, s)
	signer := login(t, tk, s.SoftHSMPIN)
	// The token also holds an unrelated pair (ID 02): the NHS-profile one wins.
	cert, err := tk.Certificate(ctx)
	if err != nil || !cert.Equal(want) {
		t.Fatalf("Certificate = %v, %v; want %v", cert.Subject, err, want.Subject)
	}
	checkSigns(t, signer, cert)
}

// TestStackSoftHSMLoginWhileLoggedIn: as for OpenSC, with SoftHSM2 (which
// also answers CKR_USER_ALREADY_LOGGED_IN without checking the PIN).
func TestStackSoftHSMLoginWhileLoggedIn(t *testing.T) {
	s := stacktest.Require(t)
	tk := openToken(t, pcsc.TokenConfig{Module: s.SoftHSMModule, Label: s.SoftHSMLabel})
	checkLoginWhileLoggedIn(t, tk, s.SoftHSMPIN, "000000")
}

func TestStackSoftHSMWrongPINNeverLocks(t *testing.T) {
	s := stacktest.Require(t)
	tk := openToken(t, pcsc.TokenConfig{Module: s.SoftHSMModule, Label: s.SoftHSMLabel})
	ctx := ctxFor(t)
	for i := range 4 {
		err := tk.Login(ctx, []byte("000000"), pcsc.LoginOptions{})
		var pe *pcsc.PINError
		if !errors.As(err, &pe) || !errors.Is(err, pcsc.ErrPINIncorrect) || !pe.CountLow || pe.FinalTry || pe.Locked {
			t.Fatalf("wrong PIN %d = %v, want incorrect with COUNT_LOW only", i+1, err)
		}
	}
	if err := tk.Login(ctx, []byte(s.SoftHSMPIN), pcsc.LoginOptions{}); err != nil {
		t.Fatalf("right PIN after wrong ones = %v (SoftHSM2 never locks)", err)
	}
	if st, err := tk.PINStatus(ctx); err != nil || st.CountLow {
		t.Fatalf("PINStatus after a good login = %+v, %v; want COUNT_LOW cleared", st, err)
	}
}
