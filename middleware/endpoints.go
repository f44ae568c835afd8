package middleware

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/opencis/cisauth/cis"
)

// refresh answers POST RefreshPath: the session's RoleAssertion is fetched
// now (no cache), so a role switched through GAS shows at once; a changed
// role rotates the session id.
func (m *Middleware) refresh(w http.ResponseWriter, r *http.Request) {
	req, p := m.readPost(w, r, false)
	if p != nil {
		writeProblem(w, r, m.now(), *p)
		return
	}
	e, err := m.current(w, r)
	var st *state
	if e != nil && err == nil {
		st, err = m.live(r.Context(), w, e, true)
	}
	if err != nil {
		m.fail(w, r, err)
		return
	}
	if st == nil {
		m.unauthenticated(w, r)
		return
	}
	m.answerSession(w, r, req, st)
}

// ssoLogoutTimeout bounds the GAS logout a logout makes.
const ssoLogoutTimeout = 10 * time.Second

// logoutEndpoint answers POST LogoutPath: the session ends at once on every
// instance, and with Config.SSOLogout the SSO session and every web
// session of its ticket end too. A form post is redirected to its return
// path (or the login page); other clients get {"logged_out": true}.
func (m *Middleware) logoutEndpoint(w http.ResponseWriter, r *http.Request) {
	req, p := m.readPost(w, r, false)
	if p != nil {
		writeProblem(w, r, m.now(), *p)
		return
	}
	ctx := r.Context()
	e, err := m.current(w, r)
	if err != nil {
		m.fail(w, r, err)
		return
	}
	var ended *record
	if e != nil {
		if st := e.st.Load(); st != nil {
			if err := m.logout(ctx, st.rec); err != nil {
				m.fail(w, r, err)
				return
			}
			ended = st.rec
		}
	}
	m.ck.clear(w)
	if req.form && ended != nil && ended.source == SourceCIS2 && m.cis2 != nil && m.cis2.providerLogout(w, r, ended) {
		return
	}
	if req.form {
		ret := req.ret
		if ret == "" && m.s.loginURL != nil {
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, m.s.loginURL.String(), http.StatusSeeOther)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, safeReturn(ret), http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"logged_out": true})
}

// logout ends a session, and with SSOLogout its SSO session and every
// session of its ticket.
func (m *Middleware) logout(ctx context.Context, rec *record) error {
	recs := []*record{rec}
	if m.s.SSOLogout != nil && !rec.ticket.IsZero() {
		lctx, cancel := context.WithTimeout(ctx, ssoLogoutTimeout)
		err := m.s.SSOLogout.Logout(lctx, &cis.Session{Ticket: rec.ticket, UID: rec.user.UID})
		cancel()
		if err != nil {
			// The web sessions end anyway; the SSO session ends with the
			// card, and revalidation would notice.
			m.log.LogAttrs(ctx, slog.LevelWarn, "GAS logout failed", slog.String("uid", rec.user.UID), slog.String("error", err.Error()))
		}
		ids, err := m.be.sessionsOf(ctx, rec.th)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if id != rec.id {
				recs = append(recs, &record{id: id, th: rec.th, source: rec.source})
			}
		}
		if err := m.val.forget(ctx, rec.th); err != nil {
			return err
		}
	}
	if err := m.end(ctx, "logout", recs...); err != nil {
		return err
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "logout", slog.String("uid", rec.user.UID), slog.Int("sessions", len(recs)),
		slog.Bool("sso_logout", m.s.SSOLogout != nil))
	return nil
}

// sessionEndpoint answers GET SessionPath with the session as JSON (401
// without one): for pages that show who is logged in.
func (m *Middleware) sessionEndpoint(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeProblem(w, r, m.now(), problem{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "Use GET."})
		return
	}
	m.withSession(w, r, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateFrom(r.Context())
		if st == nil {
			w.Header().Set("WWW-Authenticate", `CIS-Ticket realm="NHS CIS"`)
			writeProblem(w, r, m.now(), problem{Status: http.StatusUnauthorized, Code: "unauthenticated",
				Message: "You are not logged in.", Login: m.loginLink("/")})
			return
		}
		writeJSON(w, http.StatusOK, viewOf(st))
	}), false)
}

// sessionView is the JSON form of a session (login, refresh and session
// answers). It holds no ticket and no session id.
type sessionView struct {
	UID       string     `json:"uid"`
	Name      string     `json:"name"`
	Source    string     `json:"source"`
	Mode      string     `json:"mode"`
	Role      *roleView  `json:"role"` // null without a selected role
	Roles     []roleView `json:"roles"`
	Created   time.Time  `json:"created"`
	Expires   time.Time  `json:"expires"`
	Validated time.Time  `json:"validated"`
}

type roleView struct {
	ID              string   `json:"id"`
	OrgCode         string   `json:"org_code"`
	OrgName         string   `json:"org_name"`
	StaffGroup      string   `json:"staff_group"`
	SubGroup        string   `json:"sub_group"`
	JobRole         string   `json:"job_role"`
	JobRoleCode     string   `json:"job_role_code"`
	Activities      []string `json:"activities"`
	ActivityNames   []string `json:"activity_names"`
	AreasOfWork     []string `json:"areas_of_work"`
	AreaOfWorkCodes []string `json:"area_of_work_codes"`
	Workgroups      []string `json:"workgroups"`
	WorkgroupCodes  []string `json:"workgroup_codes"`
}

func viewOf(st *state) sessionView {
	s := &st.pub
	v := sessionView{
		UID: s.User.UID, Name: s.User.Name, Source: s.Source, Mode: s.Mode.String(),
		Roles:   make([]roleView, len(s.User.Roles)),
		Created: s.Created.UTC(), Expires: s.Expires.UTC(), Validated: s.Validated.UTC(),
	}
	if s.Role.ID != "" {
		role := roleViewOf(&s.Role)
		v.Role = &role
	}
	for i := range s.User.Roles {
		v.Roles[i] = roleViewOf(&s.User.Roles[i])
	}
	return v
}

func roleViewOf(r *cis.RoleProfile) roleView {
	list := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return roleView{
		ID: r.ID, OrgCode: r.OrgCode, OrgName: r.OrgName, StaffGroup: r.StaffGroup, SubGroup: r.SubGroup,
		JobRole: r.JobRole, JobRoleCode: r.JobRoleCode, Activities: list(r.Activities),
		ActivityNames: list(r.ActivityNames), AreasOfWork: list(r.AreasOfWork), AreaOfWorkCodes: list(r.AreaOfWorkCodes),
		Workgroups: list(r.Workgroups), WorkgroupCodes: list(r.WorkgroupCodes),
	}
}
