package middleware_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/middleware"
)

// fakeValidator answers from a table of assertions by ticket; a missing
// ticket is cis.ErrSessionInvalid. err, when set, is returned for all.
type fakeValidator struct {
	mu    sync.Mutex
	as    map[cis.Ticket]*cis.Assertion
	err   error
	calls atomic.Int64
	now   func() time.Time
}

func (v *fakeValidator) Validate(_ context.Context, t cis.Ticket) (*cis.Assertion, error) {
	v.calls.Add(1)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.err != nil {
		return nil, v.err
	}
	a, ok := v.as[t]
	if !ok {
		return nil, cis.ErrSessionInvalid
	}
	c := *a
	now := time.Now()
	if v.now != nil {
		now = v.now()
	}
	c.IssueInstant, c.NotBefore, c.NotOnOrAfter = now, now.Add(-3*time.Minute), now.Add(time.Minute)
	return &c, nil
}

func (v *fakeValidator) set(t cis.Ticket, u cis.User, roleID string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.as == nil {
		v.as = make(map[cis.Ticket]*cis.Assertion)
	}
	v.as[t] = &cis.Assertion{User: u, SelectedRoleID: roleID}
}

// fakeTicket is a ticket-shaped string.
func fakeTicket(n string) cis.Ticket { return cis.Ticket("AQIC5wM2LY4S" + n + "=@AAJTSQACMDE=#") }

