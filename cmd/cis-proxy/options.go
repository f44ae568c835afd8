package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/internal/cliflag"
	"github.com/opencis/cisauth/internal/proxy"
	"github.com/opencis/cisauth/middleware"
)

// usageText heads the --help output.
const usageText = `usage: cis-proxy --env NAME|FILE --upstream URL [--config FILE] [flags]   (see docs/cis-proxy.md)

Puts NHS CIS smartcard logins in front of a web application: keeps the session, checks each
path's rule (activities, job roles, organisations) and forwards the user and selected role in
X-CIS-* headers. Every flag is also a key of the --config file (same name, _ for -); a flag
given here wins. SIGHUP reloads the file's rules and SAML service providers.

`

// errUsage marks a bad command line (exit status 2).
var errUsage = errors.New("usage")

// Defaults of the flags.
const (
	defaultListen        = "127.0.0.1:8090"
	defaultAgentURL      = "http://127.0.0.1:7444"
	defaultMetricsListen = "127.0.0.1:9464"
	defaultRedisPrefix   = "cis-proxy:"
	off                  = "off"
)

// options are the command line: the configuration file's settings with
// the flags given over them, and what is derived from both.
type options struct {
	configPath string
	file       proxy.File      // the settings in effect: file, then flags
	flags      proxy.File      // the flags alone, laid over the file again on reload
	set        map[string]bool // the flags given
	cis2       string
	title      string
	logLevel   slog.Level

	external *url.URL
	upstream *url.URL
}

// flagValues holds the flags before they are laid over the file.
type flagValues struct {
	f          proxy.File
	notify     bool
	ssoLogout  bool
	origins    cliflag.List
	spMetadata cliflag.List
}

