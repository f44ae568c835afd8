// Command cis-sim runs the CIS GAS/SSB simulator (package cissim) on a
// local address, over HTTPS with a certificate from a local CA kept in its
// state directory, and writes env.yaml there so that every client's --env
// flag can point at it.
//
//	cis-sim [--addr 127.0.0.1:7443] [--users FILE] [--card-ca PEM]...
//	        [--state-dir DIR] [--hostname NAME]... [--http]
//	        [--session-time 10h] [--max-session-time 10h] [--challenge-ttl 2m]
//	        [--notify-timeout 5s] [--notify-role-change]
//	        [--latency 0s] [--fail-rate 0] [--maintenance "Mon 20:00-Tue 06:00"]...
//	        [--admin] [--log-level info]
//	        [--oidc-client ID:SECRET:REDIRECT_URI]... [--oidc-clients FILE]
//	        [--oidc-demo-redirect URL]... [--no-oidc-demo-client]
//	        [--oidc-rotate-key] [--oidc-agent-url URL|none]
//	        [--oidc-code-ttl 1m] [--oidc-access-token-ttl 10m] [--oidc-id-token-ttl 10m]
//
// See docs/cis-sim.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cissim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr, nil)
	stop()
	os.Exit(code)
}

// options are the parsed flags.
type options struct {
	addr           string
	users          string
	cardCAs        listFlag
	stateDir       string
	hostnames      listFlag
	plainHTTP      bool
	sessionTime    time.Duration
	maxSessionTime time.Duration
	challengeTTL   time.Duration
	latency        time.Duration
	failRate       float64
	maintenance    slotsFlag
	admin          bool
	notifyTimeout  time.Duration
	notifyRole     bool
	logLevel       slog.Level

	oidcClients      []cissim.OIDCClient
	oidcClientsFile  string
	oidcDemoRedirect listFlag
	noOIDCDemo       bool
	oidcRotateKey    bool
	oidcAgentURL     string
	oidcCodeTTL      time.Duration
	oidcAccessTTL    time.Duration
	oidcIDTokenTTL   time.Duration
}

// oidcClientFlag parses repeated --oidc-client ID:SECRET:REDIRECT_URI.
type oidcClientFlag struct{ clients *[]cissim.OIDCClient }

func (f oidcClientFlag) String() string {
	if f.clients == nil {
		return ""
	}
	var ids []string
	for _, c := range *f.clients {
		ids = append(ids, c.ID)
	}
	return strings.Join(ids, ",")
}

