package agent

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// secretLen is the size of the per-user API secret, in random bytes.
const secretLen = 32

// LoadOrCreateSecret returns the per-user secret that non-browser callers
// of the Ticket API send as "Authorization: Bearer SECRET". It lives in a
// file only its owner may read (mode 0600, in a directory of mode 0700):
// an existing file is used if it is the desktop user's and nobody else can
// read it, a missing one is created. A file others can read is refused
// with the fix in the error.
func LoadOrCreateSecret(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("agent: no secret file configured")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("agent: secret file: %w", err)
	}
	b, err := readSecret(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	raw := make([]byte, secretLen)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	secret := []byte(base64.RawURLEncoding.EncodeToString(raw))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readSecret(path) // another agent made it just now
	}
	if err != nil {
		return nil, fmt.Errorf("agent: secret file: %w", err)
	}
	_, err = f.Write(append(secret, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("agent: secret file: %w", err)
	}
	return secret, nil
}

// ReadSecret reads an existing secret file (what a client of the Ticket
// API does), with the same checks as LoadOrCreateSecret.
func ReadSecret(path string) ([]byte, error) { return readSecret(path) }

func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("agent: secret file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("agent: secret file %s can be read by others (mode %04o): run chmod 600 %s, or delete it to get a new one", path, perm, path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("agent: secret file %s belongs to uid %d, not to this user", path, st.Uid)
	}
	buf := make([]byte, 256)
	n, _ := f.Read(buf)
	secret := bytes.TrimSpace(buf[:n])
	if len(secret) < 32 {
		return nil, fmt.Errorf("agent: secret file %s holds no secret (delete it to get a new one)", path)
	}
	return secret, nil
}
