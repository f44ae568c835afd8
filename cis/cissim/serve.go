package cissim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/opencis/cisauth/cis"
)

// ServeConfig configures Serve: a simulator run as the cis-sim command runs
// it, on a listening socket, with its CAs and env.yaml in a state directory.
type ServeConfig struct {
	// Addr is the listen address (cis.DefaultSimulatorAddr if empty; port 0
	// picks a free one).
	Addr string
	// StateDir holds the TLS CA, the card CA and env.yaml
	// (DefaultStateDir() if empty). It is created 0700 if missing.
	StateDir string
	// CardCAFiles are PEM files of the card CAs to trust. None means the
	// state directory's card CA, created if missing.
	CardCAFiles []string
	// Hostnames are host names for URLs and the TLS certificate, besides
	// 127.0.0.1, ::1 and localhost; the first one names the URLs.
	Hostnames []string
	// PlainHTTP serves HTTP instead of HTTPS.
	PlainHTTP bool
	// OIDCRotateKey makes a new CIS2 signing key in the state directory
	// and keeps the current one in the JWKS as the previous key (see
	// LoadOrCreateOIDCKeys). Ignored when Simulator.OIDC.SigningKey is set.
	OIDCRotateKey bool
	// NoOIDCDemoClient leaves out the demo client (DemoOIDCClient) that is
	// otherwise registered and written to env.yaml's oidc block.
	NoOIDCDemoClient bool
	// OIDCDemoRedirectURIs are the demo client's redirect URIs
	// (DefaultOIDCDemoRedirectURIs if empty).
	OIDCDemoRedirectURIs []string
	// Simulator is the rest of the simulator's configuration. Users nil
	// means the demo users; CardCAs, BaseURL and Logger are set by Serve,
	// and Registerer, if nil, becomes a registry with the Go and process
	// collectors.
	Simulator Config
	// Logger receives the simulator's records and Serve's own (discarded if
	// nil).
	Logger *slog.Logger
	// Ready, if not nil, is called once the server accepts connections.
	Ready func(Running)
}

// Running describes a simulator that Serve started.
type Running struct {
	Addr    string          // the address it listens on
	URL     string          // its base URL
	EnvFile string          // the env.yaml it wrote
	Env     cis.Environment // the environment that file describes (with the demo client's oidc block)
}

// Serve runs a simulator until ctx ends, then shuts it down gracefully
// (open requests get 5 s). It returns an error if the configuration or
// state directory is unusable, or the server fails.
func Serve(ctx context.Context, cfg ServeConfig) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sc := cfg.Simulator
	if len(sc.Users) == 0 {
		sc.Users = DemoUsers()
	}
	stateDir := cfg.StateDir
	if stateDir == "" {
		var err error
		if stateDir, err = DefaultStateDir(); err != nil {
			return err
		}
	}
	if err := EnsureStateDir(stateDir); err != nil {
		return err
	}
	sc.CardCAs = nil
	for _, f := range cfg.CardCAFiles {
		certs, err := LoadCertificates(f)
		if err != nil {
			return err
		}
		sc.CardCAs = append(sc.CardCAs, certs...)
	}
	cardCAFiles := cfg.CardCAFiles
	if len(sc.CardCAs) == 0 {
		ca, _, err := LoadOrCreateCardCA(stateDir)
		if err != nil {
			return err
		}
		sc.CardCAs = []*x509.Certificate{ca}
		c, k := CardCAFiles(stateDir)
		cardCAFiles = []string{c, k}
	}

	addr := cfg.Addr
	if addr == "" {
		addr = cis.DefaultSimulatorAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	urlHost := urlHostFor(addr)
	if len(cfg.Hostnames) > 0 {
		urlHost = cfg.Hostnames[0]
	}
	scheme := "https"
	if cfg.PlainHTTP {
		scheme = "http"
	}
	base := scheme + "://" + net.JoinHostPort(urlHost, port)

	if sc.Registerer == nil {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		sc.Registerer = reg
	}
	sc.BaseURL, sc.Logger, sc.Hostnames = base, log, cfg.Hostnames
	if sc.OIDC.SigningKey == nil {
		if sc.OIDC.SigningKey, sc.OIDC.PreviousKeys, err = LoadOrCreateOIDCKeys(stateDir, cfg.OIDCRotateKey); err != nil {
			return err
		}
	}
	env := cis.Environment{Name: "cis-sim", GASURL: base, SSBURL: base, PortalURL: base + "/"}
	env.OIDC.Issuer = base + OIDCRealmPath
	if !cfg.NoOIDCDemoClient {
		demo, err := DemoOIDCClient(stateDir, cfg.OIDCDemoRedirectURIs)
		if err != nil {
			return err
		}
		sc.OIDC.Clients = append(append([]OIDCClient(nil), sc.OIDC.Clients...), demo)
		env.OIDC.ClientID, env.OIDC.ClientSecretFile = demo.ID, OIDCDemoSecretFile
		env.OIDC.RedirectURL, env.OIDC.PostLogoutRedirectURL = demo.RedirectURIs[0], demo.PostLogoutRedirectURIs[0]
	}
	sim, err := New(sc)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           sim,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30*time.Second + sc.Latency,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	tlsCAPath := ""
	if !cfg.PlainHTTP {
		ca, caKey, err := LoadOrCreateTLSCA(stateDir, cfg.Hostnames, log)
		if err != nil {
			return err
		}
		hosts := append([]string{"127.0.0.1", "::1", "localhost"}, cfg.Hostnames...)
		cert, err := IssueServerCert(ca, caKey, hosts, time.Now(), nil)
		if err != nil {
			return err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		env.Roots = []*x509.Certificate{ca}
		env.OIDC.Roots = env.Roots
		tlsCAPath, _ = TLSCAFiles(stateDir)
	}
	envPath, err := WriteEnvFile(stateDir, env)
	if err != nil {
		return err
	}
	log.Info("cis-sim listening", "addr", ln.Addr().String(), "url", base, "env", envPath,
		"tls_ca", tlsCAPath, "card_ca", strings.Join(cardCAFiles, ","), "users", len(sc.Users), "admin", sc.Admin,
		"oidc_issuer", env.OIDC.Issuer, "oidc_clients", len(sc.OIDC.Clients))

	errc := make(chan error, 1)
	go func() {
		if cfg.PlainHTTP {
			errc <- srv.Serve(ln)
		} else {
			errc <- srv.ServeTLS(ln, "", "")
		}
	}()
	if cfg.Ready != nil {
		cfg.Ready(Running{Addr: ln.Addr().String(), URL: base, EnvFile: envPath, Env: env})
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
