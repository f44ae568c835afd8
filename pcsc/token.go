package pcsc

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"
)

// TokenConfig says which PKCS#11 module to load and which of its tokens to
// use.
type TokenConfig struct {
	// Module is the absolute path of the PKCS#11 module, e.g.
	// /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so or
	// /usr/lib/softhsm/libsofthsm2.so.
	Module string
	// Reader selects the slot of this PC/SC reader ("Virtual PCD 00 00").
	// OpenSC names its slots after the reader but keeps only the first 64
	// bytes (the size of a PKCS#11 slot description), so a longer name is
	// matched by that prefix; when several readers share it (two slots of
	// one long-named device), pcscd's reader order tells them apart (see
	// findSlot). Empty means any slot.
	Reader string
	// Label selects the token with this label. Empty means any label.
	// With neither Reader nor Label the first initialised token is used.
	Label string
	// Logger receives debug lines (never PINs); nil discards them.
	Logger *slog.Logger
}

// Token is a logged-out or logged-in session with one PKCS#11 token: a card
// in a reader (through OpenSC) or an HSM token (SoftHSM2).
//
// A Token is safe for concurrent use: one mutex serialises every call into
// the module, and a signature (C_SignInit + C_Sign) is one unit under it.
// The OpenSC module itself wraps each PKCS#11 operation in its own PC/SC
// transaction (SCardBeginTransaction/EndTransaction), so other programs
// sharing the reader cannot interleave APDUs with it.
//
// Once the card is removed the Token stays unusable (every call returns
// ErrCardRemoved); open a new one after the next insertion.
type Token struct {
	mu      sync.Mutex
	p       p11
	release func()
	slot    uint
	session pkcs11.SessionHandle
	reader  string // PC/SC reader name (TokenConfig.Reader), else the slot description
	label   string
	logger  *slog.Logger
	// removedCheck tells, after an ambiguous error, whether the reader
	// shows the card gone. Replaced in tests.
	removedCheck func(ctx context.Context, reader string) bool

	closed, removed, loggedIn bool
	// loginGen changes whenever this Token logs in or out: key handles
	// found before may be dead (SoftHSM2 renews them at each login).
	loginGen uint64
	cert     *x509.Certificate // cached authentication certificate
	mechs    []uint
}

// OpenToken loads cfg.Module (once per process, shared by all its Tokens),
// finds the slot (skipping uninitialised tokens, such as SoftHSM2's spare
// slot) and opens a read-only session. It does not log in.
func OpenToken(ctx context.Context, cfg TokenConfig) (*Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, release, err := modules.acquire(cfg.Module)
	if err != nil {
		return nil, err
	}
	t, err := openToken(p, cfg, listPCSCReaders)
	if err != nil {
		release()
		return nil, err
	}
	t.release = release
	return t, nil
}

// openToken opens the token cfg names in the loaded module p; readers
// lists pcscd's readers, to tell apart readers whose names share OpenSC's
// 64-byte slot description.
func openToken(p p11, cfg TokenConfig, readers func() ([]string, error)) (*Token, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	slot, desc, label, err := findSlot(p, cfg.Reader, cfg.Label, readers)
	if err != nil {
		return nil, err
	}
	name := desc
	if cfg.Reader != "" {
		// The removal check asks pcscd about the reader: it needs the
		// whole name, not OpenSC's truncated description.
		name = cfg.Reader
	}
	sh, err := p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return nil, p11Error("open session", err)
	}
	logger.Debug("pcsc token opened", "slot", slot, "reader", desc, "label", label)
	return &Token{
		p: p, release: func() {}, slot: slot, session: sh, reader: name, label: label,
		logger: logger, removedCheck: readerShowsRemoval,
	}, nil
}

// trimPadded strips the blank (or NUL) padding of PKCS#11 fixed-size text.
func trimPadded(s string) string { return strings.TrimRight(s, " \x00") }

// slotDescLen is the size of a PKCS#11 slot description: OpenSC copies at
// most this many bytes of the PC/SC reader name into it.
const slotDescLen = 64

// describes reports whether desc (without its blank padding) is the slot
// description OpenSC gives reader's slots: the name itself when it fits;
// for a longer name its first 64 bytes (older OpenSC), or its first 61
// and "..." (OpenSC 0.23 marks the cut).
func describes(desc, reader string) bool {
	if len(reader) <= slotDescLen {
		return desc == trimPadded(reader)
	}
	return desc == trimPadded(reader[:slotDescLen]) || desc == reader[:slotDescLen-3]+"..."
}

