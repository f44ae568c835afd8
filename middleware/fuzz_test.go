package middleware

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
)

// Fuzz targets for every parser of outside input in this package: the
// stored session and validation (read back from a shared Redis), the
// return path, and the login request (body, content type, header, query).

func seedRecord() *record {
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	t := cis.Ticket("AQIC5wM2LY4SfczntBbXvEAOuECbqMY3J4NW3byH6xwgkGE=@AAJTSQACMDE=#")
	return &record{
		id: strings.Repeat("A", 43), source: SourceSSB, ticket: t, th: hashTicket(t),
		user: cis.User{UID: "555000000001", Name: "Jones Alice Dr", Roles: []cis.RoleProfile{{
			ID: "555000000101", OrgCode: "RCJ", JobRoleCode: "S8000:G8000:R8003", Activities: []string{"B0264"},
		}}},
		roleID: "555000000101", created: now, expires: now.Add(10 * time.Hour), validated: now,
	}
}

func FuzzDecodeRecord(f *testing.F) {
	rec := seedRecord()
	for _, r := range []*record{rec, seedCIS2Record()} {
		js, err := encodeRecord(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(r.id, js)
	}
	f.Add(rec.id, []byte(`{"v":1,"id":"`+rec.id+`","source":"cis-ssb","user":{"UID":"1","Roles":[{"ID":"2"}]},"role_id":"2"}`))
	f.Fuzz(func(t *testing.T, id string, b []byte) {
		rec, err := decodeRecord(id, b)
		if err != nil {
			return
		}
		noRole := rec.source == SourceCIS2 && rec.roleID == ""
		if rec.id != id || (!noRole && rec.user.Role(rec.roleID) == nil) || !rec.expires.After(rec.created) ||
			(rec.source == SourceCIS2) != (rec.grant != nil) {
			t.Fatalf("decodeRecord accepted an inconsistent record: %+v", rec)
		}
		again, err := encodeRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeRecord(id, again)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if third, _ := encodeRecord(back); !bytes.Equal(third, again) || back.th != rec.th {
			t.Fatalf("round trip changed the record:\n%s\n%s", again, third)
		}
	})
}

func FuzzDecodeValidated(f *testing.F) {
	rec := seedRecord()
	js, err := encodeValidated(&validated{a: &cis.Assertion{User: rec.user, SelectedRoleID: rec.roleID}, fetched: rec.created})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(js)
	f.Add([]byte(`{"v":1,"fetched":"2026-01-01T00:00:00Z","assertion":{"User":{"UID":"1"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeValidated(b)
		if err != nil {
			return
		}
		if v.a.SelectedRole() == nil || v.a.User.UID == "" || v.fetched.IsZero() {
			t.Fatalf("decodeValidated accepted an inconsistent validation: %+v", v.a)
		}
	})
}

func FuzzSafeReturn(f *testing.F) {
	for _, s := range []string{"/records?id=1", "//evil.example", "/\\evil", "https://evil.example", "/%2F%2Fevil", "/a/../..//b", "javascript:x"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://app.example/some/page")
	f.Fuzz(func(t *testing.T, s string) {
		got := safeReturn(s)
		if got != "/" && got != s {
			t.Fatalf("safeReturn(%q) = %q: neither the input nor /", s, got)
		}
		// Whatever a browser makes of it, it stays on this origin.
		ref, err := url.Parse(got)
		if err != nil {
			t.Fatalf("safeReturn(%q) = %q does not parse: %v", s, got, err)
		}
		if u := base.ResolveReference(ref); u.Scheme != "https" || u.Host != "app.example" || u.User != nil {
			t.Fatalf("safeReturn(%q) = %q leads to %s", s, got, u)
		}
		if strings.ContainsAny(got, "\\\r\n\t #") || strings.HasPrefix(got, "//") {
			t.Fatalf("safeReturn(%q) = %q", s, got)
		}
	})
}

// refuseAll is a Validator that knows no ticket.
type refuseAll struct{}

func (refuseAll) Validate(context.Context, cis.Ticket) (*cis.Assertion, error) {
	return nil, cis.ErrSessionInvalid
}

func FuzzLogin(f *testing.F) {
	m, err := New(Config{Validator: refuseAll{}})
	if err != nil {
		f.Fatal(err)
	}
	tk := "AQIC5wM2LY4SfczntBbXvEAOuECbqMY3J4NW3byH6xwgkGE=@AAJTSQACMDE=#"
	f.Add("", "", tk, "")
	f.Add("application/x-www-form-urlencoded", "ticket="+url.QueryEscape(tk)+"&return=%2Fx", "", "")
	f.Add("application/json", `{"ticket":"`+tk+`"}`, "", "")
	f.Add("application/json", `{"ticket":1}`, "", "a=b")
	f.Add("text/plain", "x", "", "ticket="+tk)
	allowed := map[int]bool{400: true, 401: true, 403: true, 413: true, 415: true}
	f.Fuzz(func(t *testing.T, ctype, body, header, query string) {
		r := httptest.NewRequest(http.MethodPost, "https://app.example/cis/login", strings.NewReader(body))
		r.URL.RawQuery = query
		if ctype != "" {
			r.Header.Set("Content-Type", ctype)
		}
		if header != "" {
			r.Header.Set(TicketHeader, header)
		}
		w := httptest.NewRecorder()
		m.Endpoints().ServeHTTP(w, r)
		if !allowed[w.Code] {
			t.Fatalf("status %d for a login no validator accepts: %s", w.Code, w.Body)
		}
		if len(w.Result().Cookies()) > 0 && w.Result().Cookies()[0].MaxAge >= 0 {
			t.Fatalf("a refused login set a cookie")
		}
		if strings.Contains(w.Body.String(), "AQIC") || strings.Contains(fmt.Sprint(w.Header()), "AQIC") {
			t.Fatalf("the answer echoes a ticket")
		}
	})
}
