package proxy_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"

	"github.com/opencis/cisauth/internal/proxy"
	"github.com/opencis/cisauth/internal/samltest"
	"github.com/opencis/cisauth/internal/xmlsectest"
	"github.com/opencis/cisauth/middleware/samlidp"
)

// TestSAMLEndToEnd signs in to samlsp apps through the proxy's SAML bridge
// on the middleware's real session: the app sends the browser to
// /saml/sso, which (no CIS session) sends it to the proxy's login page;
// the page's form, posted with a live ticket, starts the session and
// returns to /saml/sso, whose form posts the Response to the app's ACS.
// The app gets the attributes and admits by activity code: Alice (B0264)
// may prescribe, Bob in his RMM role (B0360 only) may not. Both bindings,
// to an SP that gets encrypted assertions (RSA key) and one that gets
// them in the clear (ECDSA key), all four registered with one proxy.
func TestSAMLEndToEnd(t *testing.T) {
	cases := []struct {
		name string
		o    samltest.SPOptions
	}{
		{"redirect binding, encrypted", samltest.SPOptions{}},
		{"post binding, encrypted", samltest.SPOptions{Binding: saml.HTTPPostBinding}},
		{"redirect binding, plain", samltest.SPOptions{Key: spECKey()}},
		{"post binding, plain", samltest.SPOptions{Key: spECKey(), Binding: saml.HTTPPostBinding}},
		{"signed redirect, plain", samltest.SPOptions{Key: spECKey(), SignRequest: true}},
		// Its request, signed with RSA-2048 and carrying its certificate,
		// comes back from the login in a return path of about 2.4 KiB.
		{"signed post, encrypted", samltest.SPOptions{SignRequest: true, Binding: saml.HTTPPostBinding}},
	}
	sps := make([]*samltest.SP, len(cases))
	for i, tc := range cases {
		sps[i] = samltest.NewSP(t, tc.o)
	}
	sr := newSAMLRig(t, sps...)
	for i, tc := range cases {
		sp := sps[i]
		t.Run(tc.name, func(t *testing.T) {
			if got := sp.Middleware.ServiceProvider.GetSSOBindingLocation(saml.HTTPRedirectBinding); got != sr.url+samlidp.SSOPath {
				t.Fatalf("the SP got SSO at %q from the proxy's metadata, want %q", got, sr.url+samlidp.SSOPath)
			}
			b := samltest.NewBrowser(t)
			resp, body := b.Get(sp.Server.URL + "/app?x=1")
			resp, body = loginOnPage(t, b, sr.rig, resp, body, alice, aliceRole)
			if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != sp.Server.URL+"/app?x=1" {
				t.Fatalf("after the login: %s at %s: %s, want the app's page", resp.Status, resp.Request.URL, body)
			}
			checkJourney(t, b, sr, sp, true)
			saw := samltest.DecodeApp(t, body)
			if saw.NameID != alice {
				t.Errorf("NameID = %q, want the uid %s", saw.NameID, alice)
			}
			want := map[string][]string{
				"nhsid_useruid":   {alice},
				"name":            {"Jones Alice Dr"},
				"selected_roleid": {aliceRole},
				"org_code":        {"RCJ"},
				"role_code":       {"S8000:G8000:R8003"},
				"activity_codes":  {"B0264", "B0360"},
			}
			for name, v := range want {
				if !slices.Equal(saw.Attributes[name], v) {
					t.Errorf("attribute %s = %q, want %q", name, saw.Attributes[name], v)
				}
			}
			if f, ok := b.LastPosted(sp.ACS()); !ok {
				t.Error("no Response form was posted to the ACS")
			} else if encrypted := strings.Contains(decodeResponse(t, f), "EncryptedAssertion"); encrypted != encrypts(sp) {
				t.Errorf("assertion encrypted: %v, want %v", encrypted, encrypts(sp))
			}
			if resp, body := b.Get(sp.Server.URL + "/prescribe"); resp.StatusCode != http.StatusOK || string(body) != "prescribing as Jones Alice Dr" {
				t.Errorf("Alice at /prescribe: %s: %s", resp.Status, body)
			}

			// Bob, in his role with B0360 only: signed in, not let in.
			bob2 := samltest.NewBrowser(t)
			resp, body = bob2.Get(sp.Server.URL + "/prescribe")
			resp, body = loginOnPage(t, bob2, sr.rig, resp, body, bob, bobRMM)
			if resp.StatusCode != http.StatusForbidden || resp.Request.URL.Path != "/prescribe" {
				t.Errorf("Bob (RMM) at /prescribe: %s at %s: %s, want 403 from the app", resp.Status, resp.Request.URL, body)
			}
			resp, body = bob2.Get(sp.Server.URL + "/app")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("Bob at /app: %s: %s", resp.Status, body)
			}
			saw = samltest.DecodeApp(t, body)
			if !slices.Equal(saw.Attributes["activity_codes"], []string{"B0360"}) || !slices.Equal(saw.Attributes["org_code"], []string{"RMM"}) ||
				!slices.Equal(saw.Attributes["selected_roleid"], []string{bobRMM}) {
				t.Errorf("Bob's attributes %v, want those of role %s (RMM, B0360)", saw.Attributes, bobRMM)
			}
		})
	}
}

