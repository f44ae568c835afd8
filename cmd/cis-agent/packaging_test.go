package main

import (
	"bufio"
	"encoding/xml"
	"io"
	"os"
	"strings"
	"testing"
)

// TestSystemdUnit: the user unit runs "cis-agent run" from the user's
// ~/.local/bin, restarts on failure, and is wanted by the user's session.
func TestSystemdUnit(t *testing.T) {
	f, err := os.Open("../../packaging/systemd/cis-agent.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sections := map[string]map[string]string{}
	var cur string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			cur = line[1 : len(line)-1]
			sections[cur] = map[string]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || cur == "" {
				t.Fatalf("not a unit file line: %q", line)
			}
			sections[cur][k] = v
		}
	}
	svc := sections["Service"]
	if svc["ExecStart"] != "%h/.local/bin/cis-agent run --pin-entry web" || svc["Restart"] != "on-failure" ||
		sections["Install"]["WantedBy"] != "default.target" || sections["Unit"]["Description"] == "" {
		t.Errorf("unit %v", sections)
	}
}

// TestLaunchdPlist: the launch agent is a well-formed plist that runs
// "cis-agent run" at login.
func TestLaunchdPlist(t *testing.T) {
	b, err := os.ReadFile("../../packaging/launchd/org.opencis.cis-agent.plist")
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(strings.NewReader(string(b)))
	var keys, strs []string
	var last string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			last = tok.Name.Local
		case xml.CharData:
			if s := strings.TrimSpace(string(tok)); s != "" {
				if last == "key" {
					keys = append(keys, s)
				} else if last == "string" {
					strs = append(strs, s)
				}
			}
		}
	}
	got := strings.Join(strs, " ")
	if !strings.Contains(got, "org.opencis.cis-agent /usr/local/bin/cis-agent run") ||
		!strings.Contains(strings.Join(keys, " "), "Label ProgramArguments RunAtLoad KeepAlive") {
		t.Errorf("keys %v, strings %v", keys, strs)
	}
}
