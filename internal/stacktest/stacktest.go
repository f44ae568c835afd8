// Package stacktest gives tests the real card stack that scripts/cardstack.sh
// brings up (pcscd with eight vsmartcard vpcd readers, OpenSC's PKCS#11 module,
// a SoftHSM2 token): Require finds it from the environment, Readers hands
// each test package its own readers, and InsertCard and Pull put a virtual
// card (package pcsc/vcard) into a reader and take it out, waiting until
// pcscd shows it PRESENT or EMPTY, and StartMonitor and WaitEvent watch
// readers through a pcsc.Monitor.
//
// Outside `make test` a test that needs the stack is skipped with a message
// saying how to bring it up; under `make test` (CISAUTH_MAKE_TEST=1) a
// missing stack fails the test, so a broken stack cannot pass CI silently.
//
// # Reader allocation
//
// `go test ./...` runs packages in parallel processes, and a vpcd reader
// holds one card, so each package that inserts cards owns fixed readers
// (indexes into CISAUTH_READERS, which lists them in port order):
//
//	package  readers                                        vpcd ports
//	pcsc     0 "Virtual PCD 00 00", 1 "Virtual PCD 00 01"       35963, 35964
//	vcard    2 "Virtual PCD B 00 00"                            35979
//	agent    6 LongReaderName+" 00 00", 7 LongReaderName+" 00 01",
//	         3 "Virtual PCD B 00 01"                            36011, 36012, 35980
//	e2e      4 "Virtual PCD C 00 00", 5 "Virtual PCD C 00 01"   35995, 35996
//
// Readers 6 and 7 have names longer than the 64 bytes OpenSC keeps of a
// reader name as the PKCS#11 slot description, and share those 64 bytes,
// as the two slots of a real long-named reader do; the agent's tests use
// them, so every card login there matches a reader to its slot by that
// prefix, and two cards in the pair must still be told apart.
//
// Tests inside one package run one after another unless they call
// t.Parallel, which tests that insert cards must not do on a shared reader.
// A new package that needs readers gets a row here (and, past eight, another
// vpcd entry in scripts/cardstack.sh).
//
// This package uses cgo through package pcsc; it is for tests only.
package stacktest

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// Environment variables written by scripts/cardstack.sh into DIR/env.
const (
	EnvStack         = "CISAUTH_STACK"          // "1" when the stack is up
	EnvStackDir      = "CISAUTH_STACK_DIR"      // the stack directory
	EnvMakeTest      = "CISAUTH_MAKE_TEST"      // "1" under make test: no skipping
	EnvOpenSCModule  = "CISAUTH_OPENSC_MODULE"  // path of opensc-pkcs11.so
	EnvOpenSCConf    = "OPENSC_CONF"            // OpenSC configuration with PKCS#11 slots for every reader
	EnvSoftHSMModule = "CISAUTH_SOFTHSM_MODULE" // path of libsofthsm2.so
	EnvSoftHSMConf   = "SOFTHSM2_CONF"          // SoftHSM2 config of the stack's token
	EnvSoftHSMLabel  = "CISAUTH_SOFTHSM_LABEL"  // token label
	EnvSoftHSMPIN    = "CISAUTH_SOFTHSM_PIN"    // token user PIN
	EnvSoftHSMCA     = "CISAUTH_SOFTHSM_CA"     // PEM of the CA that issued the token's certificates
	EnvSoftHSMCert   = "CISAUTH_SOFTHSM_CERT"   // PEM of the token's authentication certificate (CKA_ID 01)
	EnvReaders       = "CISAUTH_READERS"        // reader names, comma-separated, in port order
	EnvVPCDAddrs     = "CISAUTH_VPCD_ADDRS"     // vpcd host:port of each reader, same order
)

// Stack describes the running card stack.
type Stack struct {
	// Dir is the stack directory (pcscd log, reader config, SoftHSM2 token).
	Dir string
	// OpenSCModule is the path of OpenSC's PKCS#11 module.
	OpenSCModule string
	// OpenSCConf is the OpenSC configuration (OPENSC_CONF, set in the
	// environment): OpenSC's default gives PKCS#11 slots to four readers
	// only, this one to all of them.
	OpenSCConf string
	// SoftHSMModule is the path of SoftHSM2's PKCS#11 module. Every process
	// that loads it needs SOFTHSM2_CONF (set in the environment).
	SoftHSMModule string
	// SoftHSMConf is the SoftHSM2 configuration file of the token.
	SoftHSMConf string
	// SoftHSMLabel and SoftHSMPIN identify and unlock the SoftHSM2 token.
	// It holds an RSA-2048 key and certificate with CKA_ID 01 (subject
	// O=nhs, OU=people, CN=555000000099) and an unrelated pair with ID 02.
	SoftHSMLabel, SoftHSMPIN string
	// SoftHSMCA and SoftHSMCert are PEM files: the issuing CA and the ID 01
	// certificate.
	SoftHSMCA, SoftHSMCert string
	// All is every reader in port order.
	All []Reader
}

