package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencis/cisauth/pcsc/vcard"
)

// writeCA writes a card CA under the state-dir names and returns the dir.
func writeCA(t *testing.T) string {
	t.Helper()
	cert, key, err := vcard.NewTestCA("SubCA cis-vcard test", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(caCertFile, "CERTIFICATE", cert.Raw)
	write(caKeyFile, "PRIVATE KEY", kder)
	return dir
}

type result struct {
	code           int
	stdout, stderr string
}

func runCmd(ctx context.Context, stdin string, vars map[string]string, args ...string) result {
	var out, errb bytes.Buffer
	code := run(ctx, args, env{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		getenv: func(k string) string { return vars[k] },
	})
	return result{code, out.String(), errb.String()}
}

func TestProvisionFromStateDir(t *testing.T) {
	state := writeCA(t)
	xdg := filepath.Dir(state)
	// $XDG_STATE_HOME/cis-sim is the default state dir.
	if err := os.Rename(state, filepath.Join(xdg, "cis-sim")); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "card.json")
	r := runCmd(context.Background(), "4321\n", map[string]string{"XDG_STATE_HOME": xdg},
		"provision", "--uid", "555000000001", "--name", "Jones Alice Dr", "--pin-file", "-", "--out", out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	f, err := vcard.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if f.UID != "555000000001" || f.Name != "Jones Alice Dr" || string(f.PIN) != "4321" || f.Cert.Subject.CommonName != "555000000001" {
		t.Fatalf("card file %q %q %q %v", f.UID, f.Name, f.PIN, f.Cert.Subject)
	}
}

func TestProvisionFlags(t *testing.T) {
	state := writeCA(t)
	dir := t.TempDir()
	pinFile := filepath.Join(dir, "pin")
	if err := os.WriteFile(pinFile, []byte("123456\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ok := runCmd(ctx, "", nil, "provision", "--uid", "555000000002", "--ca-cert", filepath.Join(state, caCertFile),
		"--ca-key", filepath.Join(state, caKeyFile), "--pin-file", pinFile, "--retries", "5", "--out", filepath.Join(dir, "a.json"))
	if ok.code != 0 {
		t.Fatalf("explicit CA: exit %d: %s", ok.code, ok.stderr)
	}
	f, err := vcard.Load(filepath.Join(dir, "a.json"))
	if err != nil || string(f.PIN) != "123456" || f.Retries != 5 {
		t.Fatalf("card file: %v %q %d", err, f.PIN, f.Retries)
	}
	ok = runCmd(ctx, "", nil, "provision", "--uid", "555000000003", "--state-dir", state, "--pin", "1234", "--out", filepath.Join(dir, "b.json"))
	if ok.code != 0 {
		t.Fatalf("--pin: exit %d: %s", ok.code, ok.stderr)
	}

	for _, tt := range []struct {
		name string
		code int
		want string
		args []string
	}{
		{"bad uid", 1, "not 12 digits", []string{"--uid", "12345", "--state-dir", state, "--pin", "1234", "--out", filepath.Join(dir, "c.json")}},
		{"no PIN off a terminal", 2, "no PIN", []string{"--uid", "555000000004", "--state-dir", state, "--out", filepath.Join(dir, "c.json")}},
		{"both PIN flags", 2, "not both", []string{"--uid", "555000000004", "--state-dir", state, "--pin", "1234", "--pin-file", pinFile, "--out", filepath.Join(dir, "c.json")}},
		{"no CA", 1, "start cis-sim once", []string{"--uid", "555000000004", "--state-dir", dir, "--pin", "1234", "--out", filepath.Join(dir, "c.json")}},
		{"half a CA", 2, "both --ca-cert and --ca-key", []string{"--uid", "555000000004", "--ca-cert", "x", "--pin", "1234", "--out", filepath.Join(dir, "c.json")}},
		{"missing --out", 2, "needs --uid and --out", []string{"--uid", "555000000004"}},
		{"unknown flag", 2, "flag provided but not defined", []string{"--colour"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(ctx, "", nil, append([]string{"provision"}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tt.code, tt.want)
			}
			if tt.code == 1 && strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("error is not one line: %q", r.stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "c.json")); err == nil {
		t.Error("a failed provision wrote a card file")
	}
}

// serveFakeVPCD accepts one card, asks for its ATR, sends a SELECT and
// reports the replies, then waits for the card to hang up.
func serveFakeVPCD(t *testing.T, ln net.Listener) <-chan []byte {
	t.Helper()
	got := make(chan []byte, 2)
	go func() {
		defer close(got)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		for _, msg := range [][]byte{{0x04}, {0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00}} {
			if _, err := c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(msg)))); err != nil {
				return
			}
			if _, err := c.Write(msg); err != nil {
				return
			}
			var hdr [2]byte
			if _, err := io.ReadFull(c, hdr[:]); err != nil {
				return
			}
			body := make([]byte, binary.BigEndian.Uint16(hdr[:]))
			if _, err := io.ReadFull(c, body); err != nil {
				return
			}
			got <- body
		}
		_, _ = io.Copy(io.Discard, c) // until the card hangs up
	}()
	return got
}

// cardAndVPCD provisions a card file for uid and starts a fake vpcd for it.
func cardAndVPCD(t *testing.T, uid string) (card, addr string, got <-chan []byte) {
	t.Helper()
	state := writeCA(t)
	card = filepath.Join(t.TempDir(), "card.json")
	if r := runCmd(context.Background(), "", nil, "provision", "--uid", uid, "--state-dir", state, "--pin", "1234", "--out", card); r.code != 0 {
		t.Fatalf("provision: %s", r.stderr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return card, ln.Addr().String(), serveFakeVPCD(t, ln)
}

func TestInsertPullAfter(t *testing.T) {
	card, addr, got := cardAndVPCD(t, "555000000005")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := runCmd(ctx, "", nil, "insert", card, "--vpcd", addr, "--pull-after", "300ms")
	if r.code != 0 {
		t.Fatalf("insert: exit %d: %s", r.code, r.stderr)
	}
	if atr := <-got; !bytes.Equal(atr, []byte{0x3B, 0x80, 0x80, 0x01, 0x01}) {
		t.Errorf("ATR %X", atr)
	}
	if sel := <-got; len(sel) < 2 || !bytes.Equal(sel[len(sel)-2:], []byte{0x90, 0x00}) {
		t.Errorf("SELECT reply %X", sel)
	}
	if !strings.Contains(r.stderr, "inserted card 555000000005") || !strings.Contains(r.stderr, "pulled card 555000000005") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestInsertSignalPulls(t *testing.T) {
	card, addr, got := cardAndVPCD(t, "555000000006")
	ctx, cancel := context.WithCancel(context.Background()) // cancel = SIGTERM in main
	done := make(chan result, 1)
	go func() { done <- runCmd(ctx, "", nil, "insert", "--vpcd", addr, card) }()
	<-got
	<-got
	cancel()
	r := <-done
	if r.code != 0 || !strings.Contains(r.stderr, "pulled card") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

func TestInsertErrors(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		code int
		want string
		args []string
	}{
		{"no card file", 2, "one card file", nil},
		{"missing card file", 1, "no such file", []string{filepath.Join(t.TempDir(), "none.json")}},
		{"negative duration", 2, "must not be negative", []string{"x.json", "--pull-after", "-1s"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(ctx, "", nil, append([]string{"insert"}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tt.code, tt.want)
			}
		})
	}
	if r := runCmd(ctx, "", nil, "frobnicate"); r.code != 2 {
		t.Errorf("unknown command: exit %d", r.code)
	}
	if r := runCmd(ctx, "", nil); r.code != 2 {
		t.Errorf("no command: exit %d", r.code)
	}
}

func TestCAPathsDefaults(t *testing.T) {
	for _, tt := range []struct {
		name, stateDir string
		env            map[string]string
		want           string
	}{
		{"XDG_STATE_HOME", "", map[string]string{"XDG_STATE_HOME": "/xdg", "HOME": "/home/a"}, "/xdg/cis-sim"},
		{"relative XDG_STATE_HOME is ignored", "", map[string]string{"XDG_STATE_HOME": "rel", "HOME": "/home/a"}, "/home/a/.local/state/cis-sim"},
		{"HOME", "", map[string]string{"HOME": "/home/a"}, "/home/a/.local/state/cis-sim"},
		{"--state-dir wins", "/s", map[string]string{"XDG_STATE_HOME": "/xdg"}, "/s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, k, err := caPaths("", "", tt.stateDir, func(v string) string { return tt.env[v] })
			if err != nil || c != filepath.Join(tt.want, caCertFile) || k != filepath.Join(tt.want, caKeyFile) {
				t.Fatalf("caPaths = %q, %q, %v; want them in %q", c, k, err, tt.want)
			}
		})
	}
}
