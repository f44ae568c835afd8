// Command webapp is the example supplier application: a small
// patient-records site behind the CIS middleware (package
// examples/webapp/internal/records), logging people in with the SSO ticket
// of their smartcard session.
//
//	webapp --env NAME|FILE [--listen 127.0.0.1:8080]
//	       [--agent-url http://127.0.0.1:7444|none]
//	       [--tls-cert FILE --tls-key FILE | --insecure-cookie]
//	       [--redis URL [--redis-prefix webapp:] --cookie-keys FILE] [--sso-logout]
//	       [--revalidate 60s] [--session-check 15s] [--log-level info]
//	       [--cis2 auto|off] [--oidc-client-id ID]
//	       [--oidc-client-secret-file FILE | --oidc-key-file FILE]
//	       [--oidc-redirect-url URL] [--oidc-post-logout-url URL]
//
// With the simulator: `webapp --env ~/.local/state/cis-sim/env.yaml
// --insecure-cookie`, then open http://127.0.0.1:8080 (`make demo` does
// this). The login page offers the ticket login and, when the environment
// has an oidc block (cis-sim's env.yaml has one for its demo client),
// "Log in with CIS2". See examples/webapp/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cis2"
	"github.com/opencis/cisauth/examples/webapp/internal/records"
	"github.com/opencis/cisauth/middleware"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr, nil)
	stop()
	os.Exit(code)
}

// options are the parsed flags.
type options struct {
	env            string
	listen         string
	agentURL       string
	tlsCert        string
	tlsKey         string
	insecureCookie bool
	redisURL       string
	redisPrefix    string
	cookieKeys     string
	ssoLogout      bool
	revalidate     time.Duration
	sessionCheck   time.Duration
	logLevel       slog.Level
	cis2           string // cis2Auto or cis2Off
	oidc           cis2Flags
}

// Values of --cis2.
const (
	cis2Auto = "auto" // CIS2 logins when the environment has an oidc block
	cis2Off  = "off"  // never
)

// cis2Flags override the environment's oidc block: what an application's
// own registration supplies (a preset such as cis2-int has none of it).
type cis2Flags struct {
	clientID, secretFile, keyFile, redirectURL, postLogoutURL string
}

