package cis

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const testSID = "AQIC5wM2LY4SfcxV0oQ1k8Hc3kgdBJGlfJ+Zt0B6y7nBc1o=@AAJTSQACMDE=#"

// sessionAnswer is a session service answer shaped like OpenSSO's (and the
// simulator's), with inner as the SessionResponse's GetSession content.
func sessionAnswer(inner string) string {
	return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
		`<ResponseSet vers="1.0" svcid="session" reqid="1"><Response><![CDATA[<SessionResponse vers="1.0" reqid="0"><GetSession>` +
		inner + `</GetSession></SessionResponse>]]></Response></ResponseSet>` + "\n"
}

func validSession(attrs, props string) string {
	if attrs == "" {
		attrs = `timeidle="12" timeleft="35988" maxtime="600" maxidle="600"`
	}
	if props == "" {
		props = `<Property name="UserId" value="555000000001"></Property>` +
			`<Property name="SessionHandle" value="shandle:` + testSID + `"></Property>` +
			`<Property name="ssbSessionRoleUid" value="555000000101"></Property>`
	}
	return `<Session sid="` + testSID + `" stype="user" cid="uid=555000000001,ou=People,o=nhs" cdomain="o=nhs" maxcaching="3" ` +
		attrs + ` state="valid">` + props + `</Session>`
}

func TestParseGetSessionResponse(t *testing.T) {
	info, sid, err := parseGetSessionResponse([]byte(sessionAnswer(validSession("", ""))))
	if err != nil {
		t.Fatal(err)
	}
	want := SessionInfo{UID: "555000000001", SelectedRoleID: "555000000101", TimeLeft: 35988 * time.Second,
		TimeIdle: 12 * time.Second, MaxTime: 10 * time.Hour, MaxIdle: 10 * time.Hour}
	if *info != want || sid != testSID {
		t.Fatalf("got %+v %q", info, sid)
	}
	// Plain text instead of CDATA, indentation, comments: the same.
	escaped := strings.NewReplacer("<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(
		`<SessionResponse vers="1.0" reqid="0"><GetSession>` + validSession("", "") + `</GetSession></SessionResponse>`)
	alt := "<!-- answer -->\n<ResponseSet vers=\"1.0\" svcid=\"Session\" reqid=\"7\">\n  <Response>" + escaped + "</Response>\n</ResponseSet>"
	if info2, _, err := parseGetSessionResponse([]byte(alt)); err != nil || *info2 != want {
		t.Fatalf("escaped text form: %+v, %v", info2, err)
	}
	// OpenSSO writes the largest long for a session that never expires:
	// clamped to the largest duration.
	forever := sessionAnswer(validSession(`timeidle="0" timeleft="9223372036854775807" maxtime="1" maxidle="1"`, ""))
	if info3, _, err := parseGetSessionResponse([]byte(forever)); err != nil || info3.TimeLeft != math.MaxInt64 {
		t.Fatalf("a session that never expires: %+v, %v", info3, err)
	}
}

func TestParseGetSessionResponseRefusals(t *testing.T) {
	ok := validSession("", "")
	for name, c := range map[string]struct {
		doc  string
		want error
	}{
		"exception":         {sessionAnswer(`<Exception>` + testSID + ` Invalid session ID.</Exception>`), ErrSessionInvalid},
		"destroyed":         {sessionAnswer(strings.Replace(ok, `state="valid"`, `state="destroyed"`, 1)), ErrSessionInvalid},
		"doctype":           {`<!DOCTYPE x [<!ENTITY a "b">]>` + sessionAnswer(ok), ErrMalformed},
		"inner doctype":     {sessionAnswer(ok)[:60] + strings.Replace(sessionAnswer(ok)[60:], "<SessionResponse", `<!DOCTYPE s><SessionResponse`, 1), ErrMalformed},
		"second root":       {sessionAnswer(ok) + `<ResponseSet vers="1.0" svcid="session"/>`, ErrMalformed},
		"namespace":         {strings.Replace(sessionAnswer(ok), "<ResponseSet ", `<ResponseSet xmlns="urn:x" `, 1), ErrMalformed},
		"prefix":            {strings.ReplaceAll(sessionAnswer(ok), "ResponseSet", "x:ResponseSet"), ErrMalformed},
		"wrong service":     {strings.Replace(sessionAnswer(ok), `svcid="session"`, `svcid="naming"`, 1), ErrMalformed},
		"two responses":     {strings.Replace(sessionAnswer(ok), "</ResponseSet>", "<Response>x</Response></ResponseSet>", 1), ErrMalformed},
		"no response":       {`<ResponseSet vers="1.0" svcid="session"></ResponseSet>`, ErrMalformed},
		"two sessions":      {sessionAnswer(ok + ok), ErrMalformed},
		"empty GetSession":  {sessionAnswer(``), ErrMalformed},
		"other operation":   {strings.ReplaceAll(sessionAnswer(ok), "GetSession>", "GetValidSessions>"), ErrMalformed},
		"no UserId":         {sessionAnswer(validSession("", `<Property name="x" value="y"></Property>`)), ErrMalformed},
		"repeated property": {sessionAnswer(validSession("", `<Property name="UserId" value="1"/><Property name="UserId" value="2"/>`)), ErrMalformed},
		"repeated attr":     {sessionAnswer(strings.Replace(ok, `stype="user"`, `stype="user" stype="app"`, 1)), ErrMalformed},
		"negative time":     {sessionAnswer(validSession(`timeidle="-1" timeleft="1" maxtime="1" maxidle="1"`, "")), ErrMalformed},
		"missing time":      {sessionAnswer(validSession(`timeidle="0" timeleft="1" maxtime="1"`, "")), ErrMalformed},
		"no sid":            {sessionAnswer(strings.Replace(ok, `sid="`+testSID+`"`, ``, 1)), ErrMalformed},
		"text in Session":   {sessionAnswer(strings.Replace(ok, "</Session>", "hello</Session>", 1)), ErrMalformed},
		"unclosed":          {strings.TrimSuffix(sessionAnswer(ok), "</ResponseSet>\n"), ErrMalformed},
		"latin-1":           {strings.Replace(sessionAnswer(ok), "UTF-8", "ISO-8859-1", 1), ErrMalformed},
		"not XML":           {"OK\n", ErrMalformed},
		"too large":         {sessionAnswer(ok) + strings.Repeat(" ", maxSessionResponseSize), ErrTooLarge},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := parseGetSessionResponse([]byte(c.doc))
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if strings.Contains(err.Error(), testSID) {
				t.Errorf("error shows the ticket: %v", err)
			}
			var pe *ParseError
			if errors.Is(err, ErrMalformed) && !errors.As(err, &pe) {
				t.Errorf("malformed answer is not a *ParseError: %v", err)
			}
		})
	}
}

