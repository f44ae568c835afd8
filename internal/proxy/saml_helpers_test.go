package proxy_test

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"

	"github.com/opencis/cisauth/internal/proxy"
	"github.com/opencis/cisauth/middleware/samlidp"
)

// The SAML tests run the bridge inside the proxy, on the middleware's real
// CIS session (tickets from the simulator), against crewjam's samlsp as the
// service provider.

// Keys are slow to make under -race: one of each kind per test binary.
var (
	idpKey   = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA() })
	spRSAKey = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA() })
	spECKey  = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

func mustRSA() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

// selfSigned makes a self-signed SHA-256 certificate for key, valid a day
// either side of now.
func selfSigned(t testing.TB, key crypto.Signer, cn string) *x509.Certificate {
	t.Helper()
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-24 * time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// The SAML attribute the SP app admits /prescribe on, and the code.
const (
	attrActivities  = "activity_codes"
	prescribeCode   = "B0264"
	assertionWindow = 60 * time.Second // samlidp.Config.AssertionLifetime: the revalidation interval
)

// spOptions describes a service provider app.
type spOptions struct {
	key         crypto.Signer // RSA: offers an encryption key; ECDSA: does not
	binding     string        // samlsp.Options.Binding: "" (HTTP-Redirect) or HTTP-POST
	signRequest bool
}

// spApp is a supplier's web app behind crewjam's samlsp: /app answers the
// NameID and attributes it got as JSON, /hello greets the person by name
// in a page (#sp-name, #sp-activities); /prescribe needs B0264 in
// activity_codes (samlsp.RequireAttribute: the SP decides).
type spApp struct {
	m   *samlsp.Middleware
	srv *httptest.Server
}

// appSaw is what /app answers.
type appSaw struct {
	NameID     string
	Attributes map[string][]string
}

func newSPApp(t testing.TB, o spOptions) *spApp {
	t.Helper()
	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	root, _ := url.Parse(srv.URL)
	key := o.key
	if key == nil {
		key = spRSAKey()
	}
	m, err := samlsp.New(samlsp.Options{
		URL:                 *root,
		Key:                 key,
		Certificate:         selfSigned(t, key, "sp "+root.Host),
		SignRequest:         o.signRequest,
		Binding:             o.binding,
		KeyAttributesByName: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	m.OnError = func(w http.ResponseWriter, _ *http.Request, err error) {
		if ie, ok := err.(*saml.InvalidResponseError); ok {
			err = ie.PrivateErr
		}
		http.Error(w, "SP refused: "+err.Error(), http.StatusForbidden)
	}
	mux := http.NewServeMux()
	mux.Handle("/saml/", m)
	mux.Handle("/app", m.RequireAccount(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := samlsp.SessionFromContext(r.Context())
		saw := appSaw{Attributes: s.(samlsp.SessionWithAttributes).GetAttributes()}
		if c, ok := s.(samlsp.JWTSessionClaims); ok {
			saw.NameID = c.Subject
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(saw)
	})))
	mux.Handle("/hello", m.RequireAccount(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprintf(w, "<!doctype html><title>SP</title><p id=sp-name>%s</p><p id=sp-activities>%s</p>",
			html.EscapeString(samlsp.AttributeFromContext(r.Context(), "name")),
			html.EscapeString(strings.Join(samlsp.SessionFromContext(r.Context()).(samlsp.SessionWithAttributes).GetAttributes()[attrActivities], ",")))
	})))
	mux.Handle("/prescribe", m.RequireAccount(samlsp.RequireAttribute(attrActivities, prescribeCode)(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "prescribing as "+samlsp.AttributeFromContext(r.Context(), "name"))
		}))))
	handler = mux
	return &spApp{m: m, srv: srv}
}

