package samlidp

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/crewjam/saml"

	"github.com/opencis/cisauth/internal/samltest"
)

// TestEndToEnd signs in to a crewjam samlsp app through the bridge: the
// app sends the person to the bridge, the bridge (no CIS session yet) to
// the login, the login back to the bridge, the bridge's form to the app's
// ACS; the attributes arrive, and the app lets in by activity code.
func TestEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    samltest.SPOptions
	}{
		{"redirect binding, encrypted", samltest.SPOptions{}},
		{"post binding, encrypted", samltest.SPOptions{Binding: saml.HTTPPostBinding}},
		{"signed redirect, plain (ECDSA SP)", samltest.SPOptions{Key: ecKey(), SignRequest: true}},
		{"signed post, plain (ECDSA SP)", samltest.SPOptions{Key: ecKey(), SignRequest: true, Binding: saml.HTTPPostBinding}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := samltest.NewSP(t, tc.o)
			ti := newTestIdP(t, nil, nil, sp)
			b := samltest.NewBrowser(t)

			resp, body := b.Get(sp.Server.URL + "/app?x=1")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /app: %s: %s", resp.Status, body)
			}
			if got := resp.Request.URL.String(); got != sp.Server.URL+"/app?x=1" {
				t.Errorf("ended at %s, want back at the page asked for", got)
			}
			attrs := samltest.DecodeApp(t, body).Attributes
			want := map[string][]string{
				AttrUserUID:        {drSmith.UID},
				AttrName:           {"SMITH John Dr"},
				AttrSelectedRoleID: {"555000000101"},
				AttrOrgCode:        {"RX1"},
				AttrRoleCode:       {"S8000:G8000:R8003"},
				AttrActivityCodes:  {"B0264", "B0360", "B0011"},
			}
			for name, v := range want {
				if !slices.Equal(attrs[name], v) {
					t.Errorf("attribute %s = %q, want %q", name, attrs[name], v)
				}
			}

			// The login was asked to come back to the bridge's own path.
			ret := ti.login.last(t)
			if !strings.HasPrefix(ret, SSOPath+"?") {
				t.Errorf("returnTo = %q, want %s?…", ret, SSOPath)
			}

			resp, body = b.Get(sp.Server.URL + "/prescribe")
			if resp.StatusCode != http.StatusOK || string(body) != "prescribing as SMITH John Dr" {
				t.Errorf("Dr Smith at /prescribe: %s: %s", resp.Status, body)
			}
		})
	}
}

