package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// ServerConfig configures the Ticket API's listeners and who may use them.
type ServerConfig struct {
	// Addr is the loopback TCP address to listen on, e.g. 127.0.0.1:7444
	// (port 0 picks one); empty means no TCP listener. A non-loopback
	// address is refused.
	Addr string
	// Socket is the path of a unix socket to listen on; empty means none.
	Socket string
	// SecretFile holds the per-user secret TCP callers send (created if
	// missing); required with Addr.
	SecretFile string
	// AllowedOrigins are the web origins (https://app.example.nhs.uk)
	// whose pages may call the API, each after the person allowed it.
	AllowedOrigins []string
	// TicketWait bounds how long GET /ticket waits for a login (default
	// DefaultTicketWait).
	TicketWait time.Duration
	// UID is the desktop user whose processes may call (-1: the user the
	// agent runs as).
	UID int
	// Logger gets the audit of who got the ticket (never the ticket).
	Logger *slog.Logger
}

// DefaultTicketWait bounds GET /ticket's wait for a login.
const DefaultTicketWait = 2 * time.Minute

// Server is the local Ticket API (and the loopback page) of an Agent.
type Server struct {
	a      *Agent
	ac     *access
	ui     *webUI
	srv    *http.Server
	tcp    net.Listener
	unix   net.Listener
	socket string
	log    *slog.Logger
	// base is every request's parent context; ending it at shutdown ends
	// the event streams, which would otherwise keep Shutdown waiting.
	base     context.Context
	stopBase context.CancelFunc
}

// NewServer checks cfg, reads or creates the secret file and binds the
// listeners; Serve serves them.
func NewServer(a *Agent, cfg ServerConfig) (*Server, error) {
	if cfg.Addr == "" && cfg.Socket == "" {
		return nil, errors.New("agent: no listener: give a loopback address or a unix socket")
	}
	if cfg.Addr != "" {
		if err := checkLoopback(cfg.Addr); err != nil {
			return nil, err
		}
	}
	if a == nil {
		return nil, errors.New("agent: no agent to serve")
	}
	if cfg.TicketWait <= 0 {
		cfg.TicketWait = DefaultTicketWait
	}
	if cfg.UID < 0 {
		cfg.UID = os.Getuid()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{a: a, log: cfg.Logger, ui: newWebUI(a, cfg.TicketWait)}
	s.base, s.stopBase = context.WithCancel(context.Background())
	s.ac = &access{uid: cfg.UID, origins: map[string]bool{}, hosts: map[string]bool{}, prompts: a.Prompts(),
		decided: map[string]bool{}, deciding: map[string]chan struct{}{}}
	for _, o := range cfg.AllowedOrigins {
		n, ok := normalizeOrigin(o)
		if !ok {
			return nil, fmt.Errorf("agent: allowed origin %q is not an http(s) origin such as https://app.example.nhs.uk", o)
		}
		s.ac.origins[n] = true
	}
	if cfg.Addr != "" {
		secret, err := LoadOrCreateSecret(cfg.SecretFile)
		if err != nil {
			return nil, err
		}
		s.ac.secret = secret
		if s.tcp, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, fmt.Errorf("agent: listen on %s: %w", cfg.Addr, err)
		}
		s.ac.hosts = loopbackHosts(s.tcp.Addr())
	}
	if cfg.Socket != "" {
		l, err := listenUnix(cfg.Socket)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.unix, s.socket = l, cfg.Socket
	}
	mux := http.NewServeMux()
	apiMux := http.NewServeMux()
	(&api{a: a, wait: cfg.TicketWait, log: cfg.Logger}).routes(apiMux)
	apiMux.HandleFunc("POST /ui/link", s.uiLink)
	mux.Handle("/", s.ac.guard(apiMux))
	s.ui.routes(mux, s.ac.connGuard)
	s.srv = &http.Server{
		Handler:           mux,
		ConnContext:       connPeer,
		BaseContext:       func(net.Listener) context.Context { return s.base },
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// checkLoopback refuses an address that is not on loopback.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("agent: listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("agent: listen address %q is not on loopback (127.0.0.1 or ::1): the Ticket API is for this machine only", addr)
	}
	return nil
}

// listenUnix listens on a unix socket only its owner may use, in a
// directory only its owner may enter; a stale socket left by a dead agent
// is replaced, a live one is not.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("agent: socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("agent: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("agent: another agent listens on %s", path)
		}
		os.Remove(path)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("agent: listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// connGuard lets in the desktop user's connections to this listener
// (peer and Host checks) without asking for the secret: the page's own
// session cookie does that.
func (ac *access) connGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := ac.checkRequest(w, r); ok {
			next.ServeHTTP(w, r)
		}
	})
}

// Addr returns the TCP listener's address ("" without one).
func (s *Server) Addr() string {
	if s.tcp == nil {
		return ""
	}
	return s.tcp.Addr().String()
}

// URL returns the TCP listener's base URL ("" without one).
func (s *Server) URL() string {
	if s.tcp == nil {
		return ""
	}
	return "http://" + s.Addr()
}

// UILink returns a one-time link to the loopback page (valid ten minutes).
func (s *Server) UILink() (string, error) {
	if s.tcp == nil {
		return "", errors.New("agent: the page needs the TCP listener (listen: 127.0.0.1:PORT)")
	}
	return s.URL() + "/ui/login?code=" + s.ui.newCode(), nil
}

// uiLink answers POST /ui/link (cis-agent ui): a fresh one-time link.
func (s *Server) uiLink(w http.ResponseWriter, _ *http.Request) {
	link, err := s.UILink()
	if err != nil {
		writeError(w, &accessError{http.StatusNotFound, err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"url": link})
}

// Serve serves the listeners until ctx ends, then shuts down (event
// streams included) and removes the socket.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 2)
	n := 0
	for _, l := range []net.Listener{s.tcp, s.unix} {
		if l != nil {
			n++
			go func() { errc <- s.srv.Serve(l) }()
		}
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		n--
	}
	s.stopBase()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.srv.Shutdown(sctx)
	s.srv.Close()
	for ; n > 0; n-- {
		<-errc
	}
	if s.socket != "" {
		os.Remove(s.socket)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return ctx.Err()
}

// Close closes the listeners without serving (after a failed NewServer
// step, or instead of Serve).
func (s *Server) Close() error {
	s.stopBase()
	for _, l := range []net.Listener{s.tcp, s.unix} {
		if l != nil {
			l.Close()
		}
	}
	if s.socket != "" {
		os.Remove(s.socket)
	}
	return nil
}
