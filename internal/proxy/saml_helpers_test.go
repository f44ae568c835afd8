package proxy_test

import (
	"bytes"
	"compress/flate"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"

	"github.com/opencis/cisauth/internal/proxy"
	"github.com/opencis/cisauth/internal/proxytest"
	"github.com/opencis/cisauth/internal/samltest"
	"github.com/opencis/cisauth/middleware/samlidp"
)

// The SAML tests run the bridge inside the proxy, on the middleware's real
// CIS session (tickets from the simulator), against crewjam's samlsp as the
// service provider.

// Keys are slow to make under -race: one of each kind per test binary (the
// SPs' default RSA key is samltest.SPKey).
var (
	idpKey  = sync.OnceValue(func() *rsa.PrivateKey { return samltest.NewRSAKey(2048) })
	spECKey = sync.OnceValue(samltest.NewECKey)
)

// assertionWindow is samlidp.Config.AssertionLifetime: the revalidation
// interval.
const assertionWindow = 60 * time.Second

// samlRig is a rig whose proxy runs the SAML bridge for the given SPs, on
// the middleware's session, with the proxy's own URL as external URL.
type samlRig struct {
	*rig
	idp  *samlidp.IdP
	cert *x509.Certificate
}

func newSAMLRig(t testing.TB, sps ...*samltest.SP) *samlRig {
	t.Helper()
	return newSAMLRigWith(t, nil, sps...)
}

// newSAMLRigWith is newSAMLRig with more configuration (edit runs first).
func newSAMLRigWith(t testing.TB, edit func(*rig, *proxy.Config), sps ...*samltest.SP) *samlRig {
	t.Helper()
	sr := &samlRig{cert: samltest.SelfSigned(t, idpKey(), "cis-proxy test idp")}
	up := proxytest.EchoUpstream(t)
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
			parsed, err := samlidp.ParseServiceProvider(sp.Metadata(t))
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
	md := sr.metadata(t)
	for _, sp := range sps {
		sp.Middleware.ServiceProvider.IDPMetadata = md
	}
	return sr
}

// metadata reads the IdP metadata from the proxy, as an SP administrator
// would.
func (sr *samlRig) metadata(t testing.TB) *saml.EntityDescriptor {
	t.Helper()
	return samltest.IdPMetadata(t, sr.url+samlidp.MetadataPath)
}

// loginForm opens the proxy's login page form.
var loginForm = regexp.MustCompile(`<form id="login" method="post" action="([^"]*)"`)

// loginOnPage checks that resp is the proxy's login page and logs in on it
// with b as the page does: its form (fields ticket and return) posted to
// its action, from the proxy's origin, with a live ticket for uid in
// roleID. It follows where the login sends the browser.
func loginOnPage(t *testing.T, b *samltest.Browser, rg *rig, resp *http.Response, body []byte, uid, roleID string) (*http.Response, []byte) {
	t.Helper()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != proxy.LoginPagePath {
		t.Fatalf("at %s: %s, want the login page:\n%s", resp.Request.URL, resp.Status, body)
	}
	f, ok := samltest.FindFormBy(loginForm, body)
	if !ok {
		t.Fatalf("no login form on the page:\n%s", body)
	}
	tk := rg.sim.MustLogin(t, uid, roleID)
	form := url.Values{"ticket": {tk.Reveal()}, "return": {f.Values.Get("return")}}
	return b.Post(rg.url+f.Action, rg.url, form)
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
