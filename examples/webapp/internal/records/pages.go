package records

import (
	"errors"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/middleware"
)

// home shows who is logged in, in which role, and what that role may do.
func (a *App) home(w http.ResponseWriter, r *http.Request) {
	s, _ := middleware.SessionFrom(r.Context())
	type activityRow struct{ Code, Name, Here string }
	type featureRow struct {
		Name, Path, Needs, Reason string
		Allowed                   bool
	}
	var d struct {
		Activities []activityRow
		CISNames   string
		Features   []featureRow
	}
	for _, code := range s.Role.Activities {
		row := activityRow{Code: code, Here: "not used by this app"}
		if n, ok := activityNames[code]; ok {
			row.Name, row.Here = n.Name, n.Here
		}
		d.Activities = append(d.Activities, row)
	}
	d.CISNames = strings.Join(s.Role.ActivityNames, ", ")
	for _, f := range a.features {
		row := featureRow{Name: f.Name, Path: f.Path, Needs: f.Needs, Allowed: true}
		if err := f.guard.Check(r); err != nil {
			row.Allowed, row.Reason = false, err.Error()
		}
		d.Features = append(d.Features, row)
	}
	a.render(w, http.StatusOK, "home", "Home", s, d)
}

// patientList lists the patients; record links only for a role that may
// open records.
func (a *App) patientList(w http.ResponseWriter, r *http.Request) {
	s, _ := middleware.SessionFrom(r.Context())
	d := struct {
		Patients   []Patient
		CanOpen    bool
		WhyNotOpen string
	}{Patients: patients, CanOpen: true}
	if err := a.record.guard.Check(r); err != nil {
		d.CanOpen, d.WhyNotOpen = false, sentence(err.Error())
	}
	a.render(w, http.StatusOK, "patients", "Patients", s, d)
}

// patientRecord shows one record and notes the access in the audit.
func (a *App) patientRecord(w http.ResponseWriter, r *http.Request) {
	s, _ := middleware.SessionFrom(r.Context())
	nhs := r.PathValue("nhs")
	var p *Patient
	if validNHSNumber(nhs) {
		p = patient(nhs)
	}
	if p == nil {
		a.notFound(w, r)
		return
	}
	a.audit.add(access{
		At: a.now(), UID: s.User.UID, Name: s.User.Name, Role: s.Role.JobRole + " at " + s.Role.OrgName,
		OrgCode: s.Role.OrgCode, NHSNumber: p.NHSNumber,
	})
	a.render(w, http.StatusOK, "record", p.Name, s, p)
}

// adminPage shows who opened which record.
func (a *App) adminPage(w http.ResponseWriter, r *http.Request) {
	s, _ := middleware.SessionFrom(r.Context())
	a.render(w, http.StatusOK, "admin", "Access audit", s, a.audit.recent())
}

// rolePage lists the person's roles and explains how to switch.
func (a *App) rolePage(w http.ResponseWriter, r *http.Request) {
	s, _ := middleware.SessionFrom(r.Context())
	d := struct {
		Roles      []cis.RoleProfile
		Selected   string
		Revalidate string
		Agent      bool
	}{Roles: s.User.Roles, Selected: s.Role.ID, Revalidate: a.revalidate.String(), Agent: a.agentURL != ""}
	a.render(w, http.StatusOK, "role", "Your roles", s, d)
}

// loginPage asks the agent for the ticket, or takes a pasted one, and
// posts it to the middleware's login endpoint.
func (a *App) loginPage(w http.ResponseWriter, r *http.Request) {
	s, _ := middleware.SessionFrom(r.Context())
	d := struct {
		Return   string
		AgentURL string
		Current  *middleware.Session
	}{Return: localPath(r.URL.Query().Get("return")), AgentURL: a.agentURL, Current: s}
	// The login page shows no session header (and runs no session check):
	// logging in again replaces the session.
	a.render(w, http.StatusOK, "login", "Log in", nil, d)
}

// loggedOutPage is where the logout button lands.
func (a *App) loggedOutPage(w http.ResponseWriter, r *http.Request) {
	a.render(w, http.StatusOK, "loggedout", "Logged out", nil, struct{ SSOLogout bool }{a.ssoLogout})
}

func (a *App) notFound(w http.ResponseWriter, r *http.Request) {
	s, _ := middleware.SessionFrom(r.Context())
	a.render(w, http.StatusNotFound, "notfound", "Not found", s, nil)
}

// guarded serves next if the selected role meets f's rule, and otherwise a
// page saying what the role lacks and which of the person's roles would do.
func (a *App) guarded(f *feature, next http.Handler) http.Handler {
	fallback := f.guard.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := f.guard.Check(r)
		var de *middleware.DeniedError
		switch {
		case err == nil:
			next.ServeHTTP(w, r)
			return
		case !errors.As(err, &de):
			// No session, or a misbuilt guard: the middleware's guard
			// answers (401, 500).
			fallback.ServeHTTP(w, r)
			return
		}
		s, _ := middleware.SessionFrom(r.Context())
		var others []cis.RoleProfile
		for _, role := range s.User.Roles {
			if role.ID != s.Role.ID && f.allows(&role) {
				others = append(others, role)
			}
		}
		d := struct {
			Feature *feature
			Reason  string
			Others  []cis.RoleProfile
		}{Feature: f, Reason: sentence(de.Error()), Others: others}
		a.render(w, http.StatusForbidden, "denied", "Not allowed", s, d)
	})
}

// sentence makes a guard's message ("your selected role at RCJ …") a
// sentence.
func sentence(s string) string {
	c, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(c)) + s[n:] + "."
}

// maxReturn bounds the return path the login page carries.
const maxReturn = 512

// localPath returns p if it is a path on this site, else "/". The
// middleware checks the return path of a login again.
func localPath(p string) string {
	if p == "" || len(p) > maxReturn || p[0] != '/' || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") ||
		strings.ContainsAny(p, "\\\r\n\t #") || strings.Contains(p, "AQIC") {
		return "/"
	}
	for _, c := range p {
		if c < 0x20 || c == 0x7f {
			return "/"
		}
	}
	return p
}
