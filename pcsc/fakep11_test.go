package pcsc

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
)

// fakeP11 is an in-memory PKCS#11 module with one or more slots, behaving
// like the tokens this package meets: private keys hidden until login, PIN
// flags like OpenSC's PIV driver (lockout: no COUNT_LOW, FINAL_TRY with one
// try left, then LOCKED) or like SoftHSM2 (COUNT_LOW, never locks).
type fakeP11 struct {
	mu       sync.Mutex
	slots    []fakeP11Slot
	objs     []*fakeObj
	pin      string
	maxTries int
	tries    int
	lockout  bool
	countLow bool
	loggedIn bool
	// logins counts good logins; with SoftHSM2-style flags (no lockout) the
	// handles of private objects change at each, as SoftHSM2's do, so a
	// handle found before a login is invalid after it.
	logins   int
	removed  bool
	mechs    []uint
	sessions map[pkcs11.SessionHandle]bool
	next     pkcs11.SessionHandle
	found    []pkcs11.ObjectHandle
	finding  bool
	signKey  *fakeObj
	// signErr, when set, is returned by the next Sign.
	signErr    error
	loginCalls int
	active     atomic.Int32 // operations in flight, to catch interleaving
	overlapped atomic.Bool
}

type fakeP11Slot struct {
	id          uint
	desc, label string
	present     bool
	initialized bool
}

type fakeObj struct {
	class uint
	attrs map[uint][]byte
	key   *rsa.PrivateKey
}

func newFakeP11(pin string, tries int, lockout bool) *fakeP11 {
	return &fakeP11{
		slots:    []fakeP11Slot{{id: 7, desc: "Virtual PCD 00 00", label: "PIV Test User", present: true, initialized: true}},
		pin:      pin,
		maxTries: tries, tries: tries, lockout: lockout,
		mechs:    []uint{pkcs11.CKM_RSA_PKCS, pkcs11.CKM_SHA256_RSA_PKCS},
		sessions: map[pkcs11.SessionHandle]bool{},
		next:     1,
	}
}

func (f *fakeP11) enter() func() {
	if f.active.Add(1) > 1 {
		f.overlapped.Store(true)
	}
	return func() { f.active.Add(-1) }
}

func (f *fakeP11) flags() uint {
	fl := uint(pkcs11.CKF_TOKEN_INITIALIZED | pkcs11.CKF_USER_PIN_INITIALIZED | pkcs11.CKF_LOGIN_REQUIRED)
	if f.lockout {
		switch {
		case f.tries == 0:
			fl |= pkcs11.CKF_USER_PIN_LOCKED
		case f.tries == 1:
			fl |= pkcs11.CKF_USER_PIN_FINAL_TRY
		}
	} else if f.countLow {
		fl |= pkcs11.CKF_USER_PIN_COUNT_LOW
	}
	return fl
}

func (f *fakeP11) gone() error {
	if f.removed {
		return pkcs11.Error(pkcs11.CKR_TOKEN_NOT_PRESENT)
	}
	return nil
}

func (f *fakeP11) session(sh pkcs11.SessionHandle) error {
	if f.removed || !f.sessions[sh] {
		return pkcs11.Error(pkcs11.CKR_SESSION_HANDLE_INVALID)
	}
	return nil
}

func (f *fakeP11) GetSlotList(tokenPresent bool) ([]uint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []uint
	for _, s := range f.slots {
		if !tokenPresent || s.present {
			ids = append(ids, s.id)
		}
	}
	return ids, nil
}

func (f *fakeP11) slot(id uint) (fakeP11Slot, error) {
	for _, s := range f.slots {
		if s.id == id {
			return s, nil
		}
	}
	return fakeP11Slot{}, pkcs11.Error(pkcs11.CKR_SLOT_ID_INVALID)
}

func (f *fakeP11) GetSlotInfo(id uint) (pkcs11.SlotInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.slot(id)
	if err != nil {
		return pkcs11.SlotInfo{}, err
	}
	si := pkcs11.SlotInfo{SlotDescription: s.desc + "   "}
	if s.present && !f.removed {
		si.Flags |= pkcs11.CKF_TOKEN_PRESENT
	}
	return si, nil
}

func (f *fakeP11) GetTokenInfo(id uint) (pkcs11.TokenInfo, error) {
	defer f.enter()()
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.slot(id)
	if err != nil {
		return pkcs11.TokenInfo{}, err
	}
	if err := f.gone(); err != nil || !s.present {
		return pkcs11.TokenInfo{}, pkcs11.Error(pkcs11.CKR_TOKEN_NOT_PRESENT)
	}
	ti := pkcs11.TokenInfo{Label: s.label + "  "}
	if s.initialized {
		ti.Flags = f.flags()
	}
	return ti, nil
}

