package pcsc

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"sync"
	"testing"

	"github.com/miekg/pkcs11"
)

const testUID = "555000000001"

func openFake(t *testing.T, f *fakeP11, cfg TokenConfig) *Token {
	t.Helper()
	tk, err := openToken(f, cfg, func() ([]string, error) { return nil, errors.New("no pcscd in unit tests") })
	if err != nil {
		t.Fatal(err)
	}
	tk.removedCheck = func(context.Context, string) bool { return false }
	t.Cleanup(func() { tk.Close() })
	return tk
}

// loggedIn returns a token on a fake module holding specs (the PIV set
// when none), logged in with PIN 1234; setup may change the module first.
func loggedIn(t *testing.T, setup func(*fakeP11), specs ...objSpec) (*Token, *fakeP11) {
	t.Helper()
	f := newFakeP11("1234", 3, true)
	if setup != nil {
		setup(f)
	}
	if len(specs) == 0 {
		specs = pivObjects(testUID)
	}
	f.add(t, specs...)
	tk := openFake(t, f, TokenConfig{})
	if err := tk.Login(context.Background(), pinOf("1234"), LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	return tk, f
}

// loggedInSigner is loggedIn with the PIV set, plus the token's signer.
func loggedInSigner(t *testing.T) (crypto.Signer, *Token, *fakeP11) {
	t.Helper()
	tk, f := loggedIn(t, nil)
	s, err := tk.Signer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s, tk, f
}

func pinOf(s string) []byte { return []byte(s) }

func isZero(b []byte) bool { return bytes.Count(b, []byte{0}) == len(b) }

func TestLoginLockoutAndFinalTryRefusal(t *testing.T) {
	ctx := context.Background()
	f := newFakeP11("123456", 3, true)
	tk := openFake(t, f, TokenConfig{})

	pin := pinOf("000000")
	err := tk.Login(ctx, pin, LoginOptions{})
	var pe *PINError
	if !errors.As(err, &pe) || !errors.Is(err, ErrPINIncorrect) || errors.Is(err, ErrFinalTry) || errors.Is(err, ErrPINLocked) {
		t.Fatalf("wrong PIN #1 = %v", err)
	}
	if pe.Retries != -1 {
		t.Errorf("retries after #1 = %d, want -1 (unknown)", pe.Retries)
	}
	if !isZero(pin) {
		t.Error("PIN not cleared after a wrong try")
	}

	err = tk.Login(ctx, pinOf("000000"), LoginOptions{})
	if !errors.Is(err, ErrPINIncorrect) || !errors.Is(err, ErrFinalTry) || !errors.As(err, &pe) || pe.Retries != 1 {
		t.Fatalf("wrong PIN #2 = %v, want incorrect + final try with 1 retry", err)
	}

	// The final try is not spent without consent, even with the right PIN.
	calls := f.loginCalls
	pin = pinOf("123456")
	err = tk.Login(ctx, pin, LoginOptions{})
	if !errors.Is(err, ErrFinalTry) || errors.Is(err, ErrPINIncorrect) {
		t.Fatalf("login on final try = %v, want refusal with ErrFinalTry", err)
	}
	if f.loginCalls != calls {
		t.Fatal("Login sent the PIN on the final try without AllowFinalTry")
	}
	if !isZero(pin) {
		t.Error("PIN not cleared after a refusal")
	}
	st, err := tk.PINStatus(ctx)
	if err != nil || !st.FinalTry || st.Retries != 1 || st.Locked {
		t.Fatalf("PINStatus = %+v, %v", st, err)
	}

	err = tk.Login(ctx, pinOf("000000"), LoginOptions{AllowFinalTry: true})
	if !errors.Is(err, ErrPINLocked) || !errors.As(err, &pe) || !pe.Locked || pe.Retries != 0 || errors.Is(err, ErrFinalTry) {
		t.Fatalf("wrong PIN on the allowed final try = %v, want locked", err)
	}
	calls = f.loginCalls
	err = tk.Login(ctx, pinOf("123456"), LoginOptions{AllowFinalTry: true})
	if !errors.Is(err, ErrPINLocked) || f.loginCalls != calls {
		t.Fatalf("login on a locked PIN = %v (sent: %v), want ErrPINLocked without sending", err, f.loginCalls != calls)
	}
}

func TestLoginFinalTryAllowed(t *testing.T) {
	ctx := context.Background()
	f := newFakeP11("1234", 3, true)
	f.tries = 1
	tk := openFake(t, f, TokenConfig{})
	if err := tk.Login(ctx, pinOf("1234"), LoginOptions{AllowFinalTry: true}); err != nil {
		t.Fatalf("confirmed final try with the right PIN: %v", err)
	}
	st, _ := tk.PINStatus(ctx)
	if st.FinalTry || st.Retries != -1 {
		t.Errorf("status after a good PIN = %+v", st)
	}
	if err := tk.Login(ctx, pinOf("1234"), LoginOptions{}); err != nil {
		t.Fatalf("second login (already logged in) = %v", err)
	}
	if err := tk.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tk.Logout(ctx); err != nil {
		t.Fatalf("logout when logged out = %v", err)
	}
}

// TestLoginWhileLoggedInVerifiesPIN: a module answers C_Login with
// CKR_USER_ALREADY_LOGGED_IN without looking at the PIN; Login must still
// verify it (a caller may use it as "PIN checked", to unlock a session), and
// a wrong PIN leaves the token logged out. The same holds when another
// Token of the program logged the token in.
func TestLoginWhileLoggedInVerifiesPIN(t *testing.T) {
	ctx := context.Background()
	tk, f := loggedIn(t, nil)
	err := tk.Login(ctx, pinOf("9999"), LoginOptions{})
	var pe *PINError
	if !errors.As(err, &pe) || !errors.Is(err, ErrPINIncorrect) {
		t.Fatalf("wrong PIN while logged in = %v, want a PINError matching ErrPINIncorrect", err)
	}
	if f.tries != 2 {
		t.Errorf("card has %d tries left, want 2: the wrong PIN was not checked", f.tries)
	}
	if _, err := tk.Signer(ctx); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("Signer after a wrong PIN = %v, want ErrNotLoggedIn", err)
	}
	if err := tk.Login(ctx, pinOf("1234"), LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := tk.Login(ctx, pinOf("1234"), LoginOptions{}); err != nil {
		t.Fatalf("right PIN while logged in = %v", err)
	}
	if f.tries != 3 {
		t.Errorf("card has %d tries left after good PINs, want 3", f.tries)
	}
	// Logged in by another Token on the same module.
	other := openFake(t, f, TokenConfig{})
	if err := other.Login(ctx, pinOf("0000"), LoginOptions{}); !errors.Is(err, ErrPINIncorrect) {
		t.Fatalf("wrong PIN on a second Token while the first is logged in = %v", err)
	}
}

// TestSignerSurvivesLogin: SoftHSM2 gives private keys new handles at each
// login, so a Signer made before a Login that re-verifies the PIN (or a
// Logout and Login) would sign with a dead handle; it finds its key again.
func TestSignerSurvivesLogin(t *testing.T) {
	ctx := context.Background()
	tk, f := loggedIn(t, func(f *fakeP11) { f.lockout, f.tries, f.maxTries = false, 0, 0 })
	s, err := tk.Signer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("relogin"))
	for i, relogin := range []func() error{
		func() error { return tk.Login(ctx, pinOf("1234"), LoginOptions{}) },
		func() error {
			if err := tk.Logout(ctx); err != nil {
				return err
			}
			return tk.Login(ctx, pinOf("1234"), LoginOptions{})
		},
	} {
		if err := relogin(); err != nil {
			t.Fatal(err)
		}
		sig, err := s.Sign(nil, d[:], crypto.SHA256)
		if err == nil {
			err = rsa.VerifyPKCS1v15(s.Public().(*rsa.PublicKey), crypto.SHA256, d[:], sig)
		}
		if err != nil {
			t.Fatalf("sign after re-login %d: %v", i, err)
		}
	}
	if f.logins != 3 {
		t.Fatalf("%d logins, want 3", f.logins)
	}
}

