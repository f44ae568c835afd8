package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencis/cisauth/pcsc/vcard"
)

// State-dir file names written by cis-sim for its card CA.
const (
	caCertFile = "card-ca.pem"
	caKeyFile  = "card-ca-key.pem"
)

func provision(args []string, e env) error {
	fl := flag.NewFlagSet("cis-vcard provision", flag.ContinueOnError)
	uid := fl.String("uid", "", "user id, 12 digits (the certificate CN)")
	name := fl.String("name", "", "holder's display name, kept in the card file")
	pinFlag := fl.String("pin", "", "card PIN, 4 to 8 digits (visible to other users in ps: prefer --pin-file or the prompt)")
	pinFile := fl.String("pin-file", "", "read the PIN from the first line of `FILE` (- for standard input)")
	caCert := fl.String("ca-cert", "", "CA certificate `PEM` (default: card-ca.pem in the state dir)")
	caKey := fl.String("ca-key", "", "CA private key `PEM` (default: card-ca-key.pem in the state dir)")
	stateDir := fl.String("state-dir", "", "cis-sim state `dir` holding its card CA (default: $XDG_STATE_HOME/cis-sim or ~/.local/state/cis-sim)")
	retries := fl.Int("retries", vcard.DefaultRetries, "wrong PINs before the card locks (1-15)")
	validity := fl.Duration("validity", vcard.DefaultValidity, "certificate lifetime")
	out := fl.String("out", "", "card file to write (mode 0600)")
	pos, err := parseInterspersed(fl, args, e.stderr)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("%w: provision takes no arguments, got %q", errUsage, pos)
	}
	if *uid == "" || *out == "" {
		return fmt.Errorf("%w: provision needs --uid and --out", errUsage)
	}
	certPath, keyPath, err := caPaths(*caCert, *caKey, *stateDir, e.getenv)
	if err != nil {
		return err
	}
	cert, key, err := vcard.LoadCA(certPath, keyPath)
	if errors.Is(err, fs.ErrNotExist) && *caCert == "" {
		return fmt.Errorf("%w (start cis-sim once to create its card CA, or give --ca-cert and --ca-key)", err)
	}
	if err != nil {
		return err
	}
	pin, err := readPIN(*pinFlag, *pinFile, e)
	if err != nil {
		return err
	}
	defer clear(pin)
	card, err := vcard.Provision(vcard.ProvisionConfig{
		UID: *uid, Name: *name, CACert: cert, CAKey: key, PIN: pin,
		Retries: *retries, Validity: *validity,
	})
	if err != nil {
		return err
	}
	defer clear(card.PIN)
	if err := card.Save(*out); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: card for %s (%s), certificate %q valid until %s, signed by %q\n",
		*out, card.UID, card.Name, card.Cert.Subject, card.Cert.NotAfter.Format("2006-01-02"), cert.Subject)
	return nil
}

// caPaths resolves the CA files: explicit flags win, else the files in the
// state dir (--state-dir, $XDG_STATE_HOME/cis-sim when that is absolute,
// else ~/.local/state/cis-sim).
func caPaths(certFlag, keyFlag, stateDir string, getenv func(string) string) (string, string, error) {
	if (certFlag == "") != (keyFlag == "") {
		return "", "", fmt.Errorf("%w: give both --ca-cert and --ca-key, or neither", errUsage)
	}
	if certFlag != "" {
		return certFlag, keyFlag, nil
	}
	dir := stateDir
	if dir == "" {
		base := getenv("XDG_STATE_HOME")
		if !filepath.IsAbs(base) { // unset, or relative: ignored, as the XDG spec says and cis-sim does
			home := getenv("HOME")
			if home == "" {
				h, err := os.UserHomeDir()
				if err != nil {
					return "", "", fmt.Errorf("no --state-dir and no home directory: %w", err)
				}
				home = h
			}
			base = filepath.Join(home, ".local", "state")
		}
		dir = filepath.Join(base, "cis-sim")
	}
	return filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile), nil
}
