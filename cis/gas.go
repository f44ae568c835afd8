package cis

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/opencis/cisauth/internal/cisid"
)

// GACVersion is the Identity Agent version this client presents.
const GACVersion = "10.0.0.1"

// DefaultUserAgent is the User-Agent real Identity Agents send (note the
// ". " separators).
const DefaultUserAgent = "Mozilla/4.0(compatible;IE;GACv10. 0. 0. 1)"

// RequestDocType is the DOCTYPE system id of gpOBJECT requests.
const RequestDocType = "gpOBJECT.DTD"

// maxChallenge bounds the decoded challenge GAS may send.
const maxChallenge = 1 << 10

// ErrForeignURL means a URL given by the service (such as sso_logout_url)
// is not the environment's own, so no credential is sent to it.
var ErrForeignURL = errors.New("cis: URL is not the environment's own")

// ErrNotUserCertificate means a certificate's subject CN is not a 12-digit
// CIS user id.
var ErrNotUserCertificate = errors.New("cis: certificate is not a CIS user certificate (CN not a 12-digit user id)")

// GASConfig configures a GASClient. Only Env is required.
type GASConfig struct {
	// Env is the environment to log in to.
	Env Environment
	// HTTPClient sends the requests; nil means Env.NewHTTPClient(Timeout).
	// As for SSBConfig.HTTPClient, a client given here is copied with
	// redirects off and refused unless it verifies against Env.Roots.
	HTTPClient *http.Client
	// WrapTransport, if not nil, wraps the client's (verified) transport.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// Timeout bounds each request (DefaultTimeout if zero), whatever
	// HTTPClient does.
	Timeout time.Duration
	// MaxResponse bounds each response body (MaxGPObjectSize if zero).
	MaxResponse int64
	// UserAgent is sent on every request (DefaultUserAgent if empty).
	UserAgent string
	// AppURL is the app_url param (default "NHST").
	AppURL string
	// DeviceID is the 8-character device id (default: 8 random hex digits).
	DeviceID string
	// ClientIP is sent in device_id (default: the first non-loopback IPv4
	// address of this machine, else 127.0.0.1).
	ClientIP string
	// Analytics, if set, returns the Analytics header value for a login's
	// log_session_id ("" sends none).
	Analytics func(logSessionID string) string
	// Hash is the challenge signature's digest: crypto.SHA1 (default, what
	// cards and GAS use) or crypto.SHA256.
	Hash crypto.Hash
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Rand is the randomness for ids (crypto/rand if nil).
	Rand io.Reader
	// Logger gets debug lines (no ticket, response or PIN ever); nil
	// discards them.
	Logger *slog.Logger
}

// GASClient logs a smartcard user in to GAS, selects a role and logs out:
// what the Identity Agent does on a workstation. It is safe for concurrent
// use.
type GASClient struct {
	cfg  GASConfig
	http *http.Client
	ends Endpoints
	log  *slog.Logger
}

// NewGASClient checks cfg, fills in its defaults and returns a client.
func NewGASClient(cfg GASConfig) (*GASClient, error) {
	if err := cfg.Env.Check(); err != nil {
		return nil, err
	}
	if err := checkBaseURL(cfg.Env.GASURL); err != nil {
		return nil, fmt.Errorf("cis: GAS client: environment %q: gas url: %w", cfg.Env.Name, err)
	}
	if cfg.Hash == 0 {
		cfg.Hash = crypto.SHA1
	}
	if _, err := digestOID(cfg.Hash); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxResponse <= 0 {
		cfg.MaxResponse = MaxGPObjectSize
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.AppURL == "" {
		cfg.AppURL = "NHST"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DeviceID == "" {
		b := make([]byte, 4)
		if _, err := io.ReadFull(cfg.Rand, b); err != nil {
			return nil, fmt.Errorf("cis: device id: %w", err)
		}
		cfg.DeviceID = hex.EncodeToString(b)
	}
	if cfg.ClientIP == "" {
		cfg.ClientIP = localIPv4()
	}
	hc, err := cfg.Env.httpClient(cfg.HTTPClient, cfg.Timeout, cfg.WrapTransport)
	if err != nil {
		return nil, fmt.Errorf("cis: GAS client: %w", err)
	}
	return &GASClient{cfg: cfg, http: hc, ends: cfg.Env.Endpoints(), log: cfg.Logger}, nil
}

// localIPv4 returns the first non-loopback IPv4 address, else 127.0.0.1.
func localIPv4() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				return n.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

// Challenge is GAS's answer to an activation: what the card signs.
type Challenge struct {
	Challenge    []byte // the decoded challenge bytes the card signs
	Encoded      string // the challenge as GAS sent it, echoed in validate
	Signature    string // GAS's opaque signature, echoed in validate
	LogSessionID string // this login's log_session_id
	GASVersion   string
	ReplyURL     string // informational; validate goes to Env's endpoint
}

// Session is a logged-in GAS session. Printing it never shows the ticket
// (Ticket redacts itself).
type Session struct {
	Ticket         Ticket        // sso_ticket: the bearer credential
	UID            string        // 12-digit user id (the card certificate's CN)
	Name           string        // cn: "Surname Forename Title"
	Roles          []LoginRole   // nhsjobroleN, in index order
	LogSessionID   string        // log_session_id of this login
	LogoutURL      string        // sso_logout_url, as GAS gave it
	SessionURL     string        // sso_session_url
	Domain         string        // sso_domain
	GASVersion     string        // gas_version
	SessionTime    time.Duration // sso_session_time (sent in minutes)
	MaxSessionTime time.Duration // sso_max_session_time (sent in minutes)
}

// LogValue makes slog print the session without its ticket: the user, the
// number of roles and the log_session_id. (Ticket's own LogValue,
// MarshalJSON and Format redact it wherever else a Session is printed.)
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("uid", s.UID),
		slog.String("name", s.Name),
		slog.Int("roles", len(s.Roles)),
		slog.String("log_session_id", s.LogSessionID),
		slog.String("ticket", redactedTicket),
	)
}

