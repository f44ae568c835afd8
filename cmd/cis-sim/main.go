// Command cis-sim runs the CIS GAS/SSB simulator (package cissim) on a
// local address, over HTTPS with a certificate from a local CA kept in its
// state directory, and writes env.yaml there so that every client's --env
// flag can point at it.
//
//	cis-sim [--addr 127.0.0.1:7443] [--users FILE] [--card-ca PEM]...
//	        [--state-dir DIR] [--hostname NAME]... [--http]
//	        [--session-time 10h] [--max-session-time 10h] [--challenge-ttl 2m]
//	        [--latency 0s] [--fail-rate 0] [--maintenance "Mon 20:00-Tue 06:00"]...
//	        [--admin] [--log-level info]
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
	logLevel       slog.Level
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
	fs.TextVar(&o.logLevel, "log-level", slog.LevelInfo, "log `level`: debug, info, warn, error")
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
	for name, d := range map[string]time.Duration{"session-time": o.sessionTime, "max-session-time": o.maxSessionTime, "challenge-ttl": o.challengeTTL} {
		if d <= 0 {
			return nil, fmt.Errorf("invalid value %s for flag -%s: must be positive", d, name)
		}
	}
	if o.latency < 0 {
		return nil, errors.New("invalid value for flag -latency: must not be negative")
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
		Simulator: cissim.Config{
			SessionTime: o.sessionTime, MaxSessionTime: o.maxSessionTime, ChallengeTTL: o.challengeTTL,
			Latency: o.latency, FailRate: o.failRate, Maintenance: o.maintenance, Admin: o.admin,
		},
		Logger: log,
	}
	if o.users != "" {
		users, err := cissim.LoadUsers(o.users)
		if err != nil {
			return err
		}
		cfg.Simulator.Users = users
	}
	if ready != nil {
		cfg.Ready = func(r cissim.Running) { ready <- r.Addr }
	}
	return cissim.Serve(ctx, cfg)
}
