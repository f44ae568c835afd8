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
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

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
	users := cissim.DemoUsers()
	if o.users != "" {
		var err error
		if users, err = cissim.LoadUsers(o.users); err != nil {
			return err
		}
	}
	stateDir := o.stateDir
	if stateDir == "" {
		var err error
		if stateDir, err = cissim.DefaultStateDir(); err != nil {
			return err
		}
	}
	if err := cissim.EnsureStateDir(stateDir); err != nil {
		return err
	}
	var cardCAs []*x509.Certificate
	for _, f := range o.cardCAs {
		certs, err := cissim.LoadCertificates(f)
		if err != nil {
			return err
		}
		cardCAs = append(cardCAs, certs...)
	}
	cardCAFiles := []string(o.cardCAs)
	if len(cardCAs) == 0 {
		ca, _, err := cissim.LoadOrCreateCardCA(stateDir)
		if err != nil {
			return err
		}
		cardCAs = append(cardCAs, ca)
		c, k := cissim.CardCAFiles(stateDir)
		cardCAFiles = []string{c, k}
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	hosts := append([]string{"127.0.0.1", "::1", "localhost"}, o.hostnames...)
	urlHost := urlHostFor(o.addr)
	if len(o.hostnames) > 0 {
		urlHost = o.hostnames[0]
	}
	scheme := "https"
	if o.plainHTTP {
		scheme = "http"
	}
	base := scheme + "://" + net.JoinHostPort(urlHost, port)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sim, err := cissim.New(cissim.Config{
		Users: users, CardCAs: cardCAs, BaseURL: base,
		SessionTime: o.sessionTime, MaxSessionTime: o.maxSessionTime, ChallengeTTL: o.challengeTTL,
		Latency: o.latency, FailRate: o.failRate, Maintenance: o.maintenance, Admin: o.admin, Hostnames: o.hostnames,
		Logger: log, Registerer: reg,
	})
	if err != nil {
		return err
	}
	env := cis.Environment{Name: "cis-sim", GASURL: base, SSBURL: base, PortalURL: base + "/"}
	srv := &http.Server{
		Handler:           sim,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30*time.Second + o.latency,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	tlsCAPath := ""
	if !o.plainHTTP {
		ca, caKey, err := cissim.LoadOrCreateTLSCA(stateDir, o.hostnames, log)
		if err != nil {
			return err
		}
		cert, err := cissim.IssueServerCert(ca, caKey, hosts, time.Now(), nil)
		if err != nil {
			return err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		env.Roots = []*x509.Certificate{ca}
		tlsCAPath, _ = cissim.TLSCAFiles(stateDir)
	}
	envPath, err := cissim.WriteEnvFile(stateDir, env)
	if err != nil {
		return err
	}
	log.Info("cis-sim listening", "addr", ln.Addr().String(), "url", base, "env", envPath,
		"tls_ca", tlsCAPath, "card_ca", strings.Join(cardCAFiles, ","), "users", len(users), "admin", o.admin)

	errc := make(chan error, 1)
	go func() {
		if o.plainHTTP {
			errc <- srv.Serve(ln)
		} else {
			errc <- srv.ServeTLS(ln, "", "")
		}
	}()
	if ready != nil {
		ready <- ln.Addr().String()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("cis-sim shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// urlHostFor picks the host for URLs from the listen address: the address
// itself, or localhost for a wildcard.
func urlHostFor(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		return "localhost"
	}
	return host
}