// Format prints the session without its ticket, whatever the verb: fmt's
// path for a verb that does not suit a struct (%d, %x, %p, …) prints fields
// without calling their methods, so Ticket's own redaction would not apply.
func (s Session) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "cis.Session{UID:%q Name:%q Roles:%d LogSessionID:%q Ticket:%s}",
		s.UID, s.Name, len(s.Roles), s.LogSessionID, redactedTicket)
}

// Role returns the session's role with the given id.
func (s *Session) Role(id string) (LoginRole, bool) {
	for _, r := range s.Roles {
		if r.ID == id {
			return r, true
		}
	}
	return LoginRole{}, false
}

const base64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// newLogSessionID returns 10 random characters of the base64 alphabet.
func (c *GASClient) newLogSessionID() (string, error) {
	b := make([]byte, 10)
	if _, err := io.ReadFull(c.cfg.Rand, b); err != nil {
		return "", fmt.Errorf("cis: log_session_id: %w", err)
	}
	for i := range b {
		b[i] = base64Alphabet[b[i]&63]
	}
	return string(b), nil
}

func (c *GASClient) deviceID() string { return c.cfg.DeviceID + ",ClientIP=" + c.cfg.ClientIP }

// Activate starts a login: it asks GAS for a challenge, under a fresh
// log_session_id.
func (c *GASClient) Activate(ctx context.Context) (*Challenge, error) {
	lsid, err := c.newLogSessionID()
	if err != nil {
		return nil, err
	}
	var req GPObject
	req.Add("auth_method", "3")
	req.Add("app_url", c.cfg.AppURL)
	req.Add("log_session_id", lsid)
	req.Add("device_id", c.deviceID())
	req.Add("service", "ACTIVATION")
	resp, err := c.exchange(ctx, "activate", c.ends.Activate, lsid, &req)
	if err != nil {
		return nil, err
	}
	enc := resp.Text("challenge")
	raw, err := base64.StdEncoding.Strict().DecodeString(enc)
	if err != nil || len(raw) == 0 || len(raw) > maxChallenge {
		return nil, fmt.Errorf("cis: activate: challenge missing or not base64 of 1..%d bytes: %w", maxChallenge, ErrMalformed)
	}
	return &Challenge{
		Challenge:    raw,
		Encoded:      enc,
		Signature:    resp.Text("signature"),
		LogSessionID: lsid,
		GASVersion:   resp.Get("gas_version"),
		ReplyURL:     resp.Get("reply_url"),
	}, nil
}