// TestSessionServiceClientChecks: what the client sends, and answers it
// refuses: about another session, server errors, oversized.
func TestSessionServiceClientChecks(t *testing.T) {
	var answer, gotBody, gotType string
	status := http.StatusOK
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody, gotType = string(b), r.Header.Get("Content-Type")
		if r.URL.Path != "/amserver/sessionservice" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	defer srv.Close()
	env := Environment{Name: "t", GASURL: srv.URL, SSBURL: srv.URL, Roots: []*x509.Certificate{srv.Certificate()}}
	c, err := NewSessionServiceClient(SessionServiceConfig{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	answer = sessionAnswer(validSession("", ""))
	if _, err := c.GetSession(ctx, testSID, true); err != nil {
		t.Fatal(err)
	}
	inner := `<SessionRequest vers="1.0" reqid="0"><GetSession reset="true"><SessionID>` + testSID + `</SessionID></GetSession></SessionRequest>`
	if !strings.Contains(gotBody, `<RequestSet vers="1.0" svcid="session" reqid="1"><Request><![CDATA[`+inner+`]]></Request></RequestSet>`) ||
		!strings.HasPrefix(gotType, "text/xml") {
		t.Errorf("request %s: %s", gotType, gotBody)
	}
	if _, err := c.GetSession(ctx, testSID, false); err != nil || !strings.Contains(gotBody, `reset="false"`) {
		t.Errorf("reset=false: %v %s", err, gotBody)
	}

	other := "AQIC" + strings.Repeat("B", 44) + "@AAJTSQACMDE=#"
	if _, err := c.GetSession(ctx, Ticket(other), true); !errors.Is(err, ErrMalformed) || strings.Contains(err.Error(), testSID) {
		t.Errorf("answer about another session: %v, want ErrMalformed", err)
	}
	status = http.StatusInternalServerError
	if _, err := c.GetSession(ctx, testSID, true); !errors.Is(err, ErrUnavailable) {
		t.Errorf("HTTP 500: %v, want ErrUnavailable", err)
	}
	status = http.StatusOK
	answer = strings.Repeat("x", maxSessionResponseSize+1)
	if _, err := c.GetSession(ctx, testSID, true); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v, want ErrTooLarge", err)
	}
	if _, err := NewSessionServiceClient(SessionServiceConfig{Env: Environment{Name: "x", GASURL: "https://h", SSBURL: "https://h"}}); err == nil {
		t.Error("https environment without trust anchors accepted")
	}
}

func FuzzParseGetSessionResponse(f *testing.F) {
	f.Add([]byte(sessionAnswer(validSession("", ""))))
	f.Add([]byte(sessionAnswer(`<Exception>x Invalid session ID.</Exception>`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, sid, err := parseGetSessionResponse(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) && !errors.Is(err, ErrSessionInvalid) {
				t.Fatalf("error is neither a *ParseError nor ErrSessionInvalid: %v", err)
			}
			return
		}
		if sid == "" || info.UID == "" || info.TimeLeft < 0 || info.TimeIdle < 0 || info.MaxTime < 0 || info.MaxIdle < 0 {
			t.Fatalf("accepted an incomplete session: %+v sid %q", info, sid)
		}
	})
}