func (f *fakeP11) GetMechanismList(uint) ([]*pkcs11.Mechanism, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ms []*pkcs11.Mechanism
	for _, m := range f.mechs {
		ms = append(ms, pkcs11.NewMechanism(m, nil))
	}
	return ms, f.gone()
}

func (f *fakeP11) OpenSession(uint, uint) (pkcs11.SessionHandle, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.gone(); err != nil {
		return 0, err
	}
	sh := f.next
	f.next++
	f.sessions[sh] = true
	return sh, nil
}

func (f *fakeP11) CloseSession(sh pkcs11.SessionHandle) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.session(sh); err != nil {
		return err
	}
	delete(f.sessions, sh)
	return nil
}

func (f *fakeP11) Login(sh pkcs11.SessionHandle, userType uint, pin string) error {
	defer f.enter()()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loginCalls++
	if err := f.session(sh); err != nil {
		return err
	}
	switch {
	case f.loggedIn:
		return pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)
	case f.lockout && f.tries == 0:
		return pkcs11.Error(pkcs11.CKR_PIN_LOCKED)
	case pin != f.pin:
		f.countLow = true
		if f.lockout {
			f.tries--
			if f.tries == 0 {
				return pkcs11.Error(pkcs11.CKR_PIN_LOCKED)
			}
		}
		return pkcs11.Error(pkcs11.CKR_PIN_INCORRECT)
	}
	f.tries, f.countLow, f.loggedIn = f.maxTries, false, true
	f.logins++
	return nil
}

func (f *fakeP11) Logout(sh pkcs11.SessionHandle) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.session(sh); err != nil {
		return err
	}
	if !f.loggedIn {
		return pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN)
	}
	f.loggedIn = false
	return nil
}

func (f *fakeP11) visible(o *fakeObj) bool {
	return f.loggedIn || o.class != pkcs11.CKO_PRIVATE_KEY || !boolAttr(o.attrs[pkcs11.CKA_PRIVATE])
}

// renewsHandles reports whether o's handle changes at each login.
func (f *fakeP11) renewsHandles(o *fakeObj) bool {
	return !f.lockout && o.class == pkcs11.CKO_PRIVATE_KEY
}

// handle is the handle of f.objs[i] now.
func (f *fakeP11) handle(i int) pkcs11.ObjectHandle {
	if f.renewsHandles(f.objs[i]) {
		return pkcs11.ObjectHandle(i + 1 + 1000*f.logins)
	}
	return pkcs11.ObjectHandle(i + 1)
}

// obj returns the object of handle h, if it is valid now.
func (f *fakeP11) obj(h pkcs11.ObjectHandle) (*fakeObj, error) {
	i := int(h)%1000 - 1
	if i < 0 || i >= len(f.objs) || f.handle(i) != h {
		return nil, pkcs11.Error(pkcs11.CKR_OBJECT_HANDLE_INVALID)
	}
	return f.objs[i], nil
}

func (f *fakeP11) FindObjectsInit(sh pkcs11.SessionHandle, tmpl []*pkcs11.Attribute) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.session(sh); err != nil {
		return err
	}
	if f.finding {
		return pkcs11.Error(pkcs11.CKR_OPERATION_ACTIVE)
	}
	f.finding, f.found = true, nil
	for i, o := range f.objs {
		match := f.visible(o)
		for _, a := range tmpl {
			if a.Type == pkcs11.CKA_CLASS {
				match = match && slices.Equal(a.Value, pkcs11.NewAttribute(pkcs11.CKA_CLASS, o.class).Value)
			} else {
				match = match && slices.Equal(a.Value, o.attrs[a.Type])
			}
		}
		if match {
			f.found = append(f.found, f.handle(i))
		}
	}
	return nil
}

func (f *fakeP11) FindObjects(sh pkcs11.SessionHandle, max int) ([]pkcs11.ObjectHandle, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.session(sh); err != nil {
		return nil, false, err
	}
	n := min(max, len(f.found))
	out := f.found[:n]
	f.found = f.found[n:]
	return out, false, nil
}

func (f *fakeP11) FindObjectsFinal(sh pkcs11.SessionHandle) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finding = false
	return f.session(sh)
}

func (f *fakeP11) GetAttributeValue(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle, tmpl []*pkcs11.Attribute) ([]*pkcs11.Attribute, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.session(sh); err != nil {
		return nil, err
	}
	o, err := f.obj(h)
	if err != nil {
		return nil, err
	}
	var out []*pkcs11.Attribute
	for _, a := range tmpl {
		v, ok := o.attrs[a.Type]
		if !ok {
			return nil, pkcs11.Error(pkcs11.CKR_ATTRIBUTE_TYPE_INVALID)
		}
		out = append(out, &pkcs11.Attribute{Type: a.Type, Value: v})
	}
	return out, nil
}