func TestGuards(t *testing.T) {
	v := &fakeValidator{}
	role := cis.RoleProfile{ID: "555000000901", OrgCode: "RCJ", OrgName: "SOUTH TEES", JobRole: `Consultant <script>alert("x")</script> & co`,
		JobRoleCode: "S8000:G8000:R8003", Activities: []string{"B0264", "B0360"}}
	v.set(fakeTicket("guard"), cis.User{UID: "555000000009", Name: "Guard Test", Roles: []cis.RoleProfile{role}}, role.ID)
	m, err := middleware.New(middleware.Config{Validator: v})
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	c := loginTo(t, m.Handler(ok), m.CookieName(), fakeTicket("guard"))

	for _, tc := range []struct {
		name   string
		guard  *middleware.Guard
		mw     func(http.Handler) http.Handler
		status int
		msg    string
	}{
		{"all held", middleware.ActivityGuard("B0264", "B0360"), middleware.RequireActivity("B0264", "B0360"), 204, ""},
		{"one missing", middleware.ActivityGuard("B0264", "B9999"), middleware.RequireActivity("B0264", "B9999"), 403,
			"your selected role at RCJ does not include activity B9999"},
		{"three missing", middleware.ActivityGuard("B1", "B2", "B3"), middleware.RequireActivity("B1", "B2", "B3"), 403,
			"your selected role at RCJ does not include activities B1, B2 and B3"},
		{"any held", middleware.AnyActivityGuard("B9999", "B0360"), middleware.RequireAnyActivity("B9999", "B0360"), 204, ""},
		{"any missing", middleware.AnyActivityGuard("B1", "B2"), middleware.RequireAnyActivity("B1", "B2"), 403,
			"your selected role at RCJ includes none of the activities B1 or B2"},
		{"job role part", middleware.JobRoleGuard("R8003"), middleware.RequireJobRole("R8003"), 204, ""},
		{"job role full", middleware.JobRoleGuard("S8000:G8000:R8003"), middleware.RequireJobRole("S8000:G8000:R8003"), 204, ""},
		{"job role other", middleware.JobRoleGuard("R8000"), middleware.RequireJobRole("R8000"), 403,
			`your selected role at RCJ is S8000:G8000:R8003 (Consultant <script>alert("x")</script> & co), not job role R8000`},
		{"job role other group", middleware.JobRoleGuard("S8001:G8000:R8003"), middleware.RequireJobRole("S8001:G8000:R8003"), 403, ""},
		{"job roles, one held", middleware.JobRoleGuard("R8000", "R8003"), middleware.RequireJobRole("R8000", "R8003"), 204, ""},
		{"job roles, full code held", middleware.JobRoleGuard("S8001:G8000:R8003", "S8000:G8000:R8003"), middleware.RequireJobRole("S8001:G8000:R8003", "S8000:G8000:R8003"), 204, ""},
		{"job roles, none held", middleware.JobRoleGuard("R8000", " R8001 ", "S8001:G8000:R8003"), middleware.RequireJobRole("R8000", " R8001 ", "S8001:G8000:R8003"), 403,
			`your selected role at RCJ is S8000:G8000:R8003 (Consultant <script>alert("x")</script> & co), not job role R8000, R8001 or S8001:G8000:R8003`},
		{"org, any case", middleware.OrgGuard("rkf", "rcj"), middleware.RequireOrg("rkf", "rcj"), 204, ""},
		{"org other", middleware.OrgGuard("RKF", "RMM"), middleware.RequireOrg("RKF", "RMM"), 403,
			"your selected role is at RCJ, not at RKF or RMM"},
		{"no codes", middleware.ActivityGuard(), middleware.RequireActivity(), 500, ""},
		{"bad job role code", middleware.JobRoleGuard("S8000:R8003"), middleware.RequireJobRole("S8000:R8003"), 500, ""},
		{"no job role codes", middleware.JobRoleGuard(), middleware.RequireJobRole(), 500, ""},
		{"one bad job role code of two", middleware.JobRoleGuard("R8003", "S8000:R8003"), middleware.RequireJobRole("R8003", "S8000:R8003"), 500, ""},
		{"bad code", middleware.OrgGuard("RCJ", "<b>"), middleware.RequireOrg("RCJ", "<b>"), 500, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := m.Handler(tc.mw(ok))
			resp := serve(h, http.MethodGet, "/x", nil, withCookie(c))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body(resp))
			}
			// Check answers the same, with an error callers can test.
			var err error
			m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { err = tc.guard.Check(r) })).
				ServeHTTP(discard{}, authed(c))
			switch tc.status {
			case 204:
				if err != nil {
					t.Errorf("Check = %v", err)
				}
				return
			case 500:
				if !errors.Is(err, middleware.ErrGuardConfig) {
					t.Errorf("Check = %v, want ErrGuardConfig", err)
				}
				return
			}
			var de *middleware.DeniedError
			if !errors.Is(err, middleware.ErrDenied) || !errors.As(err, &de) || de.OrgCode != "RCJ" || len(de.Missing) == 0 {
				t.Fatalf("Check = %#v, want a *DeniedError", err)
			}
			if tc.msg == "" {
				return
			}
			if err.Error() != tc.msg {
				t.Errorf("Error() = %q, want %q", err.Error(), tc.msg)
			}
			p := problemOf(t, resp)
			if p["error"] != "forbidden" || !strings.EqualFold(p["message"].(string), tc.msg+".") {
				t.Errorf("JSON answer %v", p)
			}
			// A browser gets a page saying the same, escaped.
			page := body(serve(h, http.MethodGet, "/x", nil, withCookie(c), withHeader("Accept", "text/html")))
			if strings.Contains(page, "<script>") {
				t.Errorf("HTML page not escaped:\n%s", page)
			}
			want := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;").Replace(tc.msg[1:])
			if !strings.Contains(page, want) {
				t.Errorf("HTML page lacks %q:\n%s", want, page)
			}
		})
	}

	// A job role guard with several codes names them all as missing.
	m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var de *middleware.DeniedError
		err := middleware.JobRoleGuard("R8000", "S8001:G8000:R8003").Check(r)
		if !errors.As(err, &de) || de.Rule != "job role" || !slices.Equal(de.Missing, []string{"R8000", "S8001:G8000:R8003"}) ||
			de.JobRoleCode != "S8000:G8000:R8003" {
			t.Errorf("JobRoleGuard Check = %#v", err)
		}
	})).ServeHTTP(discard{}, authed(c))

	// No session: 401, and Check says ErrNoSession.
	g := middleware.ActivityGuard("B0264")
	if resp := serve(g.Handler(ok), http.MethodGet, "/x", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("guard without a session: %d", resp.StatusCode)
	}
	if err := g.Check(authed(nil)); !errors.Is(err, middleware.ErrNoSession) {
		t.Errorf("Check without session = %v", err)
	}
}

func authed(c *http.Cookie) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, appOrigin+"/x", nil)
	if c != nil {
		r.AddCookie(c)
	}
	return r
}

type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
