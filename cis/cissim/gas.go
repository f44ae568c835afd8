package cissim

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/opencis/cisauth/cis"
)

// GAS: /login/authactivate, /login/authvalidate, /login/authlogout and the
// two pages clients may be sent to.

const (
	maxGASBody       = 64 << 10
	gasVersion       = "5.2.7"
	latestGACVersion = "10.0.0.1"
	// Failure texts clients look for.
	textInvalidInput = "Invalid input request"
	textFailed       = "Failed To Validate"
)

// serverIP is the address the request arrived on, as GAS reports it.
func serverIP(r *http.Request) string {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if host, _, err := net.SplitHostPort(a.String()); err == nil {
			return host
		}
	}
	return "127.0.0.1"
}

// readGAS reads and parses a gpOBJECT request body; ok false means the
// "Invalid input request" answer has been written.
func (s *Simulator) readGAS(w http.ResponseWriter, r *http.Request, service string) (*cis.GPObject, bool) {
	body, err := readCapped(w, r, maxGASBody)
	if err != nil {
		s.gasFailure(w, r, nil, textInvalidInput, "body unreadable or too large")
		return nil, false
	}
	req, err := cis.ParseGPObject(body)
	if err != nil {
		s.gasFailure(w, r, nil, textInvalidInput, "gpOBJECT does not parse")
		return nil, false
	}
	if !strings.EqualFold(req.Text("service"), service) {
		s.gasFailure(w, r, req, textInvalidInput, "service is not "+service)
		return nil, false
	}
	return req, true
}

// gasFailure answers a failed GAS request: HTTP 200 (clients look at the
// text, not the status) and a gpOBJECT whose error param holds text.
func (s *Simulator) gasFailure(w http.ResponseWriter, r *http.Request, req *cis.GPObject, text, why string) {
	s.log.Info("GAS request refused", "path", r.URL.Path, "answer", text, "reason", why)
	if r.URL.Path == "/login/authvalidate" {
		result := "failed"
		if text == textInvalidInput {
			result = "invalid_request"
		}
		s.metrics.logins.WithLabelValues(result).Inc()
	}
	base := s.baseURL(r)
	g := &cis.GPObject{}
	if req != nil {
		g.Add("log_session_id", req.Get("log_session_id"))
	}
	g.Add("error_url", base+"/login/error")
	g.Add("server_ip", serverIP(r))
	g.Add("gas_version", gasVersion)
	g.Add("error", text)
	writeBody(w, http.StatusOK, htmlType, gasReply(base, g))
}

// handleActivate mints a challenge and its opaque server signature.
func (s *Simulator) handleActivate(w http.ResponseWriter, r *http.Request) {
	req, ok := s.readGAS(w, r, "ACTIVATION")
	if !ok {
		return
	}
	now := s.now()
	ch, err := s.challenges.issue(s.cfg.Rand, now.UnixNano(), now.Add(s.cfg.ChallengeTTL).UnixNano())
	if err != nil {
		s.log.Warn("activate refused", "reason", err.Error())
		writeBody(w, http.StatusServiceUnavailable, "text/plain; charset=utf-8", []byte("too many outstanding challenges\n"))
		return
	}
	base := s.baseURL(r)
	g := &cis.GPObject{}
	g.Add("gas_version", gasVersion)
	g.Add("signature", s.challengeMAC(ch[:]))
	g.Add("server_ip", serverIP(r))
	g.Add("ssp_url", "")
	g.Add("app_url", orDefault(req, "app_url", "NHST"))
	g.Add("log_session_id", req.Get("log_session_id"))
	g.Add("service", "ACTIVATION")
	g.Add("error_url", base+"/login/error")
	g.Add("ticket", "")
	g.Add("auth_method", orDefault(req, "auth_method", "3"))
	g.Add("reply_url", base+"/login/authvalidate")
	g.Add("challenge", base64.StdEncoding.EncodeToString(ch[:]))
	g.Add("download_gac_url", base+"/login/download")
	g.Add("latest_gac_version", latestGACVersion)
	writeBody(w, http.StatusOK, htmlType, gasReply(base, g))
}

// orDefault returns the param name of req as sent, or def if it is blank.
func orDefault(req *cis.GPObject, name, def string) string {
	if req.Text(name) == "" {
		return def
	}
	return req.Get(name)
}