// Authenticate signs ch with the card's key and certificate and sends it to
// GAS's authvalidate endpoint as user uid. On success it returns the SSO
// session with the user's roles. A signer that is a ContextSigner (a
// card's) is stopped when ctx ends; nothing is sent to GAS then. (It is not SSBClient.Validate, which turns
// a ticket into a RoleAssertion on a server.)
func (c *GASClient) Authenticate(ctx context.Context, ch *Challenge, uid string, signer crypto.Signer, cert *x509.Certificate) (*Session, error) {
	if ch == nil || len(ch.Challenge) == 0 || ch.LogSessionID == "" {
		return nil, errors.New("cis: validate: no challenge (call Activate first)")
	}
	if uid == "" {
		return nil, errors.New("cis: validate: no uid")
	}
	der, err := SignChallenge(ctx, signer, cert, ch.Challenge, c.cfg.Hash)
	if err != nil {
		return nil, err
	}
	var req GPObject
	req.Add("auth_method", "3")
	req.Add("app_url", c.cfg.AppURL)
	req.Add("log_session_id", ch.LogSessionID)
	req.Add("device_id", c.deviceID())
	req.Add("service", "AUTHENTICATION")
	req.Add("challenge", ch.Encoded)
	req.Add("signature", ch.Signature)
	req.Add("uid", uid)
	req.Add("card_type", "p11")
	req.Add("response", EncodeSMIME(der), Attr{Name: "encoding", Value: "base64"})
	req.Add("mobility", "0")
	resp, err := c.exchange(ctx, "validate", c.ends.Validate, ch.LogSessionID, &req)
	if err != nil {
		return nil, err
	}
	ticket := resp.Text("sso_ticket")
	if ticket == "" {
		return nil, fmt.Errorf("cis: validate: no sso_ticket in the answer: %w", ErrValidationFailed)
	}
	if _, err := ParseTicket(ticket); err != nil {
		return nil, fmt.Errorf("cis: validate: sso_ticket: %w", err)
	}
	roles, err := resp.JobRoles()
	if err != nil {
		return nil, fmt.Errorf("cis: validate: %w", err)
	}
	s := &Session{
		Ticket:         Ticket(ticket),
		UID:            uid,
		Name:           resp.Text("cn"),
		Roles:          roles,
		LogSessionID:   ch.LogSessionID,
		LogoutURL:      resp.Text("sso_logout_url"),
		SessionURL:     resp.Text("sso_session_url"),
		Domain:         resp.Text("sso_domain"),
		GASVersion:     resp.Get("gas_version"),
		SessionTime:    minutes(resp.Get("sso_session_time")),
		MaxSessionTime: minutes(resp.Get("sso_max_session_time")),
	}
	c.log.DebugContext(ctx, "cis: GAS login", "uid", uid, "roles", len(roles), "log_session_id", ch.LogSessionID)
	return s, nil
}

// minutes reads a whole number of minutes; anything else is 0.
func minutes(s string) time.Duration {
	var n int64
	s = trimXMLSpace(s)
	if s == "" || len(s) > 6 {
		return 0
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int64(c-'0')
	}
	return time.Duration(n) * time.Minute
}

// Login activates and validates with the card's key and certificate; the
// uid is the certificate's subject CN, which must be a 12-digit user id.
func (c *GASClient) Login(ctx context.Context, signer crypto.Signer, cert *x509.Certificate) (*Session, error) {
	if cert == nil {
		return nil, errors.New("cis: login: no certificate")
	}
	uid := cert.Subject.CommonName
	if !cisid.Valid(uid) {
		return nil, ErrNotUserCertificate
	}
	ch, err := c.Activate(ctx)
	if err != nil {
		return nil, err
	}
	return c.Authenticate(ctx, ch, uid, signer, cert)
}

// exchange POSTs a gpOBJECT request and parses the gpOBJECT answer,
// mapping GAS's failure bodies onto ErrInvalidRequest and
// ErrValidationFailed.
func (c *GASClient) exchange(ctx context.Context, op, endpoint, lsid string, req *GPObject) (*GPObject, error) {
	body, err := c.send(ctx, op, http.MethodPost, endpoint, lsid, req.Encode(RequestDocType))
	if err != nil {
		return nil, err
	}
	switch {
	case bytes.Contains(body, []byte("Invalid input request")):
		return nil, fmt.Errorf("cis: %s: %w", op, ErrInvalidRequest)
	case bytes.Contains(body, []byte("Failed To Validate")):
		return nil, fmt.Errorf("cis: %s: %w", op, ErrValidationFailed)
	}
	g, err := ParseGPObject(body)
	if err != nil {
		return nil, fmt.Errorf("cis: %s: %w", op, err)
	}
	return g, nil
}