// checkJourney checks the way the browser went: to the proxy's /saml/sso,
// to its login page (if login), back to /saml/sso, to the ACS — and
// nowhere else.
func checkJourney(t *testing.T, b *samltest.Browser, sr *samlRig, sp *samltest.SP, login bool) {
	t.Helper()
	proxyHost, _ := url.Parse(sr.url)
	var path []string
	for _, u := range b.Requests() {
		switch u.Host {
		case proxyHost.Host:
			path = append(path, "proxy"+u.Path)
		case sp.Middleware.ServiceProvider.AcsURL.Host:
			if u.Path == sp.Middleware.ServiceProvider.AcsURL.Path {
				path = append(path, "acs")
			}
		default:
			t.Errorf("the browser went to %s", u)
		}
	}
	want := []string{"proxy" + samlidp.SSOPath, "acs"}
	if login {
		want = []string{"proxy" + samlidp.SSOPath, "proxy" + proxy.LoginPagePath, "proxy" + proxy.LoginPagePath, "proxy" + samlidp.SSOPath, "acs"}
	}
	if !slices.Equal(path, want) {
		t.Errorf("the browser went %q, want %q", path, want)
	}
}

// encrypts reports whether sp offers an encryption key (an RSA one).
func encrypts(sp *samltest.SP) bool {
	_, rsa := sp.Middleware.ServiceProvider.Key.(interface{ Size() int })
	return rsa
}

// decodeResponse returns the XML of a posted Response form.
func decodeResponse(t *testing.T, f samltest.Form) string {
	t.Helper()
	x, err := base64.StdEncoding.DecodeString(f.Values.Get("SAMLResponse"))
	if err != nil || len(x) == 0 {
		t.Fatalf("SAMLResponse: %v", err)
	}
	return string(x)
}

// TestSAMLSessionAnswersAtOnce: with a CIS session already, /saml/sso
// answers the AuthnRequest at once with the form to the ACS; the browser
// never sees the login page.
func TestSAMLSessionAnswersAtOnce(t *testing.T) {
	sp := samltest.NewSP(t, samltest.SPOptions{})
	sr := newSAMLRig(t, sp)
	b := samltest.NewBrowser(t)
	sr.login(t, b.Client, chandra, chandraAdm)
	b.Forget()

	resp, body := b.Get(sp.Server.URL + "/app")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", resp.Status, body)
	}
	checkJourney(t, b, sr, sp, false)
	if saw := samltest.DecodeApp(t, body); saw.NameID != chandra || !slices.Equal(saw.Attributes["selected_roleid"], []string{chandraAdm}) {
		t.Errorf("the app saw %+v, want Chandra in role %s", saw, chandraAdm)
	}

	// The same, one step: the answer to the request is the form itself.
	u := authnRedirect(t, sr, sp, "rs-1", nil)
	resp, body = noFollow(t, b, u)
	f, ok := samltest.FindForm(body)
	if resp.StatusCode != http.StatusOK || !ok || f.Action != sp.ACS() || f.Values.Get("SAMLResponse") == "" || f.Values.Get("RelayState") != "rs-1" {
		t.Fatalf("%s: form %+v, want a SAMLResponse and RelayState rs-1 posted to %s", resp.Status, f, sp.ACS())
	}
}

// authnRedirect returns the URL of an HTTP-Redirect AuthnRequest from sp
// to the proxy, changed by edit first.
func authnRedirect(t *testing.T, sr *samlRig, sp *samltest.SP, relayState string, edit func(*saml.AuthnRequest)) string {
	t.Helper()
	req, err := sp.Middleware.ServiceProvider.MakeAuthenticationRequest(sr.idp.SSOURL(), saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(req)
	}
	u, err := req.Redirect(relayState, &sp.Middleware.ServiceProvider)
	if err != nil {
		t.Fatal(err)
	}
	return u.String()
}