func TestLoginSoftHSMStyleCountLow(t *testing.T) {
	ctx := context.Background()
	f := newFakeP11("123456", 0, false)
	tk := openFake(t, f, TokenConfig{})
	for i := range 5 {
		err := tk.Login(ctx, pinOf("bad"), LoginOptions{})
		var pe *PINError
		if !errors.As(err, &pe) || !pe.CountLow || pe.FinalTry || pe.Locked || pe.Retries != -1 {
			t.Fatalf("wrong PIN %d = %#v", i, err)
		}
	}
	if err := tk.Login(ctx, pinOf("123456"), LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := tk.PINStatus(ctx); st.CountLow {
		t.Error("COUNT_LOW still set after a good PIN")
	}
}

func TestLoginEmptyPIN(t *testing.T) {
	f := newFakeP11("1234", 3, true)
	tk := openFake(t, f, TokenConfig{})
	if err := tk.Login(context.Background(), nil, LoginOptions{}); !errors.Is(err, ErrPINInvalid) || f.loginCalls != 0 {
		t.Fatalf("empty PIN = %v, sent %d", err, f.loginCalls)
	}
}

func TestPINErrorText(t *testing.T) {
	for _, c := range []struct {
		e    PINError
		want string
	}{
		{PINError{Retries: -1, Err: ErrPINIncorrect}, "pcsc: PIN incorrect"},
		{PINError{Retries: -1, CountLow: true, Err: ErrPINIncorrect}, "pcsc: PIN incorrect (few tries left)"},
		{PINError{Retries: 1, FinalTry: true, Err: ErrFinalTry}, "pcsc: final PIN try (a wrong PIN locks the card)"},
		{PINError{Retries: 1, FinalTry: true, Err: ErrPINIncorrect}, "pcsc: PIN incorrect (one try left: a wrong PIN locks the card)"},
		{PINError{Retries: 0, Locked: true, Err: ErrPINLocked}, "pcsc: PIN locked"},
		{PINError{Retries: 0, Locked: true, Err: ErrPINIncorrect}, "pcsc: PIN incorrect (the PIN is now locked)"},
		{PINError{Retries: 2, Err: ErrPINIncorrect}, "pcsc: PIN incorrect (2 tries left)"},
	} {
		if got := c.e.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
	}
}

func TestKeySelectionPIV(t *testing.T) {
	ctx := context.Background()
	f := newFakeP11("1234", 3, true)
	f.add(t, pivObjects(testUID)...)
	tk := openFake(t, f, TokenConfig{Reader: "Virtual PCD 00 00"})

	// Before login the keys are hidden: the certificate comes from the
	// certificates alone, the signer needs login.
	cert, err := tk.Certificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.PublicKey.(*rsa.PublicKey).Equal(&testKeys()[0].PublicKey) {
		t.Fatal("certificate before login is not the 9A one")
	}
	if _, err := tk.Signer(ctx); !errors.Is(err, ErrNoKey) || !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("Signer before login = %v, want ErrNoKey + ErrNotLoggedIn", err)
	}
	if uid, err := tk.UID(ctx); err != nil || uid != testUID {
		t.Fatalf("UID = %q, %v", uid, err)
	}

	if err := tk.Login(ctx, pinOf("1234"), LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	s, err := tk.Signer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Public().(*rsa.PublicKey).Equal(&testKeys()[0].PublicKey) {
		t.Fatal("signer is not the 9A PIV AUTH key")
	}
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		d := digest(h, "challenge")
		sig, err := s.Sign(nil, d, h)
		if err != nil {
			t.Fatalf("%v: %v", h, err)
		}
		if err := rsa.VerifyPKCS1v15(s.Public().(*rsa.PublicKey), h, d, sig); err != nil {
			t.Fatalf("%v signature does not verify: %v", h, err)
		}
	}
	// HashFunc 0: raw PKCS#1 v1.5 over the given bytes.
	raw := []byte("already a DigestInfo")
	sig, err := s.Sign(nil, raw, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(s.Public().(*rsa.PublicKey), 0, raw, sig); err != nil {
		t.Fatalf("raw signature does not verify: %v", err)
	}
}

func digest(h crypto.Hash, msg string) []byte {
	switch h {
	case crypto.SHA1:
		d := sha1.Sum([]byte(msg))
		return d[:]
	default:
		d := sha256.Sum256([]byte(msg))
		return d[:]
	}
}

func TestKeySelectionRules(t *testing.T) {
	ds := x509.KeyUsageDigitalSignature
	cases := []struct {
		name  string
		specs []objSpec
		want  int // index of the expected key in testKeys, -1 for ErrNoKey
	}{
		{"uid CN beats lower id", []objSpec{
			{id: 1, cn: "Someone", usage: ds, sign: true, keyIndex: 1, certKey: -1},
			{id: 9, cn: testUID, usage: ds, sign: true, keyIndex: 2, certKey: -1},
		}, 2},
		{"digitalSignature beats keyEncipherment", []objSpec{
			{id: 1, cn: testUID, usage: x509.KeyUsageKeyEncipherment, decrypt: true, keyIndex: 1, certKey: -1},
			{id: 2, cn: testUID, usage: ds, decrypt: true, keyIndex: 3, certKey: -1},
		}, 3},
		{"decrypt-only key is usable", []objSpec{
			{id: 5, cn: testUID, usage: ds, decrypt: true, keyIndex: 4, certKey: -1},
		}, 4},
		{"key that neither signs nor decrypts is skipped", []objSpec{
			{id: 1, cn: testUID, usage: ds, keyIndex: 1, certKey: -1},
			{id: 2, cn: "Other", usage: ds, sign: true, keyIndex: 2, certKey: -1},
		}, 2},
		{"key without certificate and certificate without key are skipped", []objSpec{
			{id: 1, cn: testUID, usage: ds, sign: true, noCert: true, keyIndex: 1, certKey: -1},
			{id: 2, cn: testUID, usage: ds, sign: true, noKey: true, keyIndex: 2, certKey: -1},
			{id: 3, cn: "Fallback", usage: ds, sign: true, keyIndex: 3, certKey: -1},
		}, 3},
		{"certificate with another key's modulus is skipped", []objSpec{
			{id: 1, cn: testUID, usage: ds, sign: true, keyIndex: 1, certKey: 2},
			{id: 2, cn: "Right", usage: ds, sign: true, keyIndex: 4, certKey: -1},
		}, 4},
		{"nothing usable", []objSpec{
			{id: 1, cn: testUID, usage: ds, sign: true, noKey: true, keyIndex: 1, certKey: -1},
		}, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			tk, _ := loggedIn(t, nil, c.specs...)
			s, err := tk.Signer(ctx)
			if c.want < 0 {
				if !errors.Is(err, ErrNoKey) {
					t.Fatalf("Signer = %v, want ErrNoKey", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !s.Public().(*rsa.PublicKey).Equal(&testKeys()[c.want].PublicKey) {
				t.Fatal("wrong key selected")
			}
			cert, err := tk.Certificate(ctx)
			if err != nil || !cert.PublicKey.(*rsa.PublicKey).Equal(s.Public()) {
				t.Fatalf("Certificate does not match the signer: %v", err)
			}
		})
	}
}

func TestUIDRequiresTwelveDigits(t *testing.T) {
	f := newFakeP11("1234", 3, true)
	f.add(t, objSpec{id: 1, cn: "55500000000X", usage: x509.KeyUsageDigitalSignature, sign: true, certKey: -1})
	tk := openFake(t, f, TokenConfig{})
	if _, err := tk.UID(context.Background()); !errors.Is(err, ErrNoUID) {
		t.Fatalf("UID = %v, want ErrNoUID", err)
	}
}

func TestSignerInputChecks(t *testing.T) {
	ctx := context.Background()
	s, tk, _ := loggedInSigner(t)
	if _, err := s.Sign(nil, make([]byte, 20), crypto.SHA256); err == nil {
		t.Error("a 20-byte digest was accepted as SHA-256")
	}
	if _, err := s.Sign(nil, make([]byte, 32), &rsa.PSSOptions{Hash: crypto.SHA256}); !errors.Is(err, ErrMechanism) {
		t.Errorf("PSS = %v, want ErrMechanism", err)
	}
	if _, err := s.Sign(nil, make([]byte, 16), crypto.MD5); !errors.Is(err, ErrMechanism) {
		t.Errorf("MD5 = %v, want ErrMechanism", err)
	}
	if _, err := s.Sign(nil, make([]byte, 300), crypto.Hash(0)); err == nil {
		t.Error("raw input longer than the modulus was accepted")
	}
	if err := tk.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sign(nil, make([]byte, 32), crypto.SHA256); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("sign after logout = %v, want ErrNotLoggedIn", err)
	}
}

func TestSignerNeedsRSAPKCS(t *testing.T) {
	tk, _ := loggedIn(t, func(f *fakeP11) { f.mechs = []uint{pkcs11.CKM_SHA256_RSA_PKCS} })
	if _, err := tk.Signer(context.Background()); !errors.Is(err, ErrMechanism) {
		t.Fatalf("Signer without CKM_RSA_PKCS = %v, want ErrMechanism", err)
	}
}

func TestConcurrentSigning(t *testing.T) {
	ctx := context.Background()
	s, tk, f := loggedInSigner(t)
	d := digest(crypto.SHA256, "x")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 8 {
		wg.Go(func() {
			for range 8 {
				if _, err := s.Sign(nil, d, crypto.SHA256); err != nil {
					errs <- err
				}
				if _, err := tk.PINStatus(ctx); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if f.overlapped.Load() {
		t.Error("two operations reached the module at the same time")
	}
}

func TestCardRemovalMapping(t *testing.T) {
	ctx := context.Background()
	s, tk, f := loggedInSigner(t)
	d := digest(crypto.SHA256, "x")

	// A general error while the reader still shows the card is not a removal.
	f.signErr = pkcs11.Error(pkcs11.CKR_GENERAL_ERROR)
	if _, err := s.Sign(nil, d, crypto.SHA256); err == nil || errors.Is(err, ErrCardRemoved) {
		t.Fatalf("general error with the card present = %v", err)
	}
	// The same error when pcscd shows the card gone is.
	var asked string
	tk.removedCheck = func(_ context.Context, reader string) bool { asked = reader; return true }
	f.signErr = pkcs11.Error(pkcs11.CKR_GENERAL_ERROR)
	if _, err := s.Sign(nil, d, crypto.SHA256); !errors.Is(err, ErrCardRemoved) {
		t.Fatalf("general error with the card gone = %v, want ErrCardRemoved", err)
	}
	if asked != "Virtual PCD 00 00" {
		t.Errorf("removal check asked about %q", asked)
	}
	// From then on the token refuses without touching the module.
	f.signErr = nil
	if _, err := s.Sign(nil, d, crypto.SHA256); !errors.Is(err, ErrCardRemoved) {
		t.Fatalf("sign after removal = %v", err)
	}
	if _, err := tk.PINStatus(ctx); !errors.Is(err, ErrCardRemoved) {
		t.Fatalf("PINStatus after removal = %v", err)
	}
	if err := tk.Close(); err != nil {
		t.Fatalf("Close after removal = %v", err)
	}
}

func TestTokenGoneFromModule(t *testing.T) {
	ctx := context.Background()
	f := newFakeP11("1234", 3, true)
	tk := openFake(t, f, TokenConfig{})
	f.removed = true
	if _, err := tk.PINStatus(ctx); !errors.Is(err, ErrCardRemoved) {
		t.Fatalf("PINStatus = %v, want ErrCardRemoved", err)
	}
}

func TestP11ErrorMapping(t *testing.T) {
	for rv, want := range map[uint]error{
		pkcs11.CKR_TOKEN_NOT_PRESENT:      ErrCardRemoved,
		pkcs11.CKR_DEVICE_REMOVED:         ErrCardRemoved,
		pkcs11.CKR_SESSION_HANDLE_INVALID: ErrCardRemoved,
		pkcs11.CKR_SESSION_CLOSED:         ErrCardRemoved,
		pkcs11.CKR_USER_NOT_LOGGED_IN:     ErrNotLoggedIn,
		pkcs11.CKR_PIN_INCORRECT:          ErrPINIncorrect,
		pkcs11.CKR_PIN_LOCKED:             ErrPINLocked,
		pkcs11.CKR_PIN_LEN_RANGE:          ErrPINInvalid,
		pkcs11.CKR_MECHANISM_INVALID:      ErrMechanism,
	} {
		err := p11Error("op", pkcs11.Error(rv))
		if !errors.Is(err, want) || !errors.Is(err, pkcs11.Error(rv)) {
			t.Errorf("0x%X → %v, want %v with the cause kept", rv, err, want)
		}
	}
	if err := p11Error("op", pkcs11.Error(pkcs11.CKR_GENERAL_ERROR)); errors.Is(err, ErrCardRemoved) {
		t.Error("CKR_GENERAL_ERROR alone mapped to removal")
	}
	if p11Error("op", nil) != nil {
		t.Error("nil error mapped to non-nil")
	}
}

func TestFindSlot(t *testing.T) {
	f := newFakeP11("1", 3, true)
	f.slots = []fakeP11Slot{
		{id: 1, desc: "SoftHSM slot ID 0x1", label: "", present: true, initialized: false},
		{id: 2, desc: "SoftHSM slot ID 0x2", label: "ci", present: true, initialized: true},
		{id: 3, desc: "Virtual PCD 00 00", present: false},
		{id: 4, desc: "Virtual PCD 00 01", label: "PIV Test User", present: true, initialized: true},
	}
	for _, c := range []struct {
		reader, label string
		want          uint
		err           error
	}{
		{"", "", 2, nil}, // the uninitialised slot is skipped
		{"", "ci", 2, nil},
		{"Virtual PCD 00 01", "", 4, nil},
		{"", "PIV Test User", 4, nil},
		{"Virtual PCD 00 00", "", 0, ErrNoToken},
		{"No Such Reader", "", 0, ErrNoReader},
		{"", "nope", 0, ErrNoToken},
	} {
		slot, _, _, err := findSlot(f, c.reader, c.label, nil)
		if !errors.Is(err, c.err) || (err == nil && slot != c.want) {
			t.Errorf("findSlot(%q, %q) = %d, %v; want %d, %v", c.reader, c.label, slot, err, c.want, c.err)
		}
	}
}

// longReader is a real-world reader name longer than a PKCS#11 slot
// description (64 bytes), with the two slots pcscd gives a dual-slot device.
const longReader = "Identiv uTrust 4701 F Dual Interface Reader [uTrust 4701 F Contact Reader] (53691324212792)"

// TestFindSlotLongReaderNames: OpenSC keeps 64 bytes of a reader name as
// the slot description (0.23: 61 and "..."); a reader is matched by that,
// and readers sharing it are told apart by pcscd's order (OpenSC gives
// each the same number of slots, in that order).
func TestFindSlotLongReaderNames(t *testing.T) {
	r0, r1 := longReader+" 00 00", longReader+" 00 01"
	for form, desc := range map[string]string{"64 bytes": r0[:slotDescLen], "61 bytes and ...": r0[:slotDescLen-3] + "..."} {
		t.Run(form, func(t *testing.T) { testFindSlotTwins(t, r0, r1, desc) })
	}
}

func testFindSlotTwins(t *testing.T, r0, r1, desc string) {
	f := newFakeP11("1", 3, true)
	// Four slots per reader, as OpenSC makes them: the first holds the card.
	f.slots = []fakeP11Slot{
		{id: 0, desc: "Virtual PCD 00 00", label: "other", present: true, initialized: true},
		{id: 4, desc: desc, label: "Card in 00 00", present: true, initialized: true},
		{id: 5, desc: desc}, {id: 6, desc: desc}, {id: 7, desc: desc},
		{id: 8, desc: desc, label: "Card in 00 01", present: true, initialized: true},
		{id: 9, desc: desc}, {id: 10, desc: desc}, {id: 11, desc: desc},
	}
	both := func() ([]string, error) { return []string{"Virtual PCD 00 00", r0, r1}, nil }
	for _, c := range []struct {
		name    string
		reader  string
		readers func() ([]string, error)
		want    uint
		err     error
	}{
		{"first of two twins", r0, both, 4, nil},
		{"second of two twins", r1, both, 8, nil},
		{"a lone long name matches by prefix", r1, func() ([]string, error) { return []string{r1}, nil }, 4, nil},
		{"pcscd lists no such reader", r0 + "x", both, 0, ErrNoReader},
		{"pcscd does not list it", r0, func() ([]string, error) { return []string{r1}, nil }, 0, ErrNoReader},
		{"slots not a multiple of the twins", r0, func() ([]string, error) { return []string{r0, r1, r1 + " "}, nil }, 0, ErrNoReader},
		{"no reader list: refuse, do not guess", r0, func() ([]string, error) { return nil, ErrNoService }, 0, ErrNoService},
	} {
		t.Run(c.name, func(t *testing.T) {
			slot, gotDesc, _, err := findSlot(f, c.reader, "", c.readers)
			if !errors.Is(err, c.err) || (err == nil && (slot != c.want || gotDesc != desc)) {
				t.Errorf("findSlot = %d %q, %v; want %d, %v", slot, gotDesc, err, c.want, c.err)
			}
		})
	}
	if _, _, _, err := findSlot(f, "Virtual PCD D", "", both); !errors.Is(err, ErrNoReader) {
		t.Errorf("a short name that begins the description: %v", err)
	}

	// The second twin without a card: its own slots are empty, and the
	// first twin's card is not offered instead.
	f.slots[5] = fakeP11Slot{id: 8, desc: desc}
	if _, _, _, err := findSlot(f, r1, "", both); !errors.Is(err, ErrNoToken) {
		t.Errorf("empty second twin: %v, want ErrNoToken", err)
	}

	// The token remembers the whole reader name (for the removal check),
	// not the truncated description.
	tk, err := openToken(f, TokenConfig{Reader: r0}, both)
	if err != nil {
		t.Fatal(err)
	}
	defer tk.Close()
	if tk.Reader() != r0 {
		t.Errorf("Reader() = %q, want the PC/SC name %q", tk.Reader(), r0)
	}
}

func TestTokenClosed(t *testing.T) {
	f := newFakeP11("1", 3, true)
	tk := openFake(t, f, TokenConfig{})
	if err := tk.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tk.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := tk.PINStatus(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("PINStatus after Close = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tk2 := openFake(t, f, TokenConfig{})
	if err := tk2.Login(ctx, pinOf("1"), LoginOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Login with a done ctx = %v", err)
	}
}

func TestOpenTokenModuleErrors(t *testing.T) {
	ctx := context.Background()
	for _, path := range []string{"", "relative/module.so", "/nonexistent/module.so"} {
		if _, err := OpenToken(ctx, TokenConfig{Module: path}); !errors.Is(err, ErrModule) {
			t.Errorf("OpenToken(%q) = %v, want ErrModule", path, err)
		}
	}
	// A file that exists but is no shared library: dlopen fails.
	if _, err := OpenToken(ctx, TokenConfig{Module: "/etc/hostname"}); !errors.Is(err, ErrModule) {
		t.Errorf("OpenToken(/etc/hostname) = %v, want ErrModule", err)
	}
}

func TestLostLoginWithCardGoneIsRemoval(t *testing.T) {
	s, tk, f := loggedInSigner(t)
	d := digest(crypto.SHA256, "x")
	f.signErr = pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN)
	if _, err := s.Sign(nil, d, crypto.SHA256); !errors.Is(err, ErrNotLoggedIn) || errors.Is(err, ErrCardRemoved) {
		t.Fatalf("lost login with the card present = %v, want ErrNotLoggedIn", err)
	}
	tk.removedCheck = func(context.Context, string) bool { return true }
	f.signErr = pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN)
	if _, err := s.Sign(nil, d, crypto.SHA256); !errors.Is(err, ErrCardRemoved) {
		t.Fatalf("lost login with the card gone = %v, want ErrCardRemoved", err)
	}
}