func (f *fakeP11) SignInit(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, h pkcs11.ObjectHandle) error {
	defer f.enter()()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.session(sh); err != nil {
		return err
	}
	if len(m) != 1 || !slices.Contains(f.mechs, m[0].Mechanism) || m[0].Mechanism != pkcs11.CKM_RSA_PKCS {
		return pkcs11.Error(pkcs11.CKR_MECHANISM_INVALID)
	}
	if f.signKey != nil {
		return pkcs11.Error(pkcs11.CKR_OPERATION_ACTIVE)
	}
	if !f.loggedIn {
		return pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN)
	}
	key, err := f.obj(h)
	if err != nil {
		return err
	}
	f.signKey = key
	return nil
}

func (f *fakeP11) Sign(sh pkcs11.SessionHandle, in []byte) ([]byte, error) {
	defer f.enter()()
	f.mu.Lock()
	key := f.signKey
	f.signKey = nil
	err := f.signErr
	f.signErr = nil
	if err == nil {
		err = f.session(sh)
	}
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if key == nil {
		return nil, pkcs11.Error(pkcs11.CKR_OPERATION_NOT_INITIALIZED)
	}
	runtime.Gosched() // let an interleaving caller in, if the token allowed one
	return rsa.SignPKCS1v15(nil, key.key, 0, in)
}

// testKeys are generated once per test binary: RSA generation is slow.
var testKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 5)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

// objSpec describes one key and certificate pair to put on a fake token.
type objSpec struct {
	id         byte
	cn         string
	usage      x509.KeyUsage
	sign       bool
	decrypt    bool
	alwaysAuth bool
	noCert     bool
	noKey      bool
	// certKey, when not -1, puts another key's public key in the
	// certificate (a mismatched pair).
	keyIndex, certKey int
}

func makeCert(t testing.TB, key *rsa.PrivateKey, cn string, usage x509.KeyUsage) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(int64(len(cn)) + 1),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"nhs"}, OrganizationalUnit: []string{"people"}},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: usage,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func boolBytes(b bool) []byte {
	if b {
		return []byte{1}
	}
	return []byte{0}
}

func (f *fakeP11) add(t testing.TB, specs ...objSpec) {
	t.Helper()
	keys := testKeys()
	for _, s := range specs {
		key := keys[s.keyIndex]
		id := []byte{s.id}
		if !s.noKey {
			f.objs = append(f.objs, &fakeObj{class: pkcs11.CKO_PRIVATE_KEY, key: key, attrs: map[uint][]byte{
				pkcs11.CKA_ID:                  id,
				pkcs11.CKA_KEY_TYPE:            pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA).Value,
				pkcs11.CKA_PRIVATE:             {1},
				pkcs11.CKA_SIGN:                boolBytes(s.sign),
				pkcs11.CKA_DECRYPT:             boolBytes(s.decrypt),
				pkcs11.CKA_ALWAYS_AUTHENTICATE: boolBytes(s.alwaysAuth),
				pkcs11.CKA_MODULUS:             key.N.Bytes(),
			}})
		}
		if !s.noCert {
			certKey := key
			if s.certKey >= 0 {
				certKey = keys[s.certKey]
			}
			f.objs = append(f.objs, &fakeObj{class: pkcs11.CKO_CERTIFICATE, attrs: map[uint][]byte{
				pkcs11.CKA_ID:               id,
				pkcs11.CKA_CERTIFICATE_TYPE: pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509).Value,
				pkcs11.CKA_VALUE:            makeCert(t, certKey, s.cn, s.usage),
			}})
		}
	}
}

// pivObjects is what OpenSC shows for a PIV card with all four keys: 9A PIV
// AUTH (ID 01), 9C SIGN (02, always authenticate), 9D KEY MGMT (03, decrypt
// only), 9E CARD AUTH (04).
func pivObjects(uid string) []objSpec {
	return []objSpec{
		{id: 2, cn: uid, usage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment, sign: true, alwaysAuth: true, keyIndex: 1, certKey: -1},
		{id: 3, cn: uid, usage: x509.KeyUsageKeyEncipherment, decrypt: true, keyIndex: 2, certKey: -1},
		{id: 4, cn: "card auth", usage: x509.KeyUsageDigitalSignature, sign: true, keyIndex: 3, certKey: -1},
		{id: 1, cn: uid, usage: x509.KeyUsageDigitalSignature, sign: true, decrypt: true, keyIndex: 0, certKey: -1},
	}
}