func (f oidcClientFlag) Set(v string) error {
	c, err := cissim.ParseOIDCClientFlag(v)
	if err != nil {
		return err
	}
	*f.clients = append(*f.clients, c)
	return nil
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type slotsFlag []cis.MaintenanceSlot

func (s *slotsFlag) String() string {
	var parts []string
	for _, x := range *s {
		parts = append(parts, x.String())
	}
	return strings.Join(parts, ",")
}

func (s *slotsFlag) Set(v string) error {
	slot, err := cis.ParseMaintenanceSlot("cis-sim", v)
	if err != nil {
		return err
	}
	*s = append(*s, slot)
	return nil
}

type failRateFlag struct{ p *float64 }

func (f failRateFlag) String() string {
	if f.p == nil {
		return "0"
	}
	return strconv.FormatFloat(*f.p, 'g', -1, 64)
}

func (f failRateFlag) Set(v string) error {
	x, err := strconv.ParseFloat(v, 64)
	if err != nil || x < 0 || x > 1 {
		return errors.New("want a fraction between 0 and 1")
	}
	*f.p = x
	return nil
}

// parseFlags parses args; errors are one line, for exit status 2.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("cis-sim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.addr, "addr", cis.DefaultSimulatorAddr, "listen `address` (host:port)")
	fs.StringVar(&o.users, "users", "", "users `file` (YAML; default: the built-in demo users)")
	fs.Var(&o.cardCAs, "card-ca", "card CA certificate `PEM` file (repeatable; default: the state dir's card-ca.pem, created if missing)")
	fs.StringVar(&o.stateDir, "state-dir", "", "state `directory` (default $XDG_STATE_HOME/cis-sim, else ~/.local/state/cis-sim)")
	fs.Var(&o.hostnames, "hostname", "host `name` for URLs and the TLS certificate (repeatable; the first names the URLs)")
	fs.BoolVar(&o.plainHTTP, "http", false, "serve plain HTTP instead of HTTPS")
	fs.DurationVar(&o.sessionTime, "session-time", cissim.DefaultSessionTime, "SSO session idle timeout")
	fs.DurationVar(&o.maxSessionTime, "max-session-time", cissim.DefaultMaxSessionTime, "SSO session maximum lifetime")
	fs.DurationVar(&o.challengeTTL, "challenge-ttl", cissim.DefaultChallengeTTL, "how long an activate challenge may be answered")
	fs.DurationVar(&o.latency, "latency", 0, "latency added to every protocol request")
	fs.Var(failRateFlag{&o.failRate}, "fail-rate", "`fraction` of protocol requests answered with HTTP 500")
	fs.Var(&o.maintenance, "maintenance", "weekly maintenance `slot` in Europe/London time, e.g. \"Mon 20:00-Tue 06:00\" (repeatable)")
	fs.BoolVar(&o.admin, "admin", false, "enable the /_sim/ admin API (loopback clients only)")
	fs.DurationVar(&o.notifyTimeout, "notify-timeout", cissim.DefaultNotifyTimeout, "time allowed for each session notification POSTed to a session listener")
	fs.BoolVar(&o.notifyRole, "notify-role-change", false, "also notify session listeners (type 6, property changed) when a role is selected")
	fs.TextVar(&o.logLevel, "log-level", slog.LevelInfo, "log `level`: debug, info, warn, error")
	fs.Var(oidcClientFlag{&o.oidcClients}, "oidc-client", "register a CIS2 client `ID:SECRET:REDIRECT_URI` (repeatable; a repeated ID adds redirect URIs)")
	fs.StringVar(&o.oidcClientsFile, "oidc-clients", "", "CIS2 clients `file` (YAML; secrets or public keys for private_key_jwt)")
	fs.Var(&o.oidcDemoRedirect, "oidc-demo-redirect", "redirect `URL` of the demo client (repeatable; default http://127.0.0.1:8080/cis/oidc/callback and the localhost one)")
	fs.BoolVar(&o.noOIDCDemo, "no-oidc-demo-client", false, "do not register the demo client (env.yaml then has no client in its oidc block)")
	fs.BoolVar(&o.oidcRotateKey, "oidc-rotate-key", false, "make a new ID token signing key; the current one stays in the JWKS until the next rotation")
	fs.StringVar(&o.oidcAgentURL, "oidc-agent-url", cissim.DefaultAgentURL, "`URL` of the local agent the login page asks for the ticket (none: paste field only)")
	fs.DurationVar(&o.oidcCodeTTL, "oidc-code-ttl", cissim.DefaultOIDCCodeTTL, "how long an authorization code may be redeemed")
	fs.DurationVar(&o.oidcAccessTTL, "oidc-access-token-ttl", cissim.DefaultOIDCAccessTokenTTL, "access token lifetime")
	fs.DurationVar(&o.oidcIDTokenTTL, "oidc-id-token-ttl", cissim.DefaultOIDCIDTokenTTL, "ID token lifetime")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, "usage: cis-sim [flags]   (see docs/cis-sim.md)")
			fs.PrintDefaults()
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for name, d := range map[string]time.Duration{
		"session-time": o.sessionTime, "max-session-time": o.maxSessionTime, "challenge-ttl": o.challengeTTL,
		"oidc-code-ttl": o.oidcCodeTTL, "oidc-access-token-ttl": o.oidcAccessTTL, "oidc-id-token-ttl": o.oidcIDTokenTTL,
	} {
		if d <= 0 {
			return nil, fmt.Errorf("invalid value %s for flag -%s: must be positive", d, name)
		}
	}
	if o.latency < 0 {
		return nil, errors.New("invalid value for flag -latency: must not be negative")
	}
	if o.notifyTimeout <= 0 {
		return nil, fmt.Errorf("invalid value %s for flag -notify-timeout: must be positive", o.notifyTimeout)
	}
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		return nil, fmt.Errorf("invalid value %q for flag -addr: %v", o.addr, err)
	}
	return o, nil
}

// run is the command; ready, if not nil, receives the listen address once
// the server accepts connections (for tests).
func run(ctx context.Context, args []string, stderr io.Writer, ready chan<- string) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "cis-sim:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel}))
	if err := serve(ctx, o, log, ready); err != nil {
		fmt.Fprintln(stderr, "cis-sim:", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, o *options, log *slog.Logger, ready chan<- string) error {
	cfg := cissim.ServeConfig{
		Addr: o.addr, StateDir: o.stateDir, CardCAFiles: o.cardCAs, Hostnames: o.hostnames, PlainHTTP: o.plainHTTP,
		OIDCRotateKey: o.oidcRotateKey, NoOIDCDemoClient: o.noOIDCDemo, OIDCDemoRedirectURIs: o.oidcDemoRedirect,
		Simulator: cissim.Config{
			SessionTime: o.sessionTime, MaxSessionTime: o.maxSessionTime, ChallengeTTL: o.challengeTTL,
			Latency: o.latency, FailRate: o.failRate, Maintenance: o.maintenance, Admin: o.admin,
			OIDC: cissim.OIDCConfig{
				Clients: o.oidcClients, AgentURL: o.oidcAgentURL,
				CodeTTL: o.oidcCodeTTL, AccessTokenTTL: o.oidcAccessTTL, IDTokenTTL: o.oidcIDTokenTTL,
			},
		},
		Logger: log,
	}
	if o.oidcClientsFile != "" {
		cs, err := cissim.LoadOIDCClients(o.oidcClientsFile)
		if err != nil {
			return err
		}
		cfg.Simulator.OIDC.Clients = append(cfg.Simulator.OIDC.Clients, cs...)
	}
	if o.users != "" {
		users, err := cissim.LoadUsers(o.users)
		if err != nil {
			return err
		}
		cfg.Simulator.Users = users
	}
	cfg.Simulator.NotifyTimeout, cfg.Simulator.NotifyRoleChange = o.notifyTimeout, o.notifyRole
	if ready != nil {
		cfg.Ready = func(r cissim.Running) { ready <- r.Addr }
	}
	return cissim.Serve(ctx, cfg)
}