// handleValidate checks the signed challenge and, if all is well, starts an
// SSO session and answers with the ticket and the user's roles.
func (s *Simulator) handleValidate(w http.ResponseWriter, r *http.Request) {
	req, ok := s.readGAS(w, r, "AUTHENTICATION")
	if !ok {
		return
	}
	chText := req.Text("challenge")
	sig := req.Text("signature")
	uid := req.Text("uid")
	resp := req.Get("response")
	if chText == "" || sig == "" || uid == "" || req.Text("response") == "" {
		s.gasFailure(w, r, req, textInvalidInput, "challenge, signature, uid or response missing")
		return
	}
	challenge, err := base64.StdEncoding.DecodeString(chText)
	if err != nil {
		s.gasFailure(w, r, req, textInvalidInput, "challenge is not base64")
		return
	}
	now := s.now()
	if !s.checkChallengeMAC(challenge, sig) {
		s.gasFailure(w, r, req, textFailed, "signature echo does not match the challenge")
		return
	}
	if err := s.challenges.take(challenge, now.UnixNano()); err != nil {
		s.gasFailure(w, r, req, textFailed, err.Error())
		return
	}
	user, why := s.verifyResponse(resp, challenge, uid, now)
	if why != "" {
		s.gasFailure(w, r, req, textFailed, why)
		return
	}
	ticket, err := s.newSession(user, noRole, 0, ipBytes(remoteAddr(r)))
	if err != nil {
		s.gasFailure(w, r, req, textFailed, err.Error())
		return
	}
	s.metrics.logins.WithLabelValues("ok").Inc()
	s.log.Info("login", "uid", uid, "roles", len(s.users[user].Roles))

	base := s.baseURL(r)
	u := &s.users[user]
	g := &cis.GPObject{Params: make([]cis.Param, 0, 16+len(u.Roles))}
	g.Add("log_session_id", req.Get("log_session_id"))
	g.Add("error_url", base+"/login/error")
	g.Add("server_ip", serverIP(r))
	g.Add("cn", u.Name)
	for i := range u.Roles {
		rp := &u.Roles[i]
		g.Add("nhsjobrole"+strconv.Itoa(i), cis.FormatJobRoleText(rp.OrgName, rp.StaffGroup, rp.SubGroup, rp.JobRole),
			cis.Attr{Name: "id", Value: rp.ID}, cis.Attr{Name: "orgcode", Value: rp.OrgCode})
	}
	g.Add("gas_version", gasVersion)
	g.Add("sso_ticket", ticket.Reveal())
	g.Add("sso_domain", ssoDomain(base))
	g.Add("sso_session_url", base+"/amserver/sessionservice")
	g.Add("sso_max_session_time", minutes(s.cfg.MaxSessionTime))
	g.Add("sso_keep_alive", "false")
	g.Add("sso_session_time", minutes(s.cfg.SessionTime))
	g.Add("sso_logout_url", base+"/login/authlogout")
	g.Add("auth_method", orDefault(req, "auth_method", "3"))
	g.Add("app_url", orDefault(req, "app_url", "NHST"))
	g.Add("service", "AUTHENTICATION")
	w.Header().Set("Cache-Control", "no-store")
	writeBody(w, http.StatusOK, htmlType, gasReply(base, g))
}

// verifyResponse checks the CMS response: its content is the challenge,
// its signer certificate chains to a card CA and is valid now, its CN is
// uid, and uid is a known user. It returns the user's index, or a reason.
func (s *Simulator) verifyResponse(resp string, challenge []byte, uid string, now time.Time) (int, string) {
	der, err := cis.DecodeSMIME(resp)
	if err != nil {
		return 0, "response is not S/MIME CMS: " + err.Error()
	}
	content, cert, err := cis.VerifyChallenge(der)
	if err != nil {
		return 0, "CMS signature: " + err.Error()
	}
	if !bytes.Equal(content, challenge) {
		return 0, "signed content is not the challenge"
	}
	if _, err := cert.Verify(x509.VerifyOptions{
		Roots:       s.cardPool,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return 0, "card certificate: " + err.Error()
	}
	if cert.Subject.CommonName != uid {
		return 0, "uid does not match the card certificate's CN"
	}
	ui, ok := s.byUID[uid]
	if !ok {
		return 0, "unknown user"
	}
	return ui, ""
}

func minutes(d time.Duration) string { return strconv.FormatInt(int64(d/time.Minute), 10) }

func ssoDomain(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return ""
	}
	h := u.Hostname()
	if net.ParseIP(h) != nil {
		return h
	}
	return "." + h
}

// handleLogout destroys the SSO session named in the gpOBJECT (POST, or
// GET with the body as some clients send it). An unknown ticket is also
// answered OK: either way the session is gone.
func (s *Simulator) handleLogout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		writeBody(w, http.StatusMethodNotAllowed, "text/plain; charset=utf-8", []byte("method not allowed\n"))
		return
	}
	req, ok := s.readGAS(w, r, "LOGOUT")
	if !ok {
		return
	}
	t := req.Text("sso_ticket")
	if t == "" {
		s.gasFailure(w, r, req, textInvalidInput, "sso_ticket missing")
		return
	}
	if k, ok := parseTicket(t); ok && s.sessions.remove(&k, endLogout) {
		s.log.Info("logout", "session", sessionID(&k))
	}
	writeBody(w, http.StatusOK, htmlType, statusOK)
}

// handleDTD serves the DTD the replies' DOCTYPE names.
func (s *Simulator) handleDTD(w http.ResponseWriter, _ *http.Request) {
	writeBody(w, http.StatusOK, "application/xml-dtd", []byte(`<!ELEMENT gpOBJECT (gpPARAM*)>
<!ELEMENT gpPARAM (#PCDATA)>
<!ATTLIST gpPARAM name CDATA #REQUIRED encoding CDATA #IMPLIED id CDATA #IMPLIED orgcode CDATA #IMPLIED>
`))
}

// handleErrorPage is where error_url points.
func (s *Simulator) handleErrorPage(w http.ResponseWriter, _ *http.Request) {
	writeBody(w, http.StatusOK, htmlType, []byte("<html><head><title>Authentication error</title></head><body><h1>Authentication error</h1><p>Your smartcard could not be authenticated. Remove your card and try again.</p></body></html>\n"))
}

// gasReply writes a reply the way GAS does, with the one GAS-style encoder
// (cis.GPObject.EncodeLikeGAS): one gpPARAM per line, the DOCTYPE naming
// <base>/login/dtd, texts such as "Admin & Clerical" with a raw '&' (not
// well-formed XML, on purpose: every real client copes, ours must too).
func gasReply(base string, g *cis.GPObject) []byte {
	return g.EncodeLikeGAS(base + "/login/dtd")
}
