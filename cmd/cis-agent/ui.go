package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/opencis/cisauth/internal/agent"
)

// cmdUI asks the running agent for a fresh one-time link to its page and
// opens it in the browser.
func cmdUI(ctx context.Context, args []string, s stdio) error {
	fs := flag.NewFlagSet("cis-agent ui", flag.ContinueOnError)
	sf := newSettingsFlags(fs)
	noOpen := fs.Bool("no-open", false, "print the link, do not open a browser")
	if _, err := parse(fs, args, s.stderr); err != nil {
		return err
	}
	settings, err := sf.settings(s.getenv)
	if err != nil {
		return err
	}
	b, err := settings.Build(nil)
	if err != nil {
		return err
	}
	link, err := uiLink(ctx, b.Server)
	if err != nil {
		return err
	}
	fmt.Fprintln(s.stdout, link)
	if *noOpen {
		return nil
	}
	opener := "xdg-open"
	if runtime.GOOS == "darwin" {
		opener = "open"
	}
	if err := exec.CommandContext(ctx, opener, link).Start(); err != nil {
		fmt.Fprintf(s.stderr, "cis-agent ui: cannot start %s (%v): open the link by hand\n", opener, err)
	}
	return nil
}

// uiLink asks the agent for a link: over the unix socket (its peer
// credentials suffice), else over TCP with the secret.
func uiLink(ctx context.Context, sc agent.ServerConfig) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var (
		c    = &http.Client{}
		base = "http://" + sc.Addr
		auth string
	)
	switch {
	case sc.Socket != "":
		c.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sc.Socket)
		}}
		base = "http://cis-agent"
	case sc.Addr != "":
		secret, err := agent.ReadSecret(sc.SecretFile)
		if err != nil {
			return "", err
		}
		auth = "Bearer " + string(secret)
	default:
		return "", errors.New("no listener configured to reach the agent")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/ui/link", nil)
	if err != nil {
		return "", err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("is the agent running (cis-agent run)? %w", err)
	}
	defer resp.Body.Close()
	var v struct{ URL, Error string }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("the agent said %d: %s", resp.StatusCode, strings.TrimSpace(v.Error))
	}
	return v.URL, nil
}