// TestEndToEndActivityRefused: a person whose role lacks the activity is
// signed in but refused by the app.
func TestEndToEndActivityRefused(t *testing.T) {
	sp := samltest.NewSP(t, samltest.SPOptions{})
	ti := newTestIdP(t, nil, nil, sp)
	b := samltest.NewBrowser(t)
	ti.signIn(b, msJones.UID) // already has a CIS session: no login

	resp, body := b.Get(sp.Server.URL + "/prescribe")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("Ms Jones at /prescribe: %s: %s, want 403", resp.Status, body)
	}
	resp, body = b.Get(sp.Server.URL + "/app")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"activity_codes":["B0360"]`) {
		t.Errorf("Ms Jones at /app: %s: %s", resp.Status, body)
	}
	if ti.login.count() != 0 {
		t.Errorf("Login called %d times with a CIS session", ti.login.count())
	}
}

// TestSessionAnswersAtOnce: with a CIS session the bridge answers the
// AuthnRequest with the form to the ACS, no redirect.
func TestSessionAnswersAtOnce(t *testing.T) {
	sp := samltest.NewSP(t, samltest.SPOptions{})
	ti := newTestIdP(t, nil, nil, sp)
	b := samltest.NewBrowser(t)
	ti.signIn(b, drSmith.UID)
	b.Client.CheckRedirect = noRedirects

	u, err := authnRequest(t, ti, sp).Redirect("rs-1", &sp.Middleware.ServiceProvider)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.Client.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", resp.Status, body)
	}
	f, ok := samltest.FindForm(body)
	acs := sp.Middleware.ServiceProvider.AcsURL
	if !ok || f.Action != acs.String() || f.Values.Get("SAMLResponse") == "" || f.Values.Get("RelayState") != "rs-1" {
		t.Fatalf("form %+v, want a SAMLResponse and RelayState rs-1 posted to %s", f, acs.String())
	}
	for h, want := range map[string]string{"Cache-Control": "no-cache, no-store", "X-Frame-Options": "DENY"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'sha256-") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
}

// TestNoSessionLoginReturn: without a session the bridge calls Login with
// a same-origin path back to itself that carries the request and the
// RelayState, for both bindings, and under a path prefix.
func TestNoSessionLoginReturn(t *testing.T) {
	sp := samltest.NewSP(t, samltest.SPOptions{})
	ti := newTestIdP(t, nil, nil, sp)

	req := authnRequest(t, ti, sp)
	redirectURL, err := req.Redirect("state-42", &sp.Middleware.ServiceProvider)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{CheckRedirect: noRedirects}

	// HTTP-Redirect: back exactly as it came.
	resp, err := c.Get(redirectURL.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/login?") {
		t.Fatalf("GET without session: %s to %q, want a redirect to the login", resp.Status, resp.Header.Get("Location"))
	}
	if got, want := ti.login.last(t), SSOPath+"?"+redirectURL.RawQuery; got != want {
		t.Errorf("returnTo = %q, want %q", got, want)
	}

	// HTTP-POST: back as the same XML in HTTP-Redirect form.
	form := url.Values{"SAMLRequest": {encodeForPost(t, req)}, "RelayState": {"state-43"}}
	resp, err = c.PostForm(ti.srv.URL+SSOPath, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("POST without session: %s", resp.Status)
	}
	ret := ti.login.last(t)
	checkSameOriginPath(t, ret, SSOPath)
	q, err := url.ParseQuery(strings.TrimPrefix(ret, SSOPath+"?"))
	if err != nil {
		t.Fatal(err)
	}
	if q.Get("RelayState") != "state-43" {
		t.Errorf("RelayState through login = %q", q.Get("RelayState"))
	}
	xmlBack, err := inflateRequest(q.Get("SAMLRequest"))
	if err != nil {
		t.Fatal(err)
	}
	if want := postedXML(t, req); string(xmlBack) != string(want) {
		t.Errorf("the request through the login changed:\n%s\nwant\n%s", xmlBack, want)
	}
}

// TestLoginReturnUnderPrefix: with an external URL that has a path, the
// return path has it too.
func TestLoginReturnUnderPrefix(t *testing.T) {
	sp := samltest.NewSP(t, samltest.SPOptions{})
	sp2 := samltest.NewSP(t, samltest.SPOptions{})
	ti := newTestIdP(t, nil, nil, sp)
	cfg := ti.cfg
	cfg.ExternalURL += "/proxy/"
	parsed, err := ParseServiceProvider(sp2.Metadata(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ServiceProviders = []*ServiceProvider{parsed}
	var got string
	cfg.Login = func(w http.ResponseWriter, r *http.Request, returnTo string) { got = returnTo }
	idp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := ti.srv.URL + "/proxy/saml/metadata"; idp.EntityID() != want {
		t.Errorf("EntityID = %q, want %q", idp.EntityID(), want)
	}
	req, err := sp2.Middleware.ServiceProvider.MakeAuthenticationRequest(idp.SSOURL(), saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		t.Fatal(err)
	}
	u, err := req.Redirect("", &sp2.Middleware.ServiceProvider)
	if err != nil {
		t.Fatal(err)
	}
	rec := serve(idp, http.MethodGet, u.RequestURI(), nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("%d: %s", rec.Code, rec.Body)
	}
	checkSameOriginPath(t, got, "/proxy/saml/sso")
}
