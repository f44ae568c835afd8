package cissim

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opencis/cisauth/cis"
)

// The OpenSSO session and naming services, in the small subset clients use:
// GetSession (is this ticket valid, whose is it) and GetNamingProfile.

const (
	maxOpenSSOBody     = 64 << 10
	maxOpenSSORequests = 16
)

var errOpenSSO = errors.New("malformed OpenSSO request")

// requestSet is the outer OpenSSO envelope; each Request holds an inner
// XML document as character data (usually CDATA).
type requestSet struct {
	XMLName  xml.Name `xml:"RequestSet"`
	Vers     string   `xml:"vers,attr"`
	SvcID    string   `xml:"svcid,attr"`
	ReqID    string   `xml:"reqid,attr"`
	Requests []string `xml:"Request"`
}

type sessionRequest struct {
	XMLName    xml.Name `xml:"SessionRequest"`
	ReqID      string   `xml:"reqid,attr"`
	GetSession []struct {
		Reset     string   `xml:"reset,attr"`
		SessionID []string `xml:"SessionID"`
	} `xml:"GetSession"`
	AddSessionListener []listenerRequest `xml:"AddSessionListener"`
}

// sessionQuery is one parsed GetSession or AddSessionListener.
type sessionQuery struct {
	reqID  string
	sid    string
	reset  bool
	ok     bool   // a well-formed GetSession with exactly one SessionID, or AddSessionListener with one SessionID and one URL
	listen bool   // AddSessionListener
	url    string // its URL
}

// parseRequestSet parses an OpenSSO RequestSet of at most
// maxOpenSSORequests requests, strictly: one root, no trailing elements.
func parseRequestSet(body []byte) (*requestSet, error) {
	if len(body) > maxOpenSSOBody {
		return nil, errOpenSSO
	}
	var rs requestSet
	if err := decodeOne(body, &rs); err != nil {
		return nil, errOpenSSO
	}
	if len(rs.Requests) == 0 || len(rs.Requests) > maxOpenSSORequests {
		return nil, errOpenSSO
	}
	return &rs, nil
}

// parseSessionRequests parses a session service RequestSet into queries;
// requests that are not a single GetSession come back with ok false.
func parseSessionRequests(body []byte) (*requestSet, []sessionQuery, error) {
	rs, err := parseRequestSet(body)
	if err != nil {
		return nil, nil, err
	}
	if !strings.EqualFold(rs.SvcID, "session") { // "session"; some clients send "Session"
		return nil, nil, errOpenSSO
	}
	qs := make([]sessionQuery, 0, len(rs.Requests))
	for _, inner := range rs.Requests {
		var sr sessionRequest
		q := sessionQuery{}
		if err := decodeOne([]byte(strings.Trim(inner, xmlSpace)), &sr); err == nil {
			q.reqID = sr.ReqID
			if len(sr.GetSession) == 1 && len(sr.GetSession[0].SessionID) == 1 {
				q.sid = strings.Trim(sr.GetSession[0].SessionID[0], xmlSpace)
				q.reset = sr.GetSession[0].Reset == "true"
				q.ok = q.sid != ""
			}
			if len(sr.AddSessionListener) == 1 && len(sr.GetSession) == 0 {
				sr.AddSessionListener[0].fill(&q)
			}
		}
		qs = append(qs, q)
	}
	return rs, qs, nil
}

// xmlSpace is XML's white space. Other Unicode space (NO-BREAK SPACE, EM
// SPACE, …) is content: strings.TrimSpace would strip it.
const xmlSpace = " \t\r\n"

// decodeOne decodes exactly one XML element into v: no DOCTYPE, nothing
// but whitespace, comments or processing instructions around it.
func decodeOne(b []byte, v any) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	if err := d.Decode(v); err != nil {
		return err
	}
	if bytes.Contains(b, []byte("<!DOCTYPE")) {
		return errOpenSSO
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.Trim(t, xmlSpace)) != 0 {
				return errOpenSSO
			}
		case xml.Comment, xml.ProcInst:
		default:
			return errOpenSSO
		}
	}
}

func readCapped(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
}

// handleSessionService answers POST /amserver/sessionservice.
func (s *Simulator) handleSessionService(w http.ResponseWriter, r *http.Request) {
	body, err := readCapped(w, r, maxOpenSSOBody)
	if err != nil {
		writeBody(w, http.StatusRequestEntityTooLarge, "text/plain; charset=utf-8", []byte("request too large\n"))
		return
	}
	rs, qs, err := parseSessionRequests(body)
	if err != nil {
		writeBody(w, http.StatusBadRequest, "text/plain; charset=utf-8", []byte("malformed RequestSet\n"))
		return
	}
	now := s.now()
	b := []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><ResponseSet vers="1.0" svcid="session" reqid="`)
	b = appendAttrValue(b, rs.ReqID)
	b = append(b, `">`...)
	for _, q := range qs {
		b = append(b, `<Response><![CDATA[<SessionResponse vers="1.0" reqid="`...)
		b = appendAttrValue(b, q.reqID)
		b = append(b, `">`...)
		if q.listen {
			b = s.appendAddListener(b, &q, now)
		} else {
			b = s.appendGetSession(b, &q, now)
		}
		b = append(b, `</SessionResponse>]]></Response>`...)
	}
	b = append(b, "</ResponseSet>\n"...)
	writeBody(w, http.StatusOK, "text/xml; charset=utf-8", b)
}

