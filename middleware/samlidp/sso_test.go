package samlidp

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/internal/samltest"
)

func serve(h http.Handler, method, target string, form url.Values) *httptest.ResponseRecorder {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// postedXML is the XML of req as the HTTP-POST binding sends it.
func postedXML(t testing.TB, req *saml.AuthnRequest) []byte {
	t.Helper()
	doc := etree.NewDocument()
	doc.SetRoot(req.Element())
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func encodeForPost(t testing.TB, req *saml.AuthnRequest) string {
	return base64.StdEncoding.EncodeToString(postedXML(t, req))
}

func inflateRequest(s string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(flate.NewReader(bytes.NewReader(raw)))
}

// checkSameOriginPath fails unless s is path?query on this origin.
func checkSameOriginPath(t testing.TB, s, path string) {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(s, path+"?") ||
		strings.HasPrefix(s, "//") || strings.Contains(s, `\`) {
		t.Errorf("returnTo %q is not a same-origin path %s?…", s, path)
	}
}

// sso sends req to the bridge with the HTTP-Redirect binding from a
// browser that may have a CIS session, without following redirects.
func sso(t *testing.T, ti *testIdP, sp *samltest.SP, req *saml.AuthnRequest, uid string) (*http.Response, []byte) {
	t.Helper()
	u, err := req.Redirect("", &sp.Middleware.ServiceProvider)
	if err != nil {
		t.Fatal(err)
	}
	b := samltest.NewBrowser(t)
	b.Client.CheckRedirect = noRedirects
	if uid != "" {
		ti.signIn(b, uid)
	}
	resp, err := b.Client.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func (ti *testIdP) logged(target error) bool {
	for _, err := range ti.logs.errors() {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// checkRefusedFor fails unless the bridge logged target and never sent
// anyone to log in.
func (ti *testIdP) checkRefusedFor(t *testing.T, target error) {
	t.Helper()
	if !ti.logged(target) {
		t.Errorf("logged %v, want %v", ti.logs.errors(), target)
	}
	if n := ti.login.count(); n != 0 {
		t.Errorf("Login called %d times for refused requests", n)
	}
}

// TestACSNotInMetadata: an AuthnRequest whose AssertionConsumerServiceURL
// the SP's metadata does not list is refused, with or without a session,
// and nothing is posted anywhere.
func TestACSNotInMetadata(t *testing.T) {
	sp := samltest.NewSP(t, samltest.SPOptions{})
	ti := newTestIdP(t, nil, nil, sp)
	for _, acs := range []string{"https://evil.example/saml/acs", sp.Server.URL + "/saml/acs2", sp.Server.URL + "/saml/acs?x"} {
		for _, uid := range []string{drSmith.UID, ""} {
			req := authnRequest(t, ti, sp)
			req.AssertionConsumerServiceURL = acs
			resp, body := sso(t, ti, sp, req, uid)
			if resp.StatusCode != http.StatusBadRequest || bytes.Contains(body, []byte("SAMLResponse")) {
				t.Errorf("ACS %q (session %q): %s: %s, want 400 and no response", acs, uid, resp.Status, body)
			}
		}
	}
	ti.checkRefusedFor(t, saml.ErrUnknownAssertionConsumerService)
}

// TestACSIndexAndURLDisagree: crewjam answers by index and ignores the URL
// when a request names both; the bridge refuses such a request.
func TestACSIndexAndURLDisagree(t *testing.T) {
	sp := samltest.NewSP(t, samltest.SPOptions{})
	ti := newTestIdP(t, nil, nil, sp)
	req := authnRequest(t, ti, sp)
	req.AssertionConsumerServiceIndex = "1" // samlsp's HTTP-POST ACS
	req.AssertionConsumerServiceURL = "https://evil.example/acs"
	resp, body := sso(t, ti, sp, req, drSmith.UID)
	if resp.StatusCode != http.StatusBadRequest || bytes.Contains(body, []byte("SAMLResponse")) {
		t.Fatalf("%s: %s, want 400", resp.Status, body)
	}
	ti.checkRefusedFor(t, errACSNotRegistered)

	// The index alone is fine: the Response goes to that endpoint.
	req = authnRequest(t, ti, sp)
	req.AssertionConsumerServiceIndex = "1"
	req.AssertionConsumerServiceURL = ""
	resp, body = sso(t, ti, sp, req, drSmith.UID)
	acs := sp.Middleware.ServiceProvider.AcsURL
	if f, ok := samltest.FindForm(body); resp.StatusCode != http.StatusOK || !ok || f.Action != acs.String() {
		t.Errorf("by index: %s: %s", resp.Status, body)
	}
}

// TestUnknownSP: a request from an SP that is not registered is refused
// before any login.
func TestUnknownSP(t *testing.T) {
	sp := samltest.NewSP(t, samltest.SPOptions{})
	other := samltest.NewSP(t, samltest.SPOptions{})
	ti := newTestIdP(t, nil, nil, sp)
	other.Middleware.ServiceProvider.IDPMetadata = sp.Middleware.ServiceProvider.IDPMetadata
	for _, uid := range []string{drSmith.UID, ""} {
		resp, body := sso(t, ti, other, authnRequest(t, ti, other), uid)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "not registered") {
			t.Errorf("session %q: %s: %s, want 400", uid, resp.Status, body)
		}
	}
	ti.checkRefusedFor(t, saml.ErrUnknownServiceProvider)
}

// TestIsPassive: without a session a passive request gets a NoPassive
// error Response at the ACS, not a login.
func TestIsPassive(t *testing.T) {
	sp := samltest.NewSP(t, samltest.SPOptions{})
	ti := newTestIdP(t, nil, nil, sp)
	req := authnRequest(t, ti, sp)
	passive := true
	req.IsPassive = &passive
	resp, body := sso(t, ti, sp, req, "")
	f, ok := samltest.FindForm(body)
	if resp.StatusCode != http.StatusOK || !ok {
		t.Fatalf("%s: %s", resp.Status, body)
	}
	x, _ := base64.StdEncoding.DecodeString(f.Values.Get("SAMLResponse"))
	if !bytes.Contains(x, []byte(saml.StatusNoPassive)) || bytes.Contains(x, []byte("Assertion")) {
		t.Errorf("response %s, want status NoPassive and no assertion", x)
	}
	if n := ti.login.count(); n != 0 {
		t.Errorf("Login called %d times", n)
	}
}

// TestSHA1RequestSignatureRefused: an AuthnRequest signed with RSA-SHA1 is
// refused.
func TestSHA1RequestSignatureRefused(t *testing.T) {
	sp := samltest.NewSP(t, samltest.SPOptions{Key: rsaKeyC(), SignRequest: true})
	ti := newTestIdP(t, nil, nil, sp)
	sp.Middleware.ServiceProvider.SignatureMethod = dsig.RSASHA1SignatureMethod
	resp, body := sso(t, ti, sp, authnRequest(t, ti, sp), drSmith.UID)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("%s: %s, want 400", resp.Status, body)
	}
	if !ti.logged(saml.ErrUnsupported) {
		t.Errorf("logged %v", ti.logs.errors())
	}
	// The same SP signing with RSA-SHA256 is served.
	sp.Middleware.ServiceProvider.SignatureMethod = dsig.RSASHA256SignatureMethod
	if resp, body := sso(t, ti, sp, authnRequest(t, ti, sp), drSmith.UID); resp.StatusCode != http.StatusOK {
		t.Errorf("RSA-SHA256: %s: %s", resp.Status, body)
	}
}

// TestRefusedRequests covers what serveSSO refuses before crewjam sees it.
func TestRefusedRequests(t *testing.T) {
	sp := samltest.NewSP(t, samltest.SPOptions{})
	ti := newTestIdP(t, nil, nil, sp)
	req := authnRequest(t, ti, sp)
	enc := encodeForPost(t, req)
	for _, tc := range []struct {
		name   string
		method string
		target string
		form   url.Values
		want   int
	}{
		{"SimpleSign", http.MethodPost, SSOPath, url.Values{"SAMLRequest": {enc}, "SigAlg": {dsig.RSASHA256SignatureMethod}, "Signature": {"AAAA"}}, http.StatusBadRequest},
		{"long RelayState", http.MethodPost, SSOPath, url.Values{"SAMLRequest": {enc}, "RelayState": {strings.Repeat("r", MaxRelayState+1)}}, http.StatusBadRequest},
		{"large body", http.MethodPost, SSOPath, url.Values{"SAMLRequest": {strings.Repeat("A", maxPostBody)}}, http.StatusRequestEntityTooLarge},
		{"long query", http.MethodGet, SSOPath + "?SAMLRequest=" + strings.Repeat("A", maxQuery), nil, http.StatusRequestURITooLong},
		{"no request", http.MethodGet, SSOPath, nil, http.StatusBadRequest},
		{"garbage", http.MethodGet, SSOPath + "?SAMLRequest=%%%", nil, http.StatusBadRequest},
		{"PUT", http.MethodPut, SSOPath, nil, http.StatusMethodNotAllowed},
		{"POST metadata", http.MethodPost, MetadataPath, nil, http.StatusMethodNotAllowed},
		{"other path", http.MethodGet, "/saml/idp-initiated?sp=x&RelayState=https://evil.example", nil, http.StatusNotFound},
	} {
		rec := serve(ti.idp, tc.method, tc.target, tc.form)
		if rec.Code != tc.want {
			t.Errorf("%s: %d: %s, want %d", tc.name, rec.Code, rec.Body, tc.want)
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			t.Errorf("%s: redirects to %q", tc.name, loc)
		}
	}
}

// TestExpiredAfterSlowLogin: crewjam accepts an AuthnRequest for 90 s
// (saml.MaxIssueDelay); one that comes back from a longer login is refused
// with a page that says what to do.
func TestExpiredAfterSlowLogin(t *testing.T) {
	clock := newTestClock()
	sp := samltest.NewSP(t, samltest.SPOptions{Clock: dsigClock(clock.Now)})
	ti := newTestIdP(t, clock, nil, sp)
	resp, _ := sso(t, ti, sp, authnRequest(t, ti, sp), "")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("no session: %s, want a redirect to the login", resp.Status)
	}
	clock.Advance(saml.MaxIssueDelay + time.Second)
	b := samltest.NewBrowser(t)
	ti.signIn(b, drSmith.UID)
	resp, body := b.Get(ti.srv.URL + ti.login.last(t))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "expired") {
		t.Errorf("%s: %s, want 400 saying the request expired", resp.Status, body)
	}
}

// TestIdentityWithoutRole: an Identity that says yes without a role is a
// programming error: 500, no assertion.
func TestIdentityWithoutRole(t *testing.T) {
	sp := samltest.NewSP(t, samltest.SPOptions{})
	ti := newTestIdP(t, nil, func(c *Config) {
		c.Identity = func(r *http.Request) (cis.User, cis.RoleProfile, bool) { return drSmith, cis.RoleProfile{}, true }
	}, sp)
	resp, body := sso(t, ti, sp, authnRequest(t, ti, sp), "")
	if resp.StatusCode != http.StatusInternalServerError || bytes.Contains(body, []byte("SAMLResponse")) {
		t.Errorf("%s: %s, want 500", resp.Status, body)
	}
}

// TestMetadata: the metadata needs no session and says what the bridge is.
func TestMetadata(t *testing.T) {
	sp := samltest.NewSP(t, samltest.SPOptions{})
	ti := newTestIdP(t, nil, nil, sp)
	rec := serve(ti.idp, http.MethodGet, MetadataPath, nil)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/samlmetadata+xml" {
		t.Fatalf("%d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	md := ti.metadata(t)
	if want := ti.srv.URL + MetadataPath; md.EntityID != want || ti.idp.EntityID() != want {
		t.Errorf("entityID %q, want %q", md.EntityID, want)
	}
	if len(md.IDPSSODescriptors) != 1 {
		t.Fatalf("%d IDPSSODescriptors", len(md.IDPSSODescriptors))
	}
	d := md.IDPSSODescriptors[0]
	bindings := map[string]string{}
	for _, ep := range d.SingleSignOnServices {
		bindings[ep.Binding] = ep.Location
	}
	for _, b := range []string{saml.HTTPRedirectBinding, saml.HTTPPostBinding} {
		if bindings[b] != ti.srv.URL+SSOPath {
			t.Errorf("SSO %s at %q", b, bindings[b])
		}
	}
	if len(bindings) != 2 || len(d.SingleLogoutServices) != 0 {
		t.Errorf("SSO endpoints %v, SLO %v: want the two bindings only", bindings, d.SingleLogoutServices)
	}
	if len(d.KeyDescriptors) != 1 || d.KeyDescriptors[0].Use != "signing" {
		t.Fatalf("key descriptors %+v, want one signing key", d.KeyDescriptors)
	}
	cert, err := parseMetadataCertificate(d.KeyDescriptors[0].KeyInfo.X509Data.X509Certificates[0].Data)
	if err != nil || !cert.Equal(ti.cfg.Certificate) {
		t.Errorf("metadata certificate is not the IdP's (%v)", err)
	}
	if len(d.NameIDFormats) != 1 || d.NameIDFormats[0] != saml.UnspecifiedNameIDFormat {
		t.Errorf("NameIDFormats %v", d.NameIDFormats)
	}
}
