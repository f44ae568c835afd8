package agent

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/internal/regfile"
)

const regFixtures = "../../testdata/identity-agent"

func readReg(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(regFixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writePEM(t *testing.T, path string, env cis.Environment) {
	t.Helper()
	var b []byte
	for _, c := range env.Roots {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestImportIdentityAgentFiles: each file of NHS Digital's page becomes
// the dev environment with the right mode and device id, and the written
// configuration reads back and builds.
func TestImportIdentityAgentFiles(t *testing.T) {
	for name, want := range map[string]struct {
		mode, deviceID, agent, note string
	}{
		"ia2-64bit.reg":          {"normal", "", "HSCIC Identity Agent (64-bit Windows", ""},
		"ia2-64bit-regedit4.reg": {"normal", "", "HSCIC Identity Agent (64-bit Windows", ""},
		"ia2-32bit.reg":          {"normal", "", "HSCIC Identity Agent (32-bit", ""},
		"ia1-64bit.reg":          {"", "", "HSCIC Identity Agent (64-bit Windows", ""},
		"ia1-32bit.reg":          {"", "", "HSCIC Identity Agent (32-bit", ""},
		"bt-ia13.reg":            {"", "1ef2f9cc", "BT Identity Agent", "UpdateWatcher.enable: not needed"},
	} {
		t.Run(name, func(t *testing.T) {
			im, err := ImportRegistry(readReg(t, name), ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			s := im.Settings
			if s.Env != "dev" || s.Mode != want.mode || s.DeviceID != want.deviceID || !strings.HasPrefix(im.Agent, want.agent) ||
				(want.note != "" && !strings.Contains(strings.Join(im.Notes, "\n"), want.note)) {
				t.Fatalf("imported %+v (agent %q, notes %q)", s, im.Agent, im.Notes)
			}
			y, err := im.YAML(name)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseSettings(y)
			if err != nil {
				t.Fatalf("the written config does not read back: %v\n%s", err, y)
			}
			back.PKCS11Module = "/x/opensc-pkcs11.so"
			b, err := back.Build(nil)
			if err != nil || b.Agent.Env.GASURL != "https://gas.vn03.national.ncrs.nhs.uk" || b.Agent.DeviceID != want.deviceID {
				t.Fatalf("the written config does not build: %v\n%s", err, y)
			}
			if !strings.HasPrefix(string(y), "# cis-agent configuration imported from "+name) {
				t.Errorf("header:\n%s", y)
			}
		})
	}
}

func regFile(lines ...string) []byte {
	return []byte("Windows Registry Editor Version 5.00\r\n\r\n" + strings.Join(lines, "\r\n") + "\r\n")
}

const iaKey = `[HKEY_LOCAL_MACHINE\SOFTWARE\HSCIC\Identity Agent]`

// TestImportOtherEnvironment: a GAS that is not a preset's needs the SSB
// and trust anchors, and is written inline.
func TestImportOtherEnvironment(t *testing.T) {
	data := regFile(iaKey,
		`"ActivatePOSTURL"="https://gas.test.example.nhs.uk/login/authactivate"`,
		`"LogoffPOSTURL"="https://gas.test.example.nhs.uk/login/authlogout"`,
		`"LaunchAppsPath"="https://portal.test.example.nhs.uk"`,
		`"SessionLockPersistence_Enabled"="True"`,
		`"MobilityPersistence_Available"="True"`)
	if _, err := ImportRegistry(data, ImportOptions{}); err == nil || !strings.Contains(err.Error(), "--ssb-url") {
		t.Errorf("no SSB: %v", err)
	}
	if _, err := ImportRegistry(data, ImportOptions{SSBURL: "https://sbapi.test.example.nhs.uk"}); err == nil || !strings.Contains(err.Error(), "--ca") {
		t.Errorf("no trust anchors: %v", err)
	}
	dir := t.TempDir()
	dev, _ := cis.Preset("dev")
	writePEM(t, filepath.Join(dir, "ca.pem"), dev)
	im, err := ImportRegistry(data, ImportOptions{SSBURL: "https://sbapi.test.example.nhs.uk", TrustAnchors: filepath.Join(dir, "ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	if im.Settings.Mode != "session-lock" || !strings.Contains(strings.Join(im.Notes, " "), "session lock is enabled as well") {
		t.Errorf("mode %q, notes %q", im.Settings.Mode, im.Notes)
	}
	y, _ := im.YAML("test.reg")
	os.WriteFile(filepath.Join(dir, "config.yaml"), y, 0o600)
	s, err := LoadSettings(filepath.Join(dir, "config.yaml"), envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	env, err := s.ResolveEnvironment()
	if err != nil || env.GASURL != "https://gas.test.example.nhs.uk" || env.SSBURL != "https://sbapi.test.example.nhs.uk" ||
		env.PortalURL != "https://portal.test.example.nhs.uk" || len(env.Roots) != 2 {
		t.Fatalf("inline environment %+v, %v\n%s", env, err, y)
	}
	var _ *x509.Certificate = env.Roots[0]
}

func TestImportRefusals(t *testing.T) {
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"not a registry file": {[]byte("env: dev\n"), "not a Windows registry export"},
		"a PEM file":          {[]byte("-----BEGIN CERTIFICATE-----\nMIIB\n"), "not a Windows registry export"},
		"no agent key":        {regFile(`[HKEY_CURRENT_USER\Software\Other]`, `"a"="b"`), "no Identity Agent settings"},
		"no activate URL":     {regFile(iaKey, `"LaunchAppsPath"="https://portal.vn03.national.ncrs.nhs.uk"`), "no activate URL"},
		"wrong activate path": {regFile(iaKey, `"ActivatePOSTURL"="https://gas.vn03.national.ncrs.nhs.uk/login"`), "/login/authactivate"},
		"logout elsewhere": {regFile(iaKey, `"ActivatePOSTURL"="https://gas.vn03.national.ncrs.nhs.uk/login/authactivate"`,
			`"LogoffPOSTURL"="https://evil.example/login/authlogout"`), "not on GAS"},
		"two activate URLs": {regFile(iaKey, `"ActivatePOSTURL"="https://gas.vn03.national.ncrs.nhs.uk/login/authactivate"`,
			`[HKEY_LOCAL_MACHINE\SOFTWARE\Wow6432Node\HSCIC\Identity Agent]`,
			`"ActivatePOSTURL"="https://gas.other.example/login/authactivate"`), "two different"},
		"bad flag": {regFile(iaKey, `"ActivatePOSTURL"="https://gas.vn03.national.ncrs.nhs.uk/login/authactivate"`,
			`"SessionLockPersistence_Enabled"="Maybe"`), "True or False"},
		"deleted key": {regFile(`[-HKEY_LOCAL_MACHINE\SOFTWARE\HSCIC\Identity Agent]`), "deletes the key"},
		"binary URL":  {regFile(iaKey, `"ActivatePOSTURL"=hex:01,02`), "binary data"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ImportRegistry(c.data, ImportOptions{})
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line with %q", err, c.want)
			}
		})
	}
	if _, err := ImportRegistry([]byte("hello"), ImportOptions{}); !errors.Is(err, regfile.ErrNotRegistry) {
		t.Errorf("not a registry file: %v", err)
	}
}