// appendGetSession answers a GetSession query inside a SessionResponse.
func (s *Simulator) appendGetSession(b []byte, q *sessionQuery, now time.Time) []byte {
	b = append(b, `<GetSession>`...)
	k, ok := sessionKey{}, false
	if q.ok {
		k, ok = parseTicket(q.sid)
	}
	var v session
	if ok {
		v, ok = s.sessions.use(&k, now.UnixNano(), q.reset, nil)
	}
	if !ok {
		b = append(b, `<Exception>Invalid session ID.</Exception>`...)
	} else {
		b = s.appendSessionElem(b, &k, &v, now.UnixNano(), cis.SessionStateValid)
	}
	return append(b, `</GetSession>`...)
}

// appendSessionElem writes the Session element of a GetSession answer or
// a notification, with state.
func (s *Simulator) appendSessionElem(b []byte, k *sessionKey, v *session, now int64, state string) []byte {
	u := &s.users[v.user]
	t := formatTicket(k).Reveal()
	sec := func(ns int64) string { return strconv.FormatInt(ns/1e9, 10) }
	b = append(b, `<Session sid="`...)
	b = appendAttrValue(b, t)
	b = append(b, `" stype="user" cid="uid=`...)
	b = append(b, u.UID...)
	b = append(b, `,ou=People,o=nhs" cdomain="o=nhs" maxtime="`...)
	b = append(b, strconv.FormatInt(s.sessions.max/60e9, 10)...)
	b = append(b, `" maxidle="`...)
	b = append(b, strconv.FormatInt(s.sessions.idle/60e9, 10)...)
	b = append(b, `" maxcaching="3" timeidle="`...)
	b = append(b, sec(now-v.last)...)
	b = append(b, `" timeleft="`...)
	b = append(b, sec(max(0, s.sessions.expires(v)-now))...)
	b = append(b, `" state="`...)
	b = append(b, state...)
	b = append(b, `">`...)
	prop := func(name, value string) {
		b = append(b, `<Property name="`...)
		b = append(b, name...)
		b = append(b, `" value="`...)
		b = appendAttrValue(b, value)
		b = append(b, `"></Property>`...)
	}
	prop("UserId", u.UID)
	prop("SessionHandle", "shandle:"+t)
	prop("Host", ipString(v.ip))
	prop("AuthType", "ExtendedLoginModule")
	if v.role != noRole {
		prop("ssbSessionRoleUid", u.Roles[v.role].ID)
	}
	return append(b, `</Session>`...)
}

// handleNamingService answers POST /amserver/namingservice with the
// GetNamingProfile attributes pointing at this simulator.
func (s *Simulator) handleNamingService(w http.ResponseWriter, r *http.Request) {
	body, err := readCapped(w, r, maxOpenSSOBody)
	if err != nil {
		writeBody(w, http.StatusRequestEntityTooLarge, "text/plain; charset=utf-8", []byte("request too large\n"))
		return
	}
	rs, err := parseRequestSet(body)
	if err != nil {
		writeBody(w, http.StatusBadRequest, "text/plain; charset=utf-8", []byte("malformed RequestSet\n"))
		return
	}
	base := s.baseURL(r)
	b := []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><ResponseSet vers="1.0" svcid="com.iplanet.am.naming" reqid="`)
	b = appendAttrValue(b, rs.ReqID)
	b = append(b, `">`...)
	for range rs.Requests {
		b = append(b, `<Response><![CDATA[<NamingResponse vers="3.0" reqid="0"><GetNamingProfile>`...)
		for _, a := range [][2]string{
			{"iplanet-am-naming-session-url", base + "/amserver/sessionservice"},
			{"iplanet-am-naming-samlassertionmanager-url", base + "/saml/RoleAssertion"},
			{"iplanet-am-naming-logging-url", base + "/amserver/loggingservice"},
		} {
			b = append(b, `<Attribute name="`...)
			b = append(b, a[0]...)
			b = append(b, `" value="`...)
			b = appendAttrValue(b, a[1])
			b = append(b, `"></Attribute>`...)
		}
		b = append(b, `</GetNamingProfile></NamingResponse>]]></Response>`...)
	}
	b = append(b, "</ResponseSet>\n"...)
	writeBody(w, http.StatusOK, "text/xml; charset=utf-8", b)
}
