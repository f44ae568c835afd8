package stacktest

import (
	"os"
	"strings"
	"testing"
)

// recTB records Skip and Fatal instead of ending the test.
type recTB struct {
	testing.TB
	skipped, failed string
}

func (r *recTB) Helper()                        {}
func (r *recTB) Skipf(f string, a ...any)       { r.skipped = f }
func (r *recTB) Fatalf(f string, a ...any)      { r.failed = f }
func (r *recTB) Errorf(format string, a ...any) { r.failed = format }

func TestRequireSkipsOutsideMakeTest(t *testing.T) {
	t.Setenv(EnvStack, "")
	t.Setenv(EnvMakeTest, "")
	r := &recTB{TB: t}
	if s := Require(r); s != nil || r.skipped == "" || r.failed != "" {
		t.Fatalf("Require without the stack: stack %v, skipped %q, failed %q", s, r.skipped, r.failed)
	}
}

func TestRequireFailsUnderMakeTest(t *testing.T) {
	t.Setenv(EnvStack, "")
	t.Setenv(EnvMakeTest, "1")
	r := &recTB{TB: t}
	if s := Require(r); s != nil || r.failed == "" || r.skipped != "" {
		t.Fatalf("Require under make test without the stack: stack %v, skipped %q, failed %q", s, r.skipped, r.failed)
	}
}

func testEnv(over map[string]string) func(string) string {
	env := map[string]string{
		EnvStack: "1", EnvStackDir: "/tmp/stack", EnvOpenSCModule: "/x/opensc-pkcs11.so", EnvOpenSCConf: "/tmp/stack/opensc.conf",
		EnvSoftHSMModule: "/x/libsofthsm2.so", EnvSoftHSMConf: "/tmp/stack/softhsm/softhsm2.conf",
		EnvSoftHSMLabel: "cisauth-ci", EnvSoftHSMPIN: "123456",
		EnvReaders: "Virtual PCD 00 00,Virtual PCD 00 01,Virtual PCD B 00 00,Virtual PCD B 00 01," +
			"Virtual PCD C 00 00,Virtual PCD C 00 01," + LongReaderName + " 00 00," + LongReaderName + " 00 01",
		EnvVPCDAddrs: "127.0.0.1:35963,127.0.0.1:35964,127.0.0.1:35979,127.0.0.1:35980," +
			"127.0.0.1:35995,127.0.0.1:35996,127.0.0.1:36011,127.0.0.1:36012",
	}
	for k, v := range over {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

func TestFromEnv(t *testing.T) {
	s, err := fromEnv(testEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.All) != 8 || s.All[2] != (Reader{Index: 2, Name: "Virtual PCD B 00 00", Addr: "127.0.0.1:35979"}) {
		t.Fatalf("readers %+v", s.All)
	}
	for name, over := range map[string]map[string]string{
		"stack unset":    {EnvStack: ""},
		"module missing": {EnvOpenSCModule: ""},
		"no OpenSC conf": {EnvOpenSCConf: ""},
		"count mismatch": {EnvVPCDAddrs: "127.0.0.1:35963"},
		"no readers":     {EnvReaders: "", EnvVPCDAddrs: ""},
	} {
		if _, err := fromEnv(testEnv(over)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestReadersAllocationIsDisjoint(t *testing.T) {
	s, err := fromEnv(testEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]string{}
	for _, pkg := range []string{"pcsc", "vcard", "agent", "e2e"} {
		for _, r := range s.Readers(t, pkg, len(allocation(pkg))) {
			if other, dup := seen[r.Index]; dup {
				t.Fatalf("reader %d given to %s and %s", r.Index, other, pkg)
			}
			seen[r.Index] = pkg
		}
	}
	if got := s.Readers(t, "pcsc", 2); got[0].Name != "Virtual PCD 00 00" || got[1].Name != "Virtual PCD 00 01" {
		t.Errorf("pcsc readers %+v", got)
	}
	if got := s.Readers(t, "e2e", 2); got[0].Name != "Virtual PCD C 00 00" || got[1].Addr != "127.0.0.1:35996" {
		t.Errorf("e2e readers %+v", got)
	}
	// The agent's first two readers are the long-named pair.
	if got := s.Readers(t, "agent", 3); len(got[0].Name) <= 64 || got[0].Name[:64] != got[1].Name[:64] ||
		got[0].Name == got[1].Name || got[1].Addr != "127.0.0.1:36012" || got[2].Name != "Virtual PCD B 00 01" {
		t.Errorf("agent readers %+v", got)
	}
	r := &recTB{TB: t}
	if s.Readers(r, "vcard", 2); !strings.Contains(r.failed, "owns") {
		t.Errorf("too many readers: failed %q", r.failed)
	}
	r = &recTB{TB: t}
	if s.Readers(r, "nobody", 1); r.failed == "" {
		t.Error("unknown package got readers")
	}
}

// TestLongReaderNameMatchesScript: the name the tests expect is the one
// scripts/cardstack.sh gives pcscd.
func TestLongReaderNameMatchesScript(t *testing.T) {
	b, err := os.ReadFile("../../scripts/cardstack.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `LONG_NAME="`+LongReaderName+`"`) {
		t.Errorf("scripts/cardstack.sh does not set LONG_NAME to %q", LongReaderName)
	}
	if len(LongReaderName+" 00 00") <= 64 {
		t.Error("LongReaderName must make reader names longer than a PKCS#11 slot description")
	}
}