// findSlot returns the first slot matching reader and label that holds an
// initialised token.
//
// A reader matches the slots whose description is its name cut to fit 64
// bytes (see describes). When other PC/SC readers share that description (pcscd names the slots of one
// device "NAME 00 00", "NAME 00 01", and a long NAME leaves only the
// suffix to tell them apart), the slots are split by order: OpenSC makes the
// same number of slots for each reader, in pcscd's reader order, so the
// k-th of n such readers owns the k-th n-th of the matching slots. readers
// lists pcscd's readers; it is asked only for names of 64 bytes or more. If
// the slots cannot be split that way the answer is ErrNoReader rather than
// a guess: the wrong slot would be another person's card.
func findSlot(p p11, reader, label string, readers func() ([]string, error)) (slot uint, desc, tokenLabel string, err error) {
	// First the slots with a token only: OpenSC asks pcscd about every slot
	// it describes (some 10 ms each), and a name that fits its description
	// needs no more.
	if len(reader) < slotDescLen {
		if present, err := p.GetSlotList(true); err == nil {
			var mine []uint
			for _, s := range present {
				if si, err := p.GetSlotInfo(s); err == nil && (reader == "" || describes(trimPadded(si.SlotDescription), reader)) {
					mine = append(mine, s)
				}
			}
			if s, d, l, ok := pickSlot(p, mine, label); ok {
				return s, d, l, nil
			}
		}
	}
	slots, err := p.GetSlotList(false)
	if err != nil {
		return 0, "", "", p11Error("list slots", err)
	}
	if reader != "" {
		if slots, err = readerSlots(p, slots, reader, readers); err != nil {
			return 0, "", "", err
		}
	}
	if s, d, l, ok := pickSlot(p, slots, label); ok {
		return s, d, l, nil
	}
	switch {
	case label != "":
		return 0, "", "", fmt.Errorf("%w: no token labelled %q", ErrNoToken, label)
	case reader != "":
		return 0, "", "", fmt.Errorf("%w in reader %q", ErrNoToken, reader)
	}
	return 0, "", "", ErrNoToken
}

// pickSlot returns the first of slots that holds an initialised token
// labelled label (any label if empty).
func pickSlot(p p11, slots []uint, label string) (slot uint, desc, tokenLabel string, ok bool) {
	for _, s := range slots {
		si, err := p.GetSlotInfo(s)
		if err != nil || si.Flags&pkcs11.CKF_TOKEN_PRESENT == 0 {
			continue
		}
		ti, err := p.GetTokenInfo(s)
		if err != nil || ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			continue
		}
		l := trimPadded(ti.Label)
		if label != "" && l != label {
			continue
		}
		return s, trimPadded(si.SlotDescription), l, true
	}
	return 0, "", "", false
}

// readerSlots returns the slots (of all, in the module's order) that belong
// to the PC/SC reader named reader: see findSlot.
func readerSlots(p p11, all []uint, reader string, readers func() ([]string, error)) ([]uint, error) {
	var match []uint
	var desc string
	for _, s := range all {
		si, err := p.GetSlotInfo(s)
		if err == nil && describes(trimPadded(si.SlotDescription), reader) {
			match = append(match, s)
			desc = trimPadded(si.SlotDescription)
		}
	}
	if len(match) == 0 {
		return nil, fmt.Errorf("%w: no PKCS#11 slot for reader %q", ErrNoReader, reader)
	}
	if len(reader) <= slotDescLen {
		return match, nil // the description is the whole name
	}
	names, err := readers()
	if err != nil {
		return nil, fmt.Errorf("pcsc: reader %q: its name is longer than a PKCS#11 slot description, and the PC/SC reader list needed to match it failed: %w", reader, err)
	}
	var twins []string
	for _, n := range names {
		if describes(desc, n) {
			twins = append(twins, n)
		}
	}
	k := slices.Index(twins, reader)
	switch {
	case k < 0:
		return nil, fmt.Errorf("%w: pcscd does not list reader %q", ErrNoReader, reader)
	case len(twins) == 1:
		return match, nil
	case len(match)%len(twins) != 0:
		return nil, fmt.Errorf("%w: %d readers share the first %d bytes of %q and their %d PKCS#11 slots cannot be told apart",
			ErrNoReader, len(twins), slotDescLen, reader, len(match))
	}
	per := len(match) / len(twins)
	return match[k*per : (k+1)*per], nil
}