// send makes one bounded request and returns the body of a 2xx answer.
// Neither the URL (it may carry a ticket) nor the body appears in an error
// or log line.
func (c *GASClient) send(ctx context.Context, op, method, target, lsid string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("cis: %s: bad request URL: %w", op, ErrInvalidRequest)
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if body != nil {
		req.Header.Set("Content-Type", "text/xml; charset=UTF-8")
	}
	if c.cfg.Analytics != nil && lsid != "" {
		if v := c.cfg.Analytics(lsid); v != "" {
			req.Header.Set("Analytics", v)
		}
	}
	start := c.cfg.Now()
	resp, data, err := roundTrip(ctx, c.http, req, op, c.cfg.MaxResponse)
	if err != nil {
		if me := c.cfg.Env.maintenanceError(c.cfg.Now(), nil, nil, err); me != nil && !errors.Is(err, ErrTrust) {
			err = me
		}
		c.log.DebugContext(ctx, "cis: GAS request failed", "op", op, "host", req.URL.Host, "err", err)
		return nil, err
	}
	c.log.DebugContext(ctx, "cis: GAS request", "op", op, "host", req.URL.Host, "path", req.URL.Path,
		"status", resp.StatusCode, "bytes", len(data), "duration", c.cfg.Now().Sub(start))
	if err := c.cfg.Env.statusError(c.cfg.Now(), op, resp, data); err != nil {
		return nil, err
	}
	return data, nil
}

// SelectRole tells the SSB which of the session's roles the user works in
// (mode live or training). roleID must be one of s.Roles (ErrUnknownRole
// otherwise, before anything is sent). An answer that is not OK
// (<HTML><STATUS>OK</STATUS></HTML>, or OK alone) is ErrSessionInvalid.
func (c *GASClient) SelectRole(ctx context.Context, s *Session, roleID string, mode Mode) error {
	if s == nil {
		return fmt.Errorf("cis: select role: no session: %w", ErrSessionInvalid)
	}
	if err := checkTicket("select role", s.Ticket); err != nil {
		return err
	}
	if _, ok := s.Role(roleID); !ok {
		return fmt.Errorf("cis: select role: %w", ErrUnknownRole)
	}
	if mode != ModeLive && mode != ModeTraining {
		return fmt.Errorf("cis: select role: mode %d: %w", int(mode), ErrInvalidRequest)
	}
	target := c.ends.RoleSelection + "?token=" + url.QueryEscape(s.Ticket.Reveal()) +
		"&selectedRoleUid=" + url.QueryEscape(roleID) + fmt.Sprintf("&ssbMode=%d", int(mode)) +
		"&fallbackStatus=0&gacVersion=" + GACVersion
	body, err := c.send(ctx, "select role", http.MethodGet, target, s.LogSessionID, nil)
	if err != nil {
		return err
	}
	if !answerOK(body) {
		return fmt.Errorf("cis: select role: answer is not OK: %w", ErrSessionInvalid)
	}
	c.log.DebugContext(ctx, "cis: role selected", "role", roleID, "mode", mode.String())
	return nil
}

// Logout ends the SSO session at s.LogoutURL (the environment's logout
// endpoint if empty). A logout URL that is not on the environment's GAS or
// SSB (same scheme, host and port) is refused with ErrForeignURL: the
// ticket is never sent elsewhere. An answer that is not OK (as for
// SelectRole) is ErrSessionInvalid.
func (c *GASClient) Logout(ctx context.Context, s *Session) error {
	if s == nil {
		return fmt.Errorf("cis: logout: no session: %w", ErrSessionInvalid)
	}
	if err := checkTicket("logout", s.Ticket); err != nil {
		return err
	}
	target := s.LogoutURL
	if target == "" {
		target = c.ends.Logout
	}
	if !sameOrigin(target, c.cfg.Env.GASURL) && !sameOrigin(target, c.cfg.Env.SSBURL) {
		return fmt.Errorf("cis: logout: sso_logout_url: %w", ErrForeignURL)
	}
	var req GPObject
	req.Add("service", "LOGOUT")
	req.Add("sso_ticket", s.Ticket.Reveal())
	req.Add("log_session_id", s.LogSessionID)
	req.Add("device_id", c.deviceID())
	req.Add("uid", s.UID)
	body, err := c.send(ctx, "logout", http.MethodPost, target, s.LogSessionID, req.Encode(RequestDocType))
	if err != nil {
		return err
	}
	if !answerOK(body) {
		return fmt.Errorf("cis: logout: answer is not OK: %w", ErrSessionInvalid)
	}
	c.log.DebugContext(ctx, "cis: GAS logout", "uid", s.UID, "log_session_id", s.LogSessionID)
	return nil
}

// sameOrigin reports whether a and b are absolute http(s) URLs with the
// same scheme, host and port (default ports filled in).
func sameOrigin(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil || ua.User != nil || ua.Host == "" {
		return false
	}
	o := originOf(ua)
	return o != "" && o == originOf(ub)
}

func originOf(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		default:
			return ""
		}
	}
	return scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port
}
