package middleware

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/opencis/cisauth/cis"
)

// ErrNoSession means a request has no CIS session (a guard answers 401).
var ErrNoSession = errors.New("middleware: no CIS session")

// ErrDenied is matched (errors.Is) by every *DeniedError: the session's
// selected role lacks what a guard requires (a guard answers 403).
var ErrDenied = errors.New("middleware: the selected role does not allow this")

// ErrGuardConfig means a guard was built wrongly (no codes, a malformed
// job role code): it denies every request (500) rather than allow any.
var ErrGuardConfig = errors.New("middleware: guard misconfigured")

// DeniedError says what a guard found missing in the selected role, in
// plain words (Error) and as data.
type DeniedError struct {
	// Rule is "all activities", "any activity", "job role" or "organisation".
	Rule string
	// Missing lists what the rule asked for and the role lacks: activity
	// codes, the job role codes, or the organisations (ODS codes).
	Missing []string
	// OrgCode and JobRoleCode describe the selected role.
	OrgCode, JobRoleCode string
	// NoRole is true when the session has no selected role at all (a CIS2
	// login without role profiles or without a role choice): an
	// application may offer a new login with a role choice
	// (CIS2Config.LoginPath with prompt=login).
	NoRole bool
	msg    string
}

// Error says what is missing, e.g. "your selected role at RCJ does not
// include activity B0264".
func (e *DeniedError) Error() string { return e.msg }

// Is makes errors.Is(err, ErrDenied) true.
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

// Guard checks the selected role of a request's session, in the shape of
// http.CrossOriginProtection: Check for callers that decide themselves,
// Handler to wrap a handler. Build one with ActivityGuard,
// AnyActivityGuard, JobRoleGuard or OrgGuard; the Require… functions
// return its Handler as middleware. A Guard is safe for concurrent use.
//
// It reads the session Middleware.Handler (or Optional) put in the
// request's context: put guards inside it.
type Guard struct {
	rule  string
	codes []string
	err   error
}

// ActivityGuard requires every one of the activity codes (e.g. "B0264").
func ActivityGuard(codes ...string) *Guard { return newGuard("all activities", codes, checkCode) }

// AnyActivityGuard requires at least one of the activity codes.
func AnyActivityGuard(codes ...string) *Guard { return newGuard("any activity", codes, checkCode) }

// JobRoleGuard requires one of the job roles, each a full code
// "S8000:G8000:R8003" (staff group, sub group, job role) or its job role
// part "R8003".
func JobRoleGuard(codes ...string) *Guard { return newGuard("job role", codes, checkJobRoleCode) }

// OrgGuard requires the selected role to be at one of the organisations
// (ODS codes, compared without regard to case).
func OrgGuard(odsCodes ...string) *Guard { return newGuard("organisation", odsCodes, checkCode) }

// RequireActivity is middleware requiring every one of the activity codes.
func RequireActivity(codes ...string) func(http.Handler) http.Handler {
	return ActivityGuard(codes...).Handler
}

// RequireAnyActivity is middleware requiring at least one of the activity
// codes.
func RequireAnyActivity(codes ...string) func(http.Handler) http.Handler {
	return AnyActivityGuard(codes...).Handler
}

// RequireJobRole is middleware requiring one of the job roles ("S…:G…:R…"
// or "R…").
func RequireJobRole(codes ...string) func(http.Handler) http.Handler {
	return JobRoleGuard(codes...).Handler
}

// RequireOrg is middleware requiring the selected role to be at one of the
// organisations.
func RequireOrg(odsCodes ...string) func(http.Handler) http.Handler {
	return OrgGuard(odsCodes...).Handler
}

func newGuard(rule string, codes []string, check func(string) bool) *Guard {
	g := &Guard{rule: rule, codes: make([]string, len(codes))}
	for i, c := range codes {
		g.codes[i] = strings.TrimSpace(c)
		if !check(g.codes[i]) {
			g.err = ErrGuardConfig
		}
	}
	if len(codes) == 0 {
		g.err = ErrGuardConfig
	}
	return g
}

// checkCode accepts an activity or ODS code: letters and digits.
func checkCode(c string) bool {
	if c == "" || len(c) > 32 {
		return false
	}
	for i := 0; i < len(c); i++ {
		if b := c[i]; !('0' <= b && b <= '9' || 'A' <= b && b <= 'Z' || 'a' <= b && b <= 'z') {
			return false
		}
	}
	return true
}

// checkJobRoleCode accepts "S…:G…:R…" or "R…".
func checkJobRoleCode(c string) bool {
	parts := strings.Split(c, ":")
	if len(parts) != 1 && len(parts) != 3 {
		return false
	}
	return !slices.ContainsFunc(parts, func(p string) bool { return !checkCode(p) })
}

