package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cis2"
	"github.com/opencis/cisauth/internal/pemfile"
	"github.com/opencis/cisauth/internal/proxy"
	"github.com/opencis/cisauth/middleware"
)

// shutdownTimeout bounds a graceful stop: requests in flight get this long.
const shutdownTimeout = 30 * time.Second

// Addrs are where a started proxy listens, for tests and the log.
type Addrs struct {
	URL     string // the proxy's own address (scheme://host:port)
	Metrics string // host:port of the metrics listener, or ""
}

// run is the command: it returns the exit status. ready, if not nil, is
// called once the proxy accepts connections; hup delivers reload requests.
func run(ctx context.Context, args []string, stderr io.Writer, hup <-chan os.Signal, ready func(Addrs)) int {
	o, err := parseOptions(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "cis-proxy:", err)
		return 2
	case err != nil:
		fmt.Fprintln(stderr, "cis-proxy:", err)
		return 1
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel}))
	if err := serve(ctx, o, log, hup, ready); err != nil {
		fmt.Fprintln(stderr, "cis-proxy:", err)
		return 1
	}
	return 0
}

// instance is a running proxy's parts.
type instance struct {
	o     *options
	env   cis.Environment
	log   *slog.Logger
	reg   *prometheus.Registry
	redis *redis.Client // nil without --redis
	mw    *middleware.Middleware
	px    *proxy.Proxy
}

