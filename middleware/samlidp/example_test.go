package samlidp_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/middleware/samlidp"
)

// The bridge as cis-proxy wires it: key, certificate and service provider
// metadata from files, the CIS session behind Identity, the proxy's login
// page behind Login.
func ExampleNew() {
	// testdata/test-idp.key is a throwaway key for this example; a real
	// one is made once, kept secret, and its certificate given to the SPs
	// in the metadata.
	key, cert, err := samlidp.LoadKeyPair("testdata/test-idp.key", "testdata/test-idp.crt")
	if err != nil {
		fmt.Println(err)
		return
	}
	sp, err := samlidp.LoadServiceProvider("testdata/sp-metadata.xml")
	if err != nil {
		fmt.Println(err)
		return
	}
	idp, err := samlidp.New(samlidp.Config{
		ExternalURL:      "https://proxy.example.nhs.uk",
		Key:              key,
		Certificate:      cert,
		ServiceProviders: []*samlidp.ServiceProvider{sp},
		Identity: func(r *http.Request) (cis.User, cis.RoleProfile, bool) {
			// cis-proxy: the user and selected role of the middleware's
			// session for r; here nobody is signed in.
			return cis.User{}, cis.RoleProfile{}, false
		},
		Login: func(w http.ResponseWriter, r *http.Request, returnTo string) {
			// returnTo is a path on this origin, e.g. /saml/sso?SAMLRequest=…
			http.Redirect(w, r, "/cis/login?return="+url.QueryEscape(returnTo), http.StatusSeeOther)
		},
		AssertionLifetime: 60 * time.Second, // cis-proxy's --revalidate
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/saml/", idp)

	fmt.Println("entity ID:", idp.EntityID())
	fmt.Println("SSO:", idp.SSOURL())
	fmt.Println(sp.EntityID(), "gets encrypted assertions:", sp.Encrypted())

	// The metadata needs no session.
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/saml/metadata", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	// Output:
	// entity ID: https://proxy.example.nhs.uk/saml/metadata
	// SSO: https://proxy.example.nhs.uk/saml/sso
	// https://sp.example.nhs.uk/saml/metadata gets encrypted assertions: true
	// 200 application/samlmetadata+xml
}

// Without a signing key the bridge is off, and says so; it never makes a
// key of its own.
func ExampleNew_off() {
	_, err := samlidp.New(samlidp.Config{ExternalURL: "https://proxy.example.nhs.uk"})
	if errors.Is(err, samlidp.ErrNoSigningKey) {
		fmt.Println(err)
	}
	// Output: samlidp: no IdP signing key and certificate: the SAML bridge is off
}
