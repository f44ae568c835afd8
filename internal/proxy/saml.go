package proxy

import (
	"net/http"
	"net/url"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/middleware"
)

// SAMLIdentity is samlidp.Config.Identity for the proxy: the CIS session
// the middleware put in the request's context. A session without a
// selected role has no identity for the bridge (every attribute but the
// name is about the role), so the person is sent to log in again.
func SAMLIdentity(r *http.Request) (cis.User, cis.RoleProfile, bool) {
	s, ok := middleware.SessionFrom(r.Context())
	if !ok || s.User.UID == "" || s.Role.ID == "" {
		return cis.User{}, cis.RoleProfile{}, false
	}
	return s.User, s.Role, true
}

// SAMLLogin is samlidp.Config.Login for the proxy: the login page, which
// sends the browser back to returnTo (a path on this origin) once logged in.
func SAMLLogin(w http.ResponseWriter, r *http.Request, returnTo string) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, LoginPagePath+"?"+url.Values{"return": {returnTo}}.Encode(), http.StatusSeeOther)
}