func serve(ctx context.Context, o *options, log *slog.Logger, hup <-chan os.Signal, ready func(Addrs)) error {
	// Listen first: an external URL derived from --listen with port 0
	// (tests) is known only then, and build hands it to the middleware
	// (notifications), the SAML bridge (entity ID) and the proxy.
	ln, err := net.Listen("tcp", o.file.Listen)
	if err != nil {
		return err
	}
	o.listening(ln.Addr())
	in, cleanup, err := build(ctx, o, log)
	defer cleanup()
	if err != nil {
		_ = ln.Close()
		return err
	}
	srv := &http.Server{
		Handler: in.px,
		// No ReadTimeout or WriteTimeout: uploads, downloads, streams and
		// WebSockets take as long as they take; a slow client's headers
		// do not.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	go func() {
		if o.file.TLSCert != "" {
			errc <- srv.ServeTLS(ln, o.file.TLSCert, o.file.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	addrs := Addrs{URL: scheme(o) + "://" + ln.Addr().String()}
	if o.file.MetricsListen != "" {
		mln, err := net.Listen("tcp", o.file.MetricsListen)
		if err != nil {
			_ = srv.Close()
			return fmt.Errorf("--metrics-listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(in.reg, promhttp.HandlerOpts{Registry: in.reg}))
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, msrv)
		go func() { errc <- msrv.Serve(mln) }()
		addrs.Metrics = mln.Addr().String()
	}
	log.Info("cis-proxy serving", "listen", addrs.URL, "external_url", o.external.String(), "upstream", o.upstream.String(),
		"env", in.env.Name, "rules", len(o.file.Rules), "saml", o.file.SAML.IDPKey != "", "metrics", addrs.Metrics, "redis", in.redis != nil)
	if ready != nil {
		ready(addrs)
	}
	for {
		select {
		case err := <-errc:
			for _, s := range servers {
				_ = s.Close()
			}
			return err
		case <-hup:
			in.reload()
		case <-ctx.Done():
			log.Info("cis-proxy stopping: finishing requests in flight", "timeout", shutdownTimeout)
			sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			var errs []error
			for _, s := range servers {
				errs = append(errs, s.Shutdown(sctx))
			}
			return errors.Join(errs...)
		}
	}
}

func scheme(o *options) string {
	if o.file.TLSCert != "" {
		return "https"
	}
	return "http"
}

// build assembles the middleware, the proxy and their parts. cleanup
// closes what build opened, also when it fails.
func build(ctx context.Context, o *options, log *slog.Logger) (*instance, func(), error) {
	var closers []func()
	cleanup := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	env, err := cis.ResolveEnvironment(o.file.Env)
	if err != nil {
		return nil, cleanup, err
	}
	in := &instance{o: o, env: env, log: log, reg: prometheus.NewRegistry()}
	in.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := &o.file
	external := o.external.String()
	mc := middleware.Config{
		Env: env, Revalidate: f.Revalidate, Logger: log, Registerer: in.reg,
		Cookie:         middleware.CookieConfig{Insecure: o.external.Scheme == "http"},
		TrustedOrigins: f.TrustedOrigins,
	}
	ticketLogin := env.SSBURL != ""
	if ticketLogin {
		mc.LoginURL = proxy.LoginPagePath
		if *f.Notify {
			mc.Notify.ExternalURL = external
		}
	}
	if f.CookieKeys != "" {
		if mc.Cookie.Keys, err = middleware.LoadCookieKeys(f.CookieKeys); err != nil {
			return nil, cleanup, fmt.Errorf("--cookie-keys: %w", err)
		}
	}
	if f.Redis != "" {
		opt, err := redis.ParseURL(f.Redis)
		if err != nil {
			return nil, cleanup, fmt.Errorf("--redis: %w", err)
		}
		in.redis = redis.NewClient(opt)
		closers = append(closers, func() { _ = in.redis.Close() })
		if mc.Cookie.Keys == nil {
			kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			mc.Cookie.Keys, err = middleware.SharedCookieKeys(kctx, in.redis, f.RedisPrefix)
			cancel()
			if err != nil {
				return nil, cleanup, fmt.Errorf("--redis: shared cookie keys: %w", err)
			}
		}
		store, err := middleware.NewRedisStore(middleware.RedisStoreConfig{Client: in.redis, Prefix: f.RedisPrefix, Logger: log})
		if err != nil {
			return nil, cleanup, err
		}
		closers = append(closers, func() { _ = store.Close() })
		mc.Store = store
	} else if mc.Cookie.Keys == nil {
		log.Info("sessions are kept in this process only, with a cookie key made at start: they end when it stops (--redis or --cookie-keys keep them)")
	}
	if *f.SSOLogout {
		gas, err := cis.NewGASClient(cis.GASConfig{Env: env, Logger: log})
		if err != nil {
			return nil, cleanup, fmt.Errorf("--sso-logout: %w", err)
		}
		mc.SSOLogout = gas
	}
	rp, err := in.relyingParty(ctx)
	if err != nil {
		return nil, cleanup, err
	}
	if rp != nil { // a nil *cis2.RelyingParty in the interface would not be nil
		mc.CIS2.RelyingParty = rp
	}
	if !ticketLogin && mc.CIS2.RelyingParty == nil {
		return nil, cleanup, fmt.Errorf("environment %q has no SSB and no CIS2 client: nobody could log in", env.Name)
	}
	if in.mw, err = middleware.New(mc); err != nil {
		return nil, cleanup, err
	}
	rules, err := proxy.CompileRules(f.Rules)
	if err != nil {
		return nil, cleanup, err
	}
	idp, err := in.newIdP()
	if err != nil {
		return nil, cleanup, err
	}
	var roots *x509.CertPool
	if f.UpstreamCA != "" {
		certs, err := pemfile.LoadCertificates(f.UpstreamCA)
		if err != nil {
			return nil, cleanup, fmt.Errorf("--upstream-ca: %w", err)
		}
		roots = x509.NewCertPool()
		for _, c := range certs {
			roots.AddCert(c)
		}
	}
	login := proxy.LoginPage{Title: o.title, Ticket: ticketLogin, AgentURL: f.AgentURL}
	if mc.CIS2.RelyingParty != nil {
		login.CIS2Path = middleware.DefaultCIS2LoginPath
	}
	in.px, err = proxy.New(proxy.Config{
		Upstream: o.upstream, Middleware: in.mw, Rules: rules, SAML: idp, ExternalURL: o.external,
		TrustedOrigins: f.TrustedOrigins, Login: login, Transport: proxy.NewTransport(roots),
		Ready: in.ready, Logger: log, Registerer: in.reg,
	})
	if err != nil {
		return nil, cleanup, err
	}
	return in, cleanup, nil
}

// relyingParty builds the CIS2 relying party when --cis2 is auto and the
// environment's oidc block names a client, or nil. Its callback is the
// block's redirect_url, or --external-url + /cis/oidc/callback; a
// redirect_url on another origin is some other application's registration
// (cis-sim's demo client is the example app's), so CIS2 stays off.
func (in *instance) relyingParty(ctx context.Context) (*cis2.RelyingParty, error) {
	oidc := in.env.OIDC
	if in.o.cis2 == off || !oidc.Enabled() || oidc.ClientID == "" {
		return nil, nil
	}
	external := in.o.external.String()
	redirect := oidc.RedirectURL
	if redirect == "" {
		redirect = external + middleware.DefaultCIS2CallbackPath
	}
	if u, err := url.Parse(redirect); err != nil || !strings.EqualFold(u.Scheme+"://"+u.Host, external) {
		in.log.Warn("CIS2 logins off: the environment's oidc redirect_url is not under --external-url", "redirect_url", redirect, "external_url", external)
		return nil, nil
	}
	rp, err := cis2.New(ctx, cis2.Config{Env: in.env, RedirectURL: redirect, Logger: in.log})
	if err != nil {
		return nil, fmt.Errorf("CIS2: %w (--cis2 off starts without CIS2)", err)
	}
	in.log.Info("CIS2 logins on", "issuer", rp.Issuer(), "redirect", rp.RedirectURL())
	return rp, nil
}

// ready is the health check's: the session store answers.
func (in *instance) ready(ctx context.Context) error {
	if in.redis == nil {
		return nil
	}
	return in.redis.Ping(ctx).Err()
}