// noFollow fetches u with b's cookies, following nothing.
func noFollow(t *testing.T, b *samltest.Browser, u string) (*http.Response, []byte) {
	t.Helper()
	c := *b.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// TestSAMLUnknownACSRefused: an AuthnRequest naming an assertion consumer
// service the SP's metadata does not list gets no Response, with a CIS
// session or after logging in.
func TestSAMLUnknownACSRefused(t *testing.T) {
	sp := samltest.NewSP(t, samltest.SPOptions{Key: spECKey()})
	sr := newSAMLRig(t, sp)
	evil := func(r *saml.AuthnRequest) { r.AssertionConsumerServiceURL = "https://evil.example/saml/acs" }

	b := samltest.NewBrowser(t)
	resp, body := b.Get(authnRedirect(t, sr, sp, "", evil))
	if resp.StatusCode == http.StatusOK && resp.Request.URL.Path == proxy.LoginPagePath {
		resp, body = loginOnPage(t, b, sr.rig, resp, body, alice, aliceRole)
	}
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(body), "SAMLResponse") {
		t.Errorf("without a session: %s: %s, want 400 and no Response", resp.Status, body)
	}

	sr.login(t, b.Client, alice, aliceRole)
	resp, body = noFollow(t, b, authnRedirect(t, sr, sp, "", evil))
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(body), "SAMLResponse") {
		t.Errorf("with a session: %s: %s, want 400 and no Response", resp.Status, body)
	}
	for _, u := range b.Requests() {
		if u.Host == "evil.example" {
			t.Errorf("the browser went to %s", u)
		}
	}
}

// TestSAMLRelayStateNotARedirect: a RelayState that is a URL is carried to
// the SP's ACS untouched, never followed; the login returns only to the
// bridge on the proxy's origin; there is no IdP-initiated sign-on to send
// a browser anywhere.
func TestSAMLRelayStateNotARedirect(t *testing.T) {
	sp := samltest.NewSP(t, samltest.SPOptions{Key: spECKey()})
	sr := newSAMLRig(t, sp)
	const target = "https://evil.example/phish"
	b := samltest.NewBrowser(t)

	// No session: to the login page, with a return to /saml/sso.
	resp, _ := noFollow(t, b, authnRedirect(t, sr, sp, target, nil))
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusSeeOther || loc.Host != "" || loc.Path != proxy.LoginPagePath ||
		!strings.HasPrefix(loc.Query().Get("return"), samlidp.SSOPath+"?") {
		t.Fatalf("without a session: %s to %q, want the login page with a return to %s", resp.Status, resp.Header.Get("Location"), samlidp.SSOPath)
	}
	ret := loc.Query().Get("return")
	q, _ := url.ParseQuery(strings.TrimPrefix(ret, samlidp.SSOPath+"?"))
	if q.Get("RelayState") != target {
		t.Errorf("RelayState through the login = %q", q.Get("RelayState"))
	}
	// The login page's form returns there, and only there.
	tk := sr.sim.MustLogin(t, alice, aliceRole)
	c := *b.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, _ = postLogin(t, &c, sr.rig, tk.Reveal(), ret)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != ret {
		t.Fatalf("login: %s to %q, want back to %q", resp.Status, resp.Header.Get("Location"), ret)
	}
	// Now the form goes to the ACS, with the RelayState as it came.
	resp, body := noFollow(t, b, sr.url+ret)
	f, ok := samltest.FindForm(body)
	if resp.StatusCode != http.StatusOK || !ok || f.Action != sp.ACS() || f.Values.Get("RelayState") != target || resp.Header.Get("Location") != "" {
		t.Errorf("%s: form %+v, want one to %s carrying the RelayState", resp.Status, f, sp.ACS())
	}

	// A login page asked to return elsewhere returns home.
	for _, bad := range []string{target, "//evil.example/x", "/\\evil.example", "https:evil.example"} {
		tk := sr.sim.MustLogin(t, alice, aliceRole)
		resp, _ := postLogin(t, &c, sr.rig, tk.Reveal(), bad)
		if l := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || l != "/" {
			t.Errorf("login returning to %q: %s to %q, want /", bad, resp.Status, l)
		}
	}
	// IdP-initiated: a RelayState and no request is refused, not followed.
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		var resp *http.Response
		if m == http.MethodGet {
			resp, _ = noFollow(t, b, sr.url+samlidp.SSOPath+"?"+url.Values{"RelayState": {target}}.Encode())
		} else {
			resp, _ = postForm(t, &c, sr.url+samlidp.SSOPath, "https://evil.example", url.Values{"RelayState": {target}})
		}
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("%s /saml/sso with only a RelayState: %s to %q, want 400", m, resp.Status, resp.Header.Get("Location"))
		}
	}
}

// postLogin posts the login page's form (ticket, return) from the
// proxy's origin with c.
func postLogin(t *testing.T, c *http.Client, rg *rig, ticket, ret string) (*http.Response, []byte) {
	t.Helper()
	return postForm(t, c, rg.url+proxy.LoginPagePath, rg.url, url.Values{"ticket": {ticket}, "return": {ret}})
}

