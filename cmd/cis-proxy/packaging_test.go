package main

import (
	"bufio"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// readUnit reads a systemd unit file: section, then key, then value.
func readUnit(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unit := map[string]map[string]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if name, ok := strings.CutPrefix(line, "["); ok && strings.HasSuffix(name, "]") {
			section = strings.TrimSuffix(name, "]")
			unit[section] = map[string]string{}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Fatalf("%s: not a unit file line: %q", path, line)
		}
		if _, dup := unit[section][key]; dup {
			t.Errorf("%s: [%s] %s twice", path, section, key)
		}
		unit[section][key] = value
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return unit
}

// TestSystemdUnit: the system unit runs /usr/local/bin/cis-proxy with flags
// the command accepts, reloads with SIGHUP, restarts on failure, gives a
// stop longer than the proxy's graceful shutdown, and is wanted by
// multi-user.target.
func TestSystemdUnit(t *testing.T) {
	unit := readUnit(t, "../../packaging/systemd/cis-proxy.service")
	svc := unit["Service"]
	argv := strings.Fields(svc["ExecStart"])
	if len(argv) == 0 || argv[0] != "/usr/local/bin/cis-proxy" {
		t.Fatalf("ExecStart %q", svc["ExecStart"])
	}
	var o options
	var v flagValues
	fs := newFlagSet(io.Discard, &o, &v)
	if err := fs.Parse(argv[1:]); err != nil || fs.NArg() != 0 {
		t.Errorf("ExecStart's arguments %q: %v, %q left", argv[1:], err, fs.Args())
	}
	if o.configPath != "/etc/cis-proxy/config.yaml" {
		t.Errorf("--config %q: the unit's ConfigurationDirectory is /etc/cis-proxy", o.configPath)
	}
	if svc["ExecReload"] != "/bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload %q", svc["ExecReload"])
	}
	if svc["Restart"] != "on-failure" || svc["Type"] != "simple" || svc["ConfigurationDirectory"] != "cis-proxy" {
		t.Errorf("Restart %q, Type %q, ConfigurationDirectory %q", svc["Restart"], svc["Type"], svc["ConfigurationDirectory"])
	}
	if stop, err := time.ParseDuration(svc["TimeoutStopSec"]); err != nil || stop <= shutdownTimeout {
		t.Errorf("TimeoutStopSec %q: systemd would kill a stop the proxy gives %s", svc["TimeoutStopSec"], shutdownTimeout)
	}
	if unit["Install"]["WantedBy"] != "multi-user.target" || unit["Unit"]["Description"] == "" {
		t.Errorf("Install %v, Unit %v", unit["Install"], unit["Unit"])
	}
}