// metadata returns the SP's metadata as the file a supplier hands over.
func (sp *spApp) metadata(t testing.TB) []byte {
	t.Helper()
	b, err := xml.MarshalIndent(sp.m.ServiceProvider.Metadata(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (sp *spApp) acs() string { return sp.m.ServiceProvider.AcsURL.String() }

// samlRig is a rig whose proxy runs the SAML bridge for the given SPs, on
// the middleware's session, with the proxy's own URL as external URL.
type samlRig struct {
	*rig
	idp  *samlidp.IdP
	cert *x509.Certificate
}

func newSAMLRig(t testing.TB, sps ...*spApp) *samlRig {
	t.Helper()
	return newSAMLRigWith(t, nil, sps...)
}

// newSAMLRigWith is newSAMLRig with more configuration (edit runs first).
func newSAMLRigWith(t testing.TB, edit func(*rig, *proxy.Config), sps ...*spApp) *samlRig {
	t.Helper()
	sr := &samlRig{cert: selfSigned(t, idpKey(), "cis-proxy test idp")}
	up := echoUpstream(t)
	sr.rig = newRigWith(t, up.URL, nil, func(rg *rig, cfg *proxy.Config) {
		if edit != nil {
			edit(rg, cfg)
		}
		scfg := samlidp.Config{
			ExternalURL:       rg.url,
			Key:               idpKey(),
			Certificate:       sr.cert,
			Identity:          proxy.SAMLIdentity,
			Login:             proxy.SAMLLogin,
			AssertionLifetime: assertionWindow,
		}
		for _, sp := range sps {
			parsed, err := samlidp.ParseServiceProvider(sp.metadata(t))
			if err != nil {
				t.Fatal(err)
			}
			scfg.ServiceProviders = append(scfg.ServiceProviders, parsed)
		}
		idp, err := samlidp.New(scfg)
		if err != nil {
			t.Fatal(err)
		}
		sr.idp, cfg.SAML = idp, idp
	})
	md := sr.fetchMetadata(t)
	for _, sp := range sps {
		sp.m.ServiceProvider.IDPMetadata = md
	}
	return sr
}

// fetchMetadata reads the IdP metadata from the proxy, as an SP
// administrator would.
func (sr *samlRig) fetchMetadata(t testing.TB) *saml.EntityDescriptor {
	t.Helper()
	resp, err := http.Get(sr.url + samlidp.MetadataPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metadata: %s: %s", resp.Status, b)
	}
	md, err := samlsp.ParseMetadata(b)
	if err != nil {
		t.Fatal(err)
	}
	return md
}

// browser is an HTTP client with cookies that follows redirects and posts
// the auto-posting forms of the SAML HTTP-POST binding as a browser's
// script would (with the Origin of the page the form came from), and
// records every request it sent and every form it posted.
type browser struct {
	t *testing.T
	c *http.Client

	mu     sync.Mutex
	sent   []*url.URL
	posted []postedForm
}

// postedForm is an auto-posting form found in a page.
type postedForm struct {
	action string
	values url.Values
}

type recordingTransport struct{ b *browser }

func (rt recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.b.mu.Lock()
	rt.b.sent = append(rt.b.sent, r.URL)
	rt.b.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t}
	b.c = &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: recordingTransport{b}}
	return b
}

// requests returns the URLs of every request sent so far.
func (b *browser) requests() []*url.URL {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*url.URL(nil), b.sent...)
}

// forget forgets the requests and forms so far.
func (b *browser) forget() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent, b.posted = nil, nil
}

// lastPosted returns the last auto-posted form sent to action.
func (b *browser) lastPosted(action string) (postedForm, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.posted) - 1; i >= 0; i-- {
		if b.posted[i].action == action {
			return b.posted[i], true
		}
	}
	return postedForm{}, false
}

var (
	autoForm  = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	formInput = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)"`)
	loginForm = regexp.MustCompile(`<form id="login" method="post" action="([^"]*)"`)
)

func findForm(re *regexp.Regexp, body []byte) (postedForm, bool) {
	m := re.FindSubmatch(body)
	if m == nil {
		return postedForm{}, false
	}
	f := postedForm{action: html.UnescapeString(string(m[1])), values: url.Values{}}
	for _, in := range formInput.FindAllSubmatch(body, -1) {
		f.values.Add(html.UnescapeString(string(in[1])), html.UnescapeString(string(in[2])))
	}
	return f, true
}

// get fetches u, following redirects and auto-posting forms, and returns
// the last response with its body read.
func (b *browser) get(u string) (*http.Response, []byte) {
	b.t.Helper()
	resp, err := b.c.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.follow(resp)
}

// post posts form to u from a page of origin, then follows as get does.
func (b *browser) post(u, origin string, form url.Values) (*http.Response, []byte) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.follow(resp)
}

func (b *browser) follow(resp *http.Response) (*http.Response, []byte) {
	b.t.Helper()
	for range 10 {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			b.t.Fatal(err)
		}
		f, ok := findForm(autoForm, body)
		if resp.StatusCode != http.StatusOK || !ok {
			return resp, body
		}
		b.mu.Lock()
		b.posted = append(b.posted, f)
		b.mu.Unlock()
		page := resp.Request.URL
		req, err := http.NewRequest(http.MethodPost, f.action, strings.NewReader(f.values.Encode()))
		if err != nil {
			b.t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", page.Scheme+"://"+page.Host)
		if resp, err = b.c.Do(req); err != nil {
			b.t.Fatal(err)
		}
	}
	b.t.Fatal("too many auto-posted forms")
	return nil, nil
}

// loginOnPage checks that resp is the proxy's login page and logs in on it
// as the page does: its form (fields ticket and return) posted to its
// action, from the proxy's origin, with a live ticket for uid in roleID.
// It follows where the login sends the browser.
func (b *browser) loginOnPage(rg *rig, resp *http.Response, body []byte, uid, roleID string) (*http.Response, []byte) {
	b.t.Helper()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != proxy.LoginPagePath {
		b.t.Fatalf("at %s: %s, want the login page:\n%s", resp.Request.URL, resp.Status, body)
	}
	f, ok := findForm(loginForm, body)
	if !ok {
		b.t.Fatalf("no login form on the page:\n%s", body)
	}
	tk := rg.sim.MustLogin(b.t, uid, roleID)
	form := url.Values{"ticket": {tk.Reveal()}, "return": {f.values.Get("return")}}
	return b.post(rg.url+f.action, rg.url, form)
}

// inflateRequest decodes an HTTP-Redirect SAMLRequest (base64 of raw
// DEFLATE) and returns the request's XML root.
func inflateRequest(t testing.TB, v string) *etree.Element {
	t.Helper()
	z, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	x, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(z)), 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return parseXML(t, x)
}

func parseXML(t testing.TB, x []byte) *etree.Element {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(x); err != nil {
		t.Fatal(err)
	}
	if doc.Root() == nil {
		t.Fatalf("no XML root in %q", x)
	}
	return doc.Root()
}