func (c cis2Flags) set() bool { return c != cis2Flags{} }

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("webapp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.env, "env", "", "CIS environment: a preset name (dev, local) or an environment `file` such as cis-sim's env.yaml")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "`address` to serve on")
	fs.StringVar(&o.agentURL, "agent-url", records.DefaultAgentURL, "base `URL` of the workstation agent's Ticket API, or none")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "serve HTTPS with this certificate `file` (PEM)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "the certificate's key `file` (PEM)")
	fs.BoolVar(&o.insecureCookie, "insecure-cookie", false, "plain HTTP on a loopback address: a session cookie without Secure and the __Host- prefix (development only)")
	fs.StringVar(&o.redisURL, "redis", "", "keep sessions in Redis at this `URL` (redis://…, rediss://…, unix://…), shared by every instance; needs --cookie-keys")
	fs.StringVar(&o.redisPrefix, "redis-prefix", "webapp:", "`prefix` of the app's Redis keys (the same on every instance)")
	fs.StringVar(&o.cookieKeys, "cookie-keys", "", "`file` of cookie signing keys, one per line (at least 32 bytes each; the first signs)")
	fs.BoolVar(&o.ssoLogout, "sso-logout", false, "the app's logout also ends the smartcard (SSO) session at GAS")
	fs.DurationVar(&o.revalidate, "revalidate", middleware.DefaultRevalidate, "how often a session is checked with the SSB")
	fs.DurationVar(&o.sessionCheck, "session-check", records.DefaultSessionCheck, "how often an open page checks its session")
	fs.TextVar(&o.logLevel, "log-level", slog.LevelInfo, "log `level`: debug, info, warn, error")
	fs.StringVar(&o.cis2, "cis2", cis2Auto, "`auto`: offer \"Log in with CIS2\" when the environment has an oidc block; off: never")
	fs.StringVar(&o.oidc.clientID, "oidc-client-id", "", "CIS2 client `id` (overrides the environment's oidc.client_id)")
	fs.StringVar(&o.oidc.secretFile, "oidc-client-secret-file", "", "`file` holding the CIS2 client secret (client_secret_basic)")
	fs.StringVar(&o.oidc.keyFile, "oidc-key-file", "", "PEM private key `file` for CIS2 private_key_jwt")
	fs.StringVar(&o.oidc.redirectURL, "oidc-redirect-url", "", "this app's registered CIS2 callback `URL` (…/cis/oidc/callback)")
	fs.StringVar(&o.oidc.postLogoutURL, "oidc-post-logout-url", "", "registered `URL` CIS2 sends the browser to after a logout")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.env == "" {
		return nil, errors.New("--env is required (a preset name or an environment file, e.g. cis-sim's env.yaml)")
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	tls := o.tlsCert != ""
	host, _, err := net.SplitHostPort(o.listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: %w", o.listen, err)
	}
	switch {
	case tls && o.insecureCookie:
		return nil, errors.New("--insecure-cookie is for plain HTTP; over HTTPS the cookie is always Secure")
	case !tls && !o.insecureCookie:
		return nil, errors.New("plain HTTP needs --insecure-cookie (loopback only), or serve HTTPS with --tls-cert and --tls-key: browsers do not send a Secure cookie over plain HTTP")
	case o.insecureCookie && !cis.IsLoopbackHost(host):
		return nil, fmt.Errorf("--insecure-cookie only on a loopback address, not %q: elsewhere serve HTTPS", host)
	}
	if o.redisURL != "" && o.cookieKeys == "" {
		return nil, errors.New("--redis needs --cookie-keys: every instance must sign cookies with the same keys")
	}
	switch {
	case o.cis2 != cis2Auto && o.cis2 != cis2Off:
		return nil, fmt.Errorf("--cis2 %q: want auto or off", o.cis2)
	case o.cis2 == cis2Off && o.oidc.set():
		return nil, errors.New("--oidc-* flags with --cis2 off")
	case o.oidc.secretFile != "" && o.oidc.keyFile != "":
		return nil, errors.New("--oidc-client-secret-file or --oidc-key-file, not both")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stderr io.Writer, ready func(addr string)) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "webapp:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel}))
	if err := serve(ctx, o, log, ready); err != nil {
		fmt.Fprintln(stderr, "webapp:", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, o *options, log *slog.Logger, ready func(addr string)) error {
	env, err := cis.ResolveEnvironment(o.env)
	if err != nil {
		return err
	}
	mc := middleware.Config{
		Env: env, Revalidate: o.revalidate, Logger: log,
		Cookie: middleware.CookieConfig{Insecure: o.insecureCookie},
	}
	if o.cookieKeys != "" {
		if mc.Cookie.Keys, err = middleware.LoadCookieKeys(o.cookieKeys); err != nil {
			return fmt.Errorf("--cookie-keys: %w", err)
		}
	}
	if o.redisURL != "" {
		opt, err := redis.ParseURL(o.redisURL)
		if err != nil {
			return fmt.Errorf("--redis: %w", err)
		}
		client := redis.NewClient(opt)
		defer client.Close()
		store, err := middleware.NewRedisStore(middleware.RedisStoreConfig{Client: client, Prefix: o.redisPrefix, Logger: log})
		if err != nil {
			return err
		}
		defer store.Close()
		mc.Store = store
	}
	if o.ssoLogout {
		gas, err := cis.NewGASClient(cis.GASConfig{Env: env, Logger: log})
		if err != nil {
			return err
		}
		mc.SSOLogout = gas
	}
	rp, err := relyingParty(ctx, o, env, log)
	if err != nil {
		return err
	}
	if rp != nil {
		mc.CIS2.RelyingParty = rp
	}
	app, err := records.New(records.Config{CIS: mc, AgentURL: o.agentURL, SessionCheck: o.sessionCheck})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           app,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if o.tlsCert != "" {
		scheme = "https"
	}
	url := scheme + "://" + ln.Addr().String()
	log.Info("serving the example app", "url", url, "env", env.Name, "agent", o.agentURL, "cis2", mc.CIS2.RelyingParty != nil)
	if ready != nil {
		ready(url)
	}
	done := make(chan error, 1)
	go func() {
		if o.tlsCert != "" {
			done <- srv.ServeTLS(ln, o.tlsCert, o.tlsKey)
		} else {
			done <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// relyingParty builds the CIS2 relying party when CIS2 is on and the
// environment has an oidc block (nil, nil otherwise): the environment's
// client registration with the --oidc-* flags over it. It fetches the
// provider's discovery document, so a provider that cannot be reached
// stops the start.
func relyingParty(ctx context.Context, o *options, env cis.Environment, log *slog.Logger) (*cis2.RelyingParty, error) {
	if o.cis2 == cis2Off {
		return nil, nil
	}
	if !env.OIDC.Enabled() {
		if o.oidc.set() {
			return nil, fmt.Errorf("--oidc-* flags, but environment %q has no oidc block (no CIS2 issuer)", env.Name)
		}
		return nil, nil
	}
	// A credential file named by a flag replaces the environment's
	// (either kind).
	if o.oidc.secretFile != "" || o.oidc.keyFile != "" {
		env.OIDC.ClientSecretFile, env.OIDC.KeyFile = o.oidc.secretFile, o.oidc.keyFile
	}
	rp, err := cis2.New(ctx, cis2.Config{
		Env: env, ClientID: o.oidc.clientID, RedirectURL: o.oidc.redirectURL,
		PostLogoutRedirectURL: o.oidc.postLogoutURL, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("CIS2: %w (the --oidc-* flags supply what the environment lacks; --cis2 off starts without CIS2)", err)
	}
	log.Info("CIS2 logins on", "issuer", rp.Issuer(), "redirect", rp.RedirectURL())
	return rp, nil
}