func newFlagSet(stderr io.Writer, o *options, v *flagValues) *flag.FlagSet {
	fs := flag.NewFlagSet("cis-proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.configPath, "config", "", "YAML configuration `file` (rules, SAML service providers, and any flag's setting); SIGHUP reloads it")
	fs.StringVar(&v.f.Env, "env", "", "CIS environment: a preset `name` (dev, local) or an environment file")
	fs.StringVar(&v.f.Listen, "listen", defaultListen, "`address` to serve on")
	fs.StringVar(&v.f.Upstream, "upstream", "", "the application's base `URL` (http or https)")
	fs.StringVar(&v.f.UpstreamCA, "upstream-ca", "", "PEM `file` of the CA certificates an https upstream is verified against (default: the system's)")
	fs.StringVar(&v.f.ExternalURL, "external-url", "", "the `URL` users reach the proxy by (default: from --listen); https makes the session cookie Secure with the __Host- prefix")
	fs.DurationVar(&v.f.Revalidate, "revalidate", middleware.DefaultRevalidate, "how often a session is checked again with CIS")
	fs.StringVar(&v.f.TLSCert, "tls-cert", "", "serve HTTPS with this certificate `file` (PEM)")
	fs.StringVar(&v.f.TLSKey, "tls-key", "", "the certificate's key `file` (PEM)")
	fs.StringVar(&v.f.Redis, "redis", "", "keep sessions in Redis at this `URL` (redis://, rediss://, unix://), shared by every instance")
	fs.StringVar(&v.f.RedisPrefix, "redis-prefix", defaultRedisPrefix, "`prefix` of the proxy's Redis keys (the same on every instance of one application)")
	fs.StringVar(&v.f.CookieKeys, "cookie-keys", "", "`file` of cookie signing keys, one a line (the first signs, the rest verify); default with --redis: a key made once and kept in Redis")
	fs.StringVar(&v.f.AgentURL, "agent-url", defaultAgentURL, "the workstation agent's Ticket API `URL` the login page asks, or none")
	fs.StringVar(&v.f.MetricsListen, "metrics-listen", defaultMetricsListen, "`address` serving Prometheus metrics at /metrics, or off")
	fs.BoolVar(&v.notify, "notify", true, "ask CIS to notify logouts, so that they end the web session within a second (needs CIS to reach --external-url)")
	fs.BoolVar(&v.ssoLogout, "sso-logout", false, "a logout also ends the smartcard (SSO) session at GAS")
	fs.Var(&v.origins, "trusted-origin", "`origin` also allowed to post to the proxy and open WebSockets (repeatable)")
	fs.StringVar(&v.f.SAML.IDPKey, "idp-key", "", "SAML bridge: the IdP signing key `file` (PEM, PKCS#1 or PKCS#8, RSA-2048 or more)")
	fs.StringVar(&v.f.SAML.IDPCert, "idp-cert", "", "SAML bridge: the IdP certificate `file` (PEM)")
	fs.Var(&v.spMetadata, "sp-metadata", "SAML bridge: a service provider's metadata `file` (repeatable)")
	fs.StringVar(&v.f.CIS2, "cis2", "auto", "`auto`: offer NHS CIS2 logins when the environment has an oidc block with a client id; off: never")
	fs.StringVar(&v.f.Title, "title", "", "the application's `name` on the login page")
	fs.StringVar(&v.f.LogLevel, "log-level", "info", "log `level`: debug, info, warn, error")
	return fs
}

// parseOptions parses the command line and, with --config, the file.
func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{set: map[string]bool{}}
	v := &flagValues{}
	fs := newFlagSet(stderr, o, v)
	pos, err := cliflag.Parse(fs, args, errUsage)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	v.f.TrustedOrigins = v.origins
	v.f.SAML.SPMetadata = v.spMetadata
	v.f.Notify, v.f.SSOLogout = &v.notify, &v.ssoLogout
	o.file, o.flags = v.f, v.f
	if o.configPath != "" {
		f, err := proxy.LoadFile(o.configPath)
		if err != nil {
			return nil, err
		}
		o.file = overlay(*f, v.f, o.set)
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	return o, nil
}

// overlay returns the file's settings with every flag given on the command
// line over them, and the flags' defaults where the file is silent.
func overlay(file, flags proxy.File, set map[string]bool) proxy.File {
	pick := func(name string, f *string, fl string) {
		if set[name] || *f == "" {
			*f = fl
		}
	}
	pick("env", &file.Env, flags.Env)
	pick("listen", &file.Listen, flags.Listen)
	pick("upstream", &file.Upstream, flags.Upstream)
	pick("upstream-ca", &file.UpstreamCA, flags.UpstreamCA)
	pick("external-url", &file.ExternalURL, flags.ExternalURL)
	pick("tls-cert", &file.TLSCert, flags.TLSCert)
	pick("tls-key", &file.TLSKey, flags.TLSKey)
	pick("redis", &file.Redis, flags.Redis)
	pick("redis-prefix", &file.RedisPrefix, flags.RedisPrefix)
	pick("cookie-keys", &file.CookieKeys, flags.CookieKeys)
	pick("agent-url", &file.AgentURL, flags.AgentURL)
	pick("metrics-listen", &file.MetricsListen, flags.MetricsListen)
	pick("idp-key", &file.SAML.IDPKey, flags.SAML.IDPKey)
	pick("idp-cert", &file.SAML.IDPCert, flags.SAML.IDPCert)
	pick("cis2", &file.CIS2, flags.CIS2)
	pick("title", &file.Title, flags.Title)
	pick("log-level", &file.LogLevel, flags.LogLevel)
	if set["revalidate"] || file.Revalidate == 0 {
		file.Revalidate = flags.Revalidate
	}
	if set["notify"] || file.Notify == nil {
		file.Notify = flags.Notify
	}
	if set["sso-logout"] || file.SSOLogout == nil {
		file.SSOLogout = flags.SSOLogout
	}
	if set["trusted-origin"] {
		file.TrustedOrigins = flags.TrustedOrigins
	}
	if set["sp-metadata"] {
		file.SAML.SPMetadata = flags.SAML.SPMetadata
	}
	return file
}

// check checks the settings in effect and derives the URLs.
func (o *options) check() error {
	f := &o.file
	if f.Env == "" {
		return fmt.Errorf("%w: --env is required (a preset name or an environment file, e.g. cis-sim's env.yaml)", errUsage)
	}
	if f.Upstream == "" {
		return fmt.Errorf("%w: --upstream is required (the application's URL, e.g. http://127.0.0.1:3000)", errUsage)
	}
	u, err := url.Parse(f.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%w: --upstream %q: want an http or https URL without query", errUsage, f.Upstream)
	}
	o.upstream = u
	if (f.TLSCert == "") != (f.TLSKey == "") {
		return fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
	}
	host, port, err := net.SplitHostPort(f.Listen)
	if err != nil {
		return fmt.Errorf("%w: --listen %q: %w", errUsage, f.Listen, err)
	}
	// The external URL derived from --listen is not written back into
	// the settings: with port 0 it is known only once listening (see
	// listening), and a reload compares the settings as given.
	external := f.ExternalURL
	if external == "" {
		scheme := "http"
		if f.TLSCert != "" {
			scheme = "https"
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			return fmt.Errorf("%w: --listen %q has no host to reach the proxy by: give --external-url", errUsage, f.Listen)
		}
		external = scheme + "://" + net.JoinHostPort(host, port)
	}
	e, err := url.Parse(external)
	if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || (e.Path != "" && e.Path != "/") || e.RawQuery != "" || e.Fragment != "" || e.User != nil {
		return fmt.Errorf("%w: --external-url %q: want an http(s) origin without a path (the proxy serves the whole site)", errUsage, external)
	}
	e.Path = ""
	if e.Scheme == "http" && !cis.IsLoopbackHost(e.Hostname()) {
		return fmt.Errorf("%w: --external-url %q: plain http only on a loopback address (a session cookie must not travel in clear); use https", errUsage, external)
	}
	o.external = e
	if strings.EqualFold(f.AgentURL, "none") {
		f.AgentURL = ""
	}
	if f.MetricsListen == off {
		f.MetricsListen = ""
	}
	if f.Revalidate <= 0 {
		return fmt.Errorf("%w: --revalidate must be positive", errUsage)
	}
	if !slices.Contains([]string{"auto", off}, f.CIS2) {
		return fmt.Errorf("%w: --cis2 %q: want auto or off", errUsage, f.CIS2)
	}
	if err := checkSAML(f.SAML); err != nil {
		return err
	}
	if err := o.logLevel.UnmarshalText([]byte(f.LogLevel)); err != nil {
		return fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, f.LogLevel)
	}
	o.cis2, o.title = f.CIS2, f.Title
	return nil
}

// listening completes the settings once the proxy listens at addr: an
// external URL derived from a --listen with port 0 gets the port the
// system picked.
func (o *options) listening(addr net.Addr) {
	if o.file.ExternalURL != "" {
		return
	}
	if _, port, err := net.SplitHostPort(o.external.Host); err == nil && port == "0" {
		if tcp, ok := addr.(*net.TCPAddr); ok {
			o.external.Host = net.JoinHostPort(o.external.Hostname(), strconv.Itoa(tcp.Port))
		}
	}
}

// checkSAML checks that the SAML bridge's settings are all there or all
// absent: a signing key is never made at run time, and a bridge without
// a service provider would serve nobody.
func checkSAML(s proxy.SAMLFile) error {
	switch {
	case s.IDPKey == "" && s.IDPCert == "" && len(s.SPMetadata) == 0:
		return nil
	case s.IDPKey == "" && s.IDPCert == "":
		return fmt.Errorf("%w: SAML bridge: --sp-metadata needs --idp-key and --idp-cert (an IdP signing key is never made at run time)", errUsage)
	case s.IDPKey == "" || s.IDPCert == "":
		return fmt.Errorf("%w: SAML bridge: --idp-key and --idp-cert go together (an IdP signing key is never made at run time)", errUsage)
	case len(s.SPMetadata) == 0:
		return fmt.Errorf("%w: SAML bridge: --idp-key and --idp-cert, but no --sp-metadata: no service provider could use it", errUsage)
	}
	return nil
}
