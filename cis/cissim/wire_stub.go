//go:build !cissim_wire

package cissim

import (
	"crypto/x509"
	"errors"
)

// Temporary: until package cis has its gpOBJECT parser and CMS verifier.

type gpRequest interface{ Get(name string) string }

var errNoWire = errors.New("not available yet")

func parseGP([]byte) (gpRequest, error)                   { return nil, errNoWire }
func decodeSMIME(string) ([]byte, error)                  { return nil, errNoWire }
func verifyCMS([]byte) ([]byte, *x509.Certificate, error) { return nil, nil, errNoWire }