// Reader is one vpcd reader.
type Reader struct {
	// Index is the reader's position in CISAUTH_READERS.
	Index int
	// Name is the PC/SC reader name.
	Name string
	// Addr is the vpcd address a virtual card connects to.
	Addr string
}

// Require returns the stack described by the environment. Without it the
// test is skipped, or fails under make test.
func Require(t testing.TB) *Stack {
	t.Helper()
	s, err := fromEnv(os.Getenv)
	if err == nil {
		return s
	}
	if os.Getenv(EnvMakeTest) == "1" {
		t.Fatalf("real card stack required under make test: %v", err)
		return nil
	}
	t.Skipf("real card stack not available (%v); run `make test`, or `scripts/cardstack.sh up DIR && . DIR/env` first", err)
	return nil
}

func fromEnv(getenv func(string) string) (*Stack, error) {
	if getenv(EnvStack) != "1" {
		return nil, fmt.Errorf("%s is not set", EnvStack)
	}
	s := &Stack{
		Dir:           getenv(EnvStackDir),
		OpenSCModule:  getenv(EnvOpenSCModule),
		OpenSCConf:    getenv(EnvOpenSCConf),
		SoftHSMModule: getenv(EnvSoftHSMModule),
		SoftHSMConf:   getenv(EnvSoftHSMConf),
		SoftHSMLabel:  getenv(EnvSoftHSMLabel),
		SoftHSMPIN:    getenv(EnvSoftHSMPIN),
		SoftHSMCA:     getenv(EnvSoftHSMCA),
		SoftHSMCert:   getenv(EnvSoftHSMCert),
	}
	for name, v := range map[string]string{
		EnvOpenSCModule: s.OpenSCModule, EnvOpenSCConf: s.OpenSCConf, EnvSoftHSMModule: s.SoftHSMModule,
		EnvSoftHSMConf: s.SoftHSMConf, EnvSoftHSMLabel: s.SoftHSMLabel, EnvSoftHSMPIN: s.SoftHSMPIN,
	} {
		if v == "" {
			return nil, fmt.Errorf("%s=1 but %s is empty: source the env file that cardstack.sh wrote", EnvStack, name)
		}
	}
	names := splitList(getenv(EnvReaders))
	addrs := splitList(getenv(EnvVPCDAddrs))
	if len(names) == 0 || len(names) != len(addrs) {
		return nil, fmt.Errorf("%s lists %d readers and %s %d addresses", EnvReaders, len(names), EnvVPCDAddrs, len(addrs))
	}
	for i := range names {
		s.All = append(s.All, Reader{Index: i, Name: names[i], Addr: addrs[i]})
	}
	return s, nil
}

func splitList(v string) []string {
	if v == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

// LongReaderName is the FRIENDLYNAME of the stack's fourth vpcd entry
// (readers 6 and 7): longer than a PKCS#11 slot description.
const LongReaderName = "Virtual PCD D Dual Interface Reader [Contact Reader] with a name past the 64 bytes of a slot (4701F)"

// allocation is the fixed reader table (see the package doc).
func allocation(pkg string) []int {
	switch pkg {
	case "pcsc":
		return []int{0, 1}
	case "vcard":
		return []int{2}
	case "agent":
		return []int{6, 7, 3}
	case "e2e":
		return []int{4, 5}
	}
	return nil
}

// Readers returns the first n readers that package pkg ("pcsc", "vcard",
// "agent", "e2e") owns. It fails the test when pkg has no row in the table
// or not enough readers.
func (s *Stack) Readers(t testing.TB, pkg string, n int) []Reader {
	t.Helper()
	idx := allocation(pkg)
	if len(idx) < n {
		t.Fatalf("stacktest: package %q owns %d readers, test wants %d (see the table in package stacktest)", pkg, len(idx), n)
		return nil
	}
	out := make([]Reader, 0, n)
	for _, i := range idx[:n] {
		if i >= len(s.All) {
			t.Fatalf("stacktest: reader %d of package %q missing: the stack has %d readers", i, pkg, len(s.All))
			return nil
		}
		out = append(out, s.All[i])
	}
	return out
}
