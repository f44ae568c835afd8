package vcard

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// defaultATR is the answer-to-reset of a card whose CardConfig has none:
// T=1, no historical bytes.
var defaultATR = []byte{0x3B, 0x80, 0x80, 0x01, 0x01}

// DefaultRetries is the PIN retry limit when CardConfig.Retries is 0.
const DefaultRetries = 3

// pinLen is the PIV PIN field length: the PIN padded with 0xFF.
const pinLen = 8

// ErrConfig means a CardConfig (or a card file) is not usable.
var ErrConfig = errors.New("vcard: invalid card configuration")

// CardConfig describes one card. New copies the PIN and ATR (the caller may
// clear its PIN afterwards) and keeps Key and Cert, which must not change.
type CardConfig struct {
	// Key is the PIV authentication key (slot 9A): RSA-2048 or RSA-1024.
	Key *rsa.PrivateKey
	// Cert is the certificate for Key.
	Cert *x509.Certificate
	// PIN is the card PIN, 4 to 8 bytes, none of them 0xFF.
	PIN []byte
	// Retries is the number of wrong PINs the card accepts before it locks
	// (1 to 15); 0 means DefaultRetries.
	Retries int
	// ATR is the answer-to-reset; nil means 3B 80 80 01 01.
	ATR []byte
	// Logger receives one debug line per APDU (instruction and status word,
	// never data) and link events; nil discards.
	Logger *slog.Logger
	// DialTimeout bounds the TCP connect to vpcd; 0 means 5 s.
	DialTimeout time.Duration
	// DisableQuickAck stops the card from setting TCP_QUICKACK before each
	// read. Only for measuring what it costs: with Debian 12's vpcd every
	// APDU then takes about 40 ms longer.
	DisableQuickAck bool
}

// Card is a virtual PIV card. Its PIN retry counter lives as long as the
// Card, across insertions, like a real card's; the PIN-verified state ends
// with every power-off, reset, pull and insertion. A Card is safe for
// concurrent use, and is in at most one reader at a time.
type Card struct {
	key         *rsa.PrivateKey
	cert        *x509.Certificate
	atr         []byte
	log         *slog.Logger
	dialTimeout time.Duration
	quickAck    bool
	maxRetries  int
	algorithm   byte // GENERAL AUTHENTICATE P1 for the key size

	mu         sync.Mutex
	pin        [pinLen]byte
	retries    int
	verified   bool
	pending    []byte // rest of a long response, fetched by GET RESPONSE
	chain      []byte // data of a chained command so far
	chainHdr   [3]byte
	chaining   bool
	signatures int
	inserted   *Inserted
}

// New checks cfg and returns a card, not yet in any reader.
func New(cfg CardConfig) (*Card, error) {
	if cfg.Key == nil || cfg.Cert == nil {
		return nil, fmt.Errorf("%w: key and certificate are required", ErrConfig)
	}
	if err := cfg.Key.Validate(); err != nil {
		return nil, fmt.Errorf("%w: key: %w", ErrConfig, err)
	}
	var alg byte
	switch cfg.Key.N.BitLen() {
	case 2048:
		alg = 0x07
	case 1024:
		alg = 0x06
	default:
		return nil, fmt.Errorf("%w: RSA key of %d bits; want 2048 or 1024", ErrConfig, cfg.Key.N.BitLen())
	}
	if !cfg.Key.PublicKey.Equal(cfg.Cert.PublicKey) {
		return nil, fmt.Errorf("%w: certificate does not match the key", ErrConfig)
	}
	if len(cfg.Cert.Raw) == 0 || len(cfg.Cert.Raw) > 0x8000 {
		return nil, fmt.Errorf("%w: certificate must be parsed from DER of at most 32 KiB", ErrConfig)
	}
	if err := checkPIN(cfg.PIN); err != nil {
		return nil, err
	}
	retries := cfg.Retries
	if retries == 0 {
		retries = DefaultRetries
	}
	if retries < 1 || retries > 15 {
		return nil, fmt.Errorf("%w: retries %d outside 1..15", ErrConfig, cfg.Retries)
	}
	atr := defaultATR
	if cfg.ATR != nil {
		if len(cfg.ATR) < 2 || len(cfg.ATR) > 33 {
			return nil, fmt.Errorf("%w: ATR of %d bytes; want 2 to 33", ErrConfig, len(cfg.ATR))
		}
		atr = cfg.ATR
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	dt := cfg.DialTimeout
	if dt <= 0 {
		dt = 5 * time.Second
	}
	c := &Card{
		key:         cfg.Key,
		cert:        cfg.Cert,
		atr:         bytes.Clone(atr),
		log:         log,
		dialTimeout: dt,
		quickAck:    !cfg.DisableQuickAck,
		maxRetries:  retries,
		algorithm:   alg,
		retries:     retries,
	}
	c.pin = padPIN(cfg.PIN)
	return c, nil
}

// checkPIN accepts 4 to 8 bytes with no 0xFF (the PIV padding byte).
func checkPIN(pin []byte) error {
	if len(pin) < 4 || len(pin) > pinLen {
		return fmt.Errorf("%w: PIN must be 4 to 8 characters", ErrConfig)
	}
	if bytes.IndexByte(pin, 0xFF) >= 0 {
		return fmt.Errorf("%w: PIN must not contain byte 0xFF", ErrConfig)
	}
	return nil
}

func padPIN(pin []byte) [pinLen]byte {
	var p [pinLen]byte
	for i := range p {
		p[i] = 0xFF
	}
	copy(p[:], pin)
	return p
}

// ATR returns the card's answer-to-reset.
func (c *Card) ATR() []byte { return bytes.Clone(c.atr) }

// Certificate returns the certificate in slot 9A.
func (c *Card) Certificate() *x509.Certificate { return c.cert }

// RetriesLeft returns how many wrong PINs the card still accepts; 0 means
// it is locked.
func (c *Card) RetriesLeft() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.retries
}

// Verified reports whether the PIN has been verified since the last
// power-off or reset.
func (c *Card) Verified() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.verified
}

// Signatures returns how many GENERAL AUTHENTICATE operations the card has
// performed.
func (c *Card) Signatures() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.signatures
}

// Reset does what a power cycle does: it ends the PIN-verified state and
// drops any pending response or command chain. The retry counter stays.
func (c *Card) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resetLocked()
}

func (c *Card) resetLocked() {
	c.verified = false
	c.pending = nil
	c.chain = nil
	c.chaining = false
}
