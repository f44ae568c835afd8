package cissim

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/opencis/cisauth/cis"
)

// File names in the state directory.
const (
	TLSCACertFile  = "ca.pem"          // TLS CA certificate (clients trust it)
	TLSCAKeyFile   = "ca-key.pem"      // TLS CA key, PKCS#8, 0600
	CardCACertFile = "card-ca.pem"     // default card CA certificate
	CardCAKeyFile  = "card-ca-key.pem" // default card CA key, PKCS#8, 0600
	EnvFile        = "env.yaml"        // environment file describing the running simulator
)

// DefaultStateDir returns $XDG_STATE_HOME/cis-sim, or ~/.local/state/cis-sim
// when XDG_STATE_HOME is unset or not absolute.
func DefaultStateDir() (string, error) {
	if x := os.Getenv("XDG_STATE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "cis-sim"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cissim: no state directory: %w", err)
	}
	return filepath.Join(home, ".local", "state", "cis-sim"), nil
}

// EnsureStateDir creates dir (mode 0700, parents as needed) if missing.
func EnsureStateDir(dir string) error {
	if dir == "" {
		return errors.New("cissim: empty state directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cissim: state directory: %w", err)
	}
	return nil
}

// TLSCAFiles returns the paths of the TLS CA certificate and key in stateDir.
func TLSCAFiles(stateDir string) (certPath, keyPath string) {
	return filepath.Join(stateDir, TLSCACertFile), filepath.Join(stateDir, TLSCAKeyFile)
}

// CardCAFiles returns the paths of the default card CA certificate and key
// in stateDir; cis-vcard provision reads these by default.
func CardCAFiles(stateDir string) (certPath, keyPath string) {
	return filepath.Join(stateDir, CardCACertFile), filepath.Join(stateDir, CardCAKeyFile)
}

// LoadOrCreateTLSCA loads the TLS CA from stateDir for a simulator reached
// as hostnames (besides loopback and localhost), creating the directory and
// the CA (NewTLSCA) if missing. A CA there that is not what NewTLSCA would
// make for hostnames now - made by an older cis-sim (no name constraints,
// no path length limit, ten years), constrained to other names, or expiring
// before a new server certificate would - is replaced by a new one, and
// log (nil: none) gets a warning saying why: clients must trust the new
// ca.pem (the env.yaml cis-sim writes carries it).
func LoadOrCreateTLSCA(stateDir string, hostnames []string, log *slog.Logger) (*x509.Certificate, crypto.Signer, error) {
	if err := EnsureStateDir(stateDir); err != nil {
		return nil, nil, err
	}
	c, k := TLSCAFiles(stateDir)
	exists, err := caFilesExist(c, k)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	if exists {
		cert, key, err := LoadCA(c, k)
		if err != nil {
			return nil, nil, err
		}
		why := tlsCAMismatch(cert, hostnames, now)
		if why == "" {
			return cert, key, nil
		}
		if log != nil {
			log.Warn("cis-sim: replacing the TLS CA; clients must trust the new one", "file", c, "reason", why)
		}
	}
	cert, key, err := NewTLSCA(hostnames, nil, now)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, writeCA(c, k, cert, key)
}

// tlsCAMismatch says how ca differs from what NewTLSCA would make for
// hostnames at now, or "" if it does not.
func tlsCAMismatch(ca *x509.Certificate, hostnames []string, now time.Time) string {
	dns, ips := tlsCANames(hostnames)
	ipText := func(ns []*net.IPNet) (out []string) {
		for _, n := range ns {
			out = append(out, n.String())
		}
		return out
	}
	switch {
	case !ca.MaxPathLenZero || ca.MaxPathLen != 0 || !ca.PermittedDNSDomainsCritical ||
		!slices.Equal(ca.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) || len(ca.UnknownExtKeyUsage) > 0:
		return "made by an older cis-sim: no name constraints or path length limit"
	case ca.NotAfter.Sub(ca.NotBefore) > TLSCAValidity+time.Hour: // NotBefore is an hour back
		return "valid for longer than " + TLSCAValidity.String()
	case !slices.Equal(ca.PermittedDNSDomains, dns) || !slices.Equal(ipText(ca.PermittedIPRanges), ipText(ips)) ||
		len(ca.ExcludedDNSDomains)+len(ca.ExcludedIPRanges)+len(ca.PermittedEmailAddresses)+len(ca.ExcludedEmailAddresses)+
			len(ca.PermittedURIDomains)+len(ca.ExcludedURIDomains) > 0:
		return "constrained to other names than localhost, loopback and the --hostname values"
	case ca.NotAfter.Before(now.Add(serverValidity)):
		return "expires " + ca.NotAfter.UTC().Format(time.DateOnly) + ", before a new server certificate would"
	}
	return ""
}

// LoadOrCreateCardCA loads the default card CA from stateDir, creating the
// directory and the CA (O=nhs, OU=CA, CN=SubCA cis-sim) if missing.
func LoadOrCreateCardCA(stateDir string) (*x509.Certificate, crypto.Signer, error) {
	if err := EnsureStateDir(stateDir); err != nil {
		return nil, nil, err
	}
	c, k := CardCAFiles(stateDir)
	return LoadOrCreateCA(c, k, pkix.Name{Organization: []string{"nhs"}, OrganizationalUnit: []string{"CA"}, CommonName: "SubCA cis-sim"})
}

// WriteEnvFile writes env as env.yaml in stateDir (replacing it atomically)
// and returns its path.
func WriteEnvFile(stateDir string, env cis.Environment) (string, error) {
	b, err := env.MarshalYAML()
	if err != nil {
		return "", fmt.Errorf("cissim: env.yaml: %w", err)
	}
	p := filepath.Join(stateDir, EnvFile)
	return p, writeFileAtomic(p, b, 0o644)
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("cissim: %w", err)
	}
	tmp := f.Name()
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cissim: writing %s: %w", path, err)
	}
	return nil
}
