package cissim

import (
	"net"
	"net/http"
	"net/netip"

	"github.com/opencis/cisauth/cis"
)

// Bodies of the SSB's small HTML answers. Failure texts avoid the letters
// "OK" in any case, since clients look for them to detect success.
var (
	statusOK     = []byte("<HTML><STATUS>OK</STATUS></HTML>")
	statusFailed = func(reason string) []byte {
		return []byte("<HTML><STATUS>FAILED</STATUS><REASON>" + reason + "</REASON></HTML>")
	}
)

const htmlType = "text/html; charset=utf-8"

// remoteAddr is the client's address as the SSB would see it.
func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func remoteIP(r *http.Request) string {
	a := remoteAddr(r)
	if !a.IsValid() {
		return "127.0.0.1"
	}
	return a.String()
}

// ticketFromQuery returns the session key of the token parameter.
func ticketFromQuery(r *http.Request) (sessionKey, bool) {
	tok, ok, err := queryValue(r.URL.RawQuery, "token")
	if err != nil || !ok {
		return sessionKey{}, false
	}
	return parseTicket(tok)
}

// handleRoleSelection stores the selected role and mode in the session:
// GET /saml/RoleSelectionGP.jsp?token=…&selectedRoleUid=…&ssbMode=0|1.
func (s *Simulator) handleRoleSelection(w http.ResponseWriter, r *http.Request) {
	k, ok := ticketFromQuery(r)
	if !ok {
		writeBody(w, http.StatusOK, htmlType, statusFailed("invalid session"))
		return
	}
	roleID, _, err1 := queryValue(r.URL.RawQuery, "selectedRoleUid")
	modeText, _, err2 := queryValue(r.URL.RawQuery, "ssbMode")
	mode := cis.ModeLive
	switch {
	case err1 != nil || err2 != nil:
		writeBody(w, http.StatusBadRequest, htmlType, statusFailed("malformed request"))
		return
	case modeText == "" || modeText == "0":
	case modeText == "1":
		mode = cis.ModeTraining
	default:
		writeBody(w, http.StatusBadRequest, htmlType, statusFailed("ssbMode must be 0 or 1"))
		return
	}
	known := true
	v, live := s.sessions.use(&k, s.now().UnixNano(), true, func(v *session) {
		idx := roleIndex(&s.users[v.user], roleID)
		if idx < 0 {
			known = false
			return
		}
		v.role, v.mode = int16(idx), uint8(mode)
	})
	switch {
	case !live:
		writeBody(w, http.StatusOK, htmlType, statusFailed("invalid session"))
	case !known:
		s.log.Info("role selection refused: role not held", "role_id", roleID)
		writeBody(w, http.StatusOK, htmlType, statusFailed("role not held by user"))
	default:
		s.roleSelected(&k, &v)
		writeBody(w, http.StatusOK, htmlType, statusOK)
	}
}

// handleRoleAssertion answers GET /saml/RoleAssertion?token=… with the SAML
// 1.1 assertion for a live session whose role has been selected; otherwise
// (unknown, expired, logged out, no role yet) with HTTP 200 and a
// samlp:Requester/samlp:RequestDenied status, as OpenSSO does.
func (s *Simulator) handleRoleAssertion(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	bp := s.getBuf()
	defer s.putBuf(bp)
	k, ok := ticketFromQuery(r)
	var v session
	if ok {
		v, ok = s.sessions.use(&k, now.UnixNano(), true, nil)
	}
	switch {
	case !ok:
		s.metrics.assertDenied.Inc()
		*bp = s.appendDenied(*bp, now, remoteIP(r), "Invalid or expired SSO session")
	case v.role == noRole:
		s.metrics.assertDenied.Inc()
		*bp = s.appendDenied(*bp, now, remoteIP(r), "No role selected for this SSO session")
	default:
		s.metrics.assertSuccess.Inc()
		u := &s.users[v.user]
		*bp = s.appendAssertion(*bp, &samlRequest{
			now:       now,
			recipient: remoteIP(r),
			loginIP:   ipString(v.ip),
			authn:     unixNano(v.created),
			user:      &s.saml[v.user],
			roleID:    u.Roles[v.role].ID,
			mode:      cis.Mode(v.mode),
			ticket:    formatTicket(&k),
		})
	}
	w.Header()["Cache-Control"] = []string{"no-store"}
	writeBody(w, http.StatusOK, "text/xml; charset=utf-8", *bp)
}

// handleDeviceIDLogger accepts the agent's device id report for a live
// session.
func (s *Simulator) handleDeviceIDLogger(w http.ResponseWriter, r *http.Request) {
	k, ok := ticketFromQuery(r)
	if ok {
		_, ok = s.sessions.use(&k, s.now().UnixNano(), false, nil)
	}
	if !ok {
		writeBody(w, http.StatusOK, htmlType, statusFailed("invalid session"))
		return
	}
	writeBody(w, http.StatusOK, htmlType, statusOK)
}