func postForm(t *testing.T, c *http.Client, u, origin string, form url.Values) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// TestSAMLResponseXMLSec1: the Response the proxy issued in a sign-in (to
// an SP that gets plain assertions) has a Response signature and an
// assertion signature that xmlsec1, an independent implementation, verifies
// with the IdP certificate from the metadata — and not with another; the
// assertion is for this SP, this ACS and this request, and valid no
// longer than the revalidation interval.
func TestSAMLResponseXMLSec1(t *testing.T) {
	xmlsec1 := xmlsectest.Require(t)
	sp := samltest.NewSP(t, samltest.SPOptions{Key: spECKey()})
	sr := newSAMLRig(t, sp)
	b := samltest.NewBrowser(t)
	resp, body := b.Get(sp.Server.URL + "/app")
	resp, body = loginOnPage(t, b, sr.rig, resp, body, alice, aliceRole)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %s: %s", resp.Status, body)
	}
	f, ok := b.LastPosted(sp.ACS())
	if !ok {
		t.Fatal("no Response was posted to the ACS")
	}
	x := []byte(decodeResponse(t, f))

	// The request's ID, from the first request the browser sent.
	var requestID string
	for _, u := range b.Requests() {
		if u.Path == samlidp.SSOPath {
			requestID = inflateRequest(t, u.Query().Get("SAMLRequest")).SelectAttrValue("ID", "")
			break
		}
	}
	if requestID == "" {
		t.Fatal("no AuthnRequest ID")
	}

	// The certificate the SP would trust is the one in the proxy's metadata.
	md := sr.metadata(t)
	mdCert := md.IDPSSODescriptors[0].KeyDescriptors[0].KeyInfo.X509Data.X509Certificates[0].Data
	if der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(mdCert), "")); err != nil || !slices.Equal(der, sr.cert.Raw) {
		t.Fatalf("the metadata's certificate is not the IdP's (%v)", err)
	}
	other := samltest.SelfSigned(t, samltest.SPKey(), "not the idp")
	for _, xpath := range []string{xmlsectest.RootSignature, xmlsectest.AssertionSignature} {
		if err := xmlsec1.Verify(t, x, sr.cert, xpath); err != nil {
			t.Errorf("%s with the IdP certificate: %v", xpath, err)
		}
		if err := xmlsec1.Verify(t, x, other, xpath); err == nil {
			t.Errorf("%s verifies with another certificate", xpath)
		}
	}

	r := parseXML(t, x)
	a := r.SelectElement("Assertion")
	if a == nil {
		t.Fatalf("no plain Assertion in the Response:\n%s", x)
	}
	notBefore := timeAttr(t, a, "./Conditions", "NotBefore")
	notAfter := timeAttr(t, a, "./Conditions", "NotOnOrAfter")
	if d := notAfter.Sub(notBefore); d <= 0 || d > assertionWindow {
		t.Errorf("assertion valid %s (%s to %s), want at most the revalidation interval %s", d, notBefore, notAfter, assertionWindow)
	}
	if scd := timeAttr(t, a, "./Subject/SubjectConfirmation/SubjectConfirmationData", "NotOnOrAfter"); scd.After(notAfter) {
		t.Errorf("SubjectConfirmationData NotOnOrAfter %s after the Conditions' %s", scd, notAfter)
	}
	for _, c := range []struct{ path, attr, want string }{
		{"./Conditions/AudienceRestriction/Audience", "", sp.Middleware.ServiceProvider.Metadata().EntityID},
		{"./Subject/SubjectConfirmation/SubjectConfirmationData", "Recipient", sp.ACS()},
		{"./Subject/SubjectConfirmation/SubjectConfirmationData", "InResponseTo", requestID},
		{"./Subject/NameID", "", alice},
		{"./Issuer", "", sr.url + samlidp.MetadataPath},
	} {
		if got := elemValue(a, c.path, c.attr); got != c.want {
			t.Errorf("assertion %s %s = %q, want %q", c.path, c.attr, got, c.want)
		}
	}
	for attr, want := range map[string]string{"InResponseTo": requestID, "Destination": sp.ACS()} {
		if got := r.SelectAttrValue(attr, ""); got != want {
			t.Errorf("Response %s = %q, want %q", attr, got, want)
		}
	}
}

// elemValue returns the attribute attr (or, if empty, the text) of the
// element at path below e, or "" if there is none.
func elemValue(e *etree.Element, path, attr string) string {
	f := e.FindElement(path)
	switch {
	case f == nil:
		return ""
	case attr == "":
		return f.Text()
	}
	return f.SelectAttrValue(attr, "")
}

func timeAttr(t *testing.T, e *etree.Element, path, attr string) time.Time {
	t.Helper()
	v := elemValue(e, path, attr)
	tm, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		t.Fatalf("%s/@%s = %q: %v", path, attr, v, err)
	}
	return tm
}
