package pcsc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/miekg/pkcs11"
)

// p11 is the part of a PKCS#11 module this package uses; *pkcs11.Ctx
// implements it, tests use a fake.
type p11 interface {
	GetSlotList(tokenPresent bool) ([]uint, error)
	GetSlotInfo(slot uint) (pkcs11.SlotInfo, error)
	GetTokenInfo(slot uint) (pkcs11.TokenInfo, error)
	GetMechanismList(slot uint) ([]*pkcs11.Mechanism, error)
	OpenSession(slot uint, flags uint) (pkcs11.SessionHandle, error)
	CloseSession(sh pkcs11.SessionHandle) error
	Login(sh pkcs11.SessionHandle, userType uint, pin string) error
	Logout(sh pkcs11.SessionHandle) error
	FindObjectsInit(sh pkcs11.SessionHandle, temp []*pkcs11.Attribute) error
	FindObjects(sh pkcs11.SessionHandle, max int) ([]pkcs11.ObjectHandle, bool, error)
	FindObjectsFinal(sh pkcs11.SessionHandle) error
	GetAttributeValue(sh pkcs11.SessionHandle, o pkcs11.ObjectHandle, a []*pkcs11.Attribute) ([]*pkcs11.Attribute, error)
	SignInit(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, o pkcs11.ObjectHandle) error
	Sign(sh pkcs11.SessionHandle, message []byte) ([]byte, error)
}

var _ p11 = (*pkcs11.Ctx)(nil)

// moduleRegistry keeps one loaded, initialised instance per module path.
// PKCS#11 allows C_Initialize once per process and module, and C_Finalize
// ends every session of the process, so two Tokens on the same module (two
// readers through OpenSC) must share it: this is process state by nature.
// The module is finalised and unloaded when its last Token closes.
type moduleRegistry struct {
	mu   sync.Mutex
	mods map[string]*loadedModule
}

type loadedModule struct {
	ctx  *pkcs11.Ctx
	refs int
	// ours is false when someone else in the process had initialised the
	// module already; then it is not finalised on release.
	ours bool
}

var modules moduleRegistry

// KeepModule loads and initialises the PKCS#11 module at path (if no
// Token holds it yet) and keeps it until release is called, so that Tokens
// opened and closed meanwhile do not each pay for C_Initialize and
// C_Finalize (with OpenSC, a reader scan and card detection: about 0.2 s).
// A long-running program that opens a Token per login calls it once.
func KeepModule(path string) (release func(), err error) {
	_, release, err = modules.acquire(path)
	return release, err
}

// acquire loads (or reuses) the module at path and returns it with a
// function that gives it back.
func (r *moduleRegistry) acquire(path string) (p11, func(), error) {
	if path == "" || !filepath.IsAbs(path) {
		return nil, nil, fmt.Errorf("%w: module path %q must be absolute", ErrModule, path)
	}
	path = filepath.Clean(path)
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.mods[path]
	if !ok {
		if _, err := os.Stat(path); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrModule, err)
		}
		ctx := pkcs11.New(path)
		if ctx == nil { // dlopen failed; miekg/pkcs11 gives no reason
			return nil, nil, fmt.Errorf("%w: cannot load %s (dlopen failed: not a PKCS#11 library, wrong architecture or missing dependency)", ErrModule, path)
		}
		m = &loadedModule{ctx: ctx, ours: true}
		if err := ctx.Initialize(); err != nil {
			if !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
				ctx.Destroy()
				return nil, nil, fmt.Errorf("%w: C_Initialize of %s: %w", ErrModule, path, err)
			}
			m.ours = false
		}
		if r.mods == nil {
			r.mods = map[string]*loadedModule{}
		}
		r.mods[path] = m
	}
	m.refs++
	var once sync.Once
	return m.ctx, func() { once.Do(func() { r.release(path) }) }, nil
}

func (r *moduleRegistry) release(path string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.mods[path]
	if m == nil {
		return
	}
	m.refs--
	if m.refs > 0 {
		return
	}
	delete(r.mods, path)
	if m.ours {
		_ = m.ctx.Finalize()
	}
	m.ctx.Destroy()
}