// listPCSCReaders lists pcscd's readers in its order.
func listPCSCReaders() ([]string, error) {
	sc, err := establishPCSC()
	if err != nil {
		return nil, err
	}
	defer sc.Release()
	names, err := sc.ListReaders()
	if err != nil {
		return nil, scardError("list readers", err)
	}
	return names, nil
}

// Reader returns the PC/SC reader name the token was opened for
// (TokenConfig.Reader), else its slot's description.
func (t *Token) Reader() string { return t.reader }

// Label returns the token's label.
func (t *Token) Label() string { return t.label }

// lock takes the token's mutex for one operation and reports a closed or
// removed token or a done ctx; the caller must unlock when err is nil.
func (t *Token) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.mu.Lock()
	switch {
	case t.closed:
		t.mu.Unlock()
		return ErrClosed
	case t.removed:
		t.mu.Unlock()
		return fmt.Errorf("pcsc: token %q: %w", t.reader, ErrCardRemoved)
	}
	return nil
}

// fail maps a module error for op and remembers a removal. For errors that
// may or may not mean removal (CKR_GENERAL_ERROR, CKR_DEVICE_ERROR: what
// OpenSC returns for a card pulled during a command) it asks pcscd whether
// the reader shows the card gone. Called with t.mu held.
func (t *Token) fail(ctx context.Context, op string, err error) error {
	mapped := p11Error(op, err)
	// A token that forgets a login we did may have lost its card too.
	ambiguous := ambiguousFailure(err) || (t.loggedIn && errors.Is(mapped, ErrNotLoggedIn))
	if !errors.Is(mapped, ErrCardRemoved) && ambiguous && t.removedCheck(ctx, t.reader) {
		mapped = fmt.Errorf("pcsc: %s: %w (%w)", op, ErrCardRemoved, err)
	}
	if errors.Is(mapped, ErrCardRemoved) {
		t.removed = true
		t.logger.Debug("pcsc token removed", "reader", t.reader, "op", op)
	}
	return mapped
}

// Close ends the session and gives the module back (it is unloaded when
// its last Token closes). Closing twice is harmless.
func (t *Token) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	err := t.p.CloseSession(t.session)
	t.release()
	if t.removed {
		return nil // the session died with the card
	}
	return p11Error("close session", err)
}

// p11Error maps a PKCS#11 error onto the package's sentinels and keeps the
// original in the chain.
func p11Error(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe pkcs11.Error
	if !errors.As(err, &pe) {
		return fmt.Errorf("pcsc: %s: %w", op, err)
	}
	var sentinel error
	switch pe {
	case pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_TOKEN_NOT_RECOGNIZED,
		pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED:
		// A session only becomes invalid behind our back when its token
		// went away (Close is guarded by the closed flag).
		sentinel = ErrCardRemoved
	case pkcs11.CKR_USER_NOT_LOGGED_IN:
		sentinel = ErrNotLoggedIn
	case pkcs11.CKR_PIN_INCORRECT:
		sentinel = ErrPINIncorrect
	case pkcs11.CKR_PIN_LOCKED:
		sentinel = ErrPINLocked
	case pkcs11.CKR_PIN_LEN_RANGE, pkcs11.CKR_PIN_INVALID:
		sentinel = ErrPINInvalid
	case pkcs11.CKR_MECHANISM_INVALID:
		sentinel = ErrMechanism
	case pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED:
		sentinel = ErrModule
	default:
		return fmt.Errorf("pcsc: %s: %w", op, err)
	}
	return fmt.Errorf("pcsc: %s: %w (%w)", op, sentinel, err)
}

// ambiguousFailure reports module errors that a card pulled in the middle
// of a command produces, among other causes.
func ambiguousFailure(err error) bool {
	var pe pkcs11.Error
	if !errors.As(err, &pe) {
		return false
	}
	switch pe {
	case pkcs11.CKR_GENERAL_ERROR, pkcs11.CKR_DEVICE_ERROR, pkcs11.CKR_FUNCTION_FAILED:
		return true
	}
	return false
}