// Check returns nil if the request's session satisfies the guard,
// ErrNoSession without a session, a *DeniedError (errors.Is ErrDenied) if
// the selected role lacks what is required, or ErrGuardConfig if the guard
// was built wrongly.
func (g *Guard) Check(r *http.Request) error {
	st := stateFrom(r.Context())
	if st == nil {
		return ErrNoSession
	}
	if g.err != nil {
		return g.err
	}
	role := &st.pub.Role
	var missing []string
	switch g.rule {
	case "all activities":
		for _, c := range g.codes {
			if !role.HasActivity(c) {
				missing = append(missing, c)
			}
		}
	case "any activity":
		if !slices.ContainsFunc(g.codes, role.HasActivity) {
			missing = g.codes
		}
	case "job role":
		if !slices.ContainsFunc(g.codes, func(c string) bool { return jobRoleMatches(role.JobRoleCode, c) }) {
			missing = g.codes
		}
	case "organisation":
		if !slices.ContainsFunc(g.codes, func(c string) bool { return strings.EqualFold(c, role.OrgCode) }) {
			missing = g.codes
		}
	}
	if missing == nil {
		return nil
	}
	return &DeniedError{Rule: g.rule, Missing: slices.Clone(missing), OrgCode: role.OrgCode,
		JobRoleCode: role.JobRoleCode, NoRole: role.ID == "", msg: g.explain(role, missing)}
}

// jobRoleMatches compares a role's job role code with a full code or its
// last (job role) part.
func jobRoleMatches(have, want string) bool {
	if have == "" {
		return false
	}
	if strings.Contains(want, ":") {
		return strings.EqualFold(have, want)
	}
	_, last, _ := cutLast(have, ":")
	return strings.EqualFold(last, want)
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return "", s, false
}

// explain says in plain words what the selected role lacks.
func (g *Guard) explain(role *cis.RoleProfile, missing []string) string {
	if role.ID == "" {
		return "you are logged in without a selected role, and this needs " + g.needs(missing) +
			"; log in again and choose a role that has it"
	}
	at := "your selected role"
	if role.OrgCode != "" {
		at += " at " + role.OrgCode
	}
	switch g.rule {
	case "all activities":
		return at + " does not include " + plural("activity", "activities", missing, "and")
	case "any activity":
		if len(missing) == 1 {
			return at + " does not include activity " + missing[0]
		}
		return at + " includes none of the activities " + join(missing, "or")
	case "job role":
		is := "has no job role code"
		if role.JobRoleCode != "" {
			is = "is " + role.JobRoleCode
			if role.JobRole != "" {
				is += " (" + role.JobRole + ")"
			}
		}
		return at + " " + is + ", not job role " + join(missing, "or")
	default:
		org := "has no organisation"
		if role.OrgCode != "" {
			org = "is at " + role.OrgCode
		}
		return "your selected role " + org + ", not at " + join(missing, "or")
	}
}

// needs says what the rule asks for, for a session without a role.
func (g *Guard) needs(missing []string) string {
	switch g.rule {
	case "all activities":
		return plural("activity", "activities", missing, "and")
	case "any activity":
		return plural("activity", "one of the activities", missing, "or")
	case "job role":
		return "job role " + join(missing, "or")
	}
	return "a role at " + join(missing, "or")
}

func plural(one, many string, items []string, conj string) string {
	if len(items) == 1 {
		return one + " " + items[0]
	}
	return many + " " + join(items, conj)
}

// join lists items as "A", "A and B", "A, B and C".
func join(items []string, conj string) string {
	if len(items) <= 2 {
		return strings.Join(items, " "+conj+" ")
	}
	return strings.Join(items[:len(items)-1], ", ") + " " + conj + " " + items[len(items)-1]
}

// Handler wraps h: requests the guard refuses get 401 (no session), 403
// (the role lacks something, the page saying what) or 500 (a misbuilt
// guard), as JSON or, for Accept: text/html, a page.
func (g *Guard) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := g.Check(r)
		if err == nil {
			h.ServeHTTP(w, r)
			return
		}
		p := guardProblem(err)
		if p.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `CIS-Ticket realm="NHS CIS"`)
		}
		writeProblem(w, r, time.Time{}, p)
	})
}

func guardProblem(err error) problem {
	var de *DeniedError
	switch {
	case errors.As(err, &de):
		msg := de.msg
		return problem{Status: http.StatusForbidden, Code: "forbidden",
			Message: strings.ToUpper(msg[:1]) + msg[1:] + ".", Missing: de.Missing}
	case errors.Is(err, ErrNoSession):
		return problem{Status: http.StatusUnauthorized, Code: "unauthenticated",
			Message: "You are not logged in. Log in with your smartcard to continue."}
	}
	return problem{Status: http.StatusInternalServerError, Code: "internal",
		Message: "This page's access rule is misconfigured, so access is refused. Tell the service's administrators."}
}

// Err returns ErrGuardConfig if the guard was built wrongly (no codes, or
// a code that is not well formed), and nil otherwise: a configuration
// loader can refuse such a guard at start rather than have it deny every
// request.
func (g *Guard) Err() error { return g.err }
