package middleware_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cis2"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/middleware"
)

// A supplier app accepting both NHS CIS2 (OpenID Connect) and the legacy
// ticket login: one session, the same guards. Its login page offers "Log in
// with CIS2" as a link to /cis/oidc/login?return=… beside the legacy form.
func ExampleCIS2Config() {
	ctx := context.Background()
	env, err := cis.LoadEnvironment("env.yaml") // legacy gas_url/ssb_url and an oidc block
	if err != nil {
		log.Fatal(err)
	}
	rp, err := cis2.New(ctx, cis2.Config{ // fetches the provider's discovery document
		Env:         env,
		ClientID:    os.Getenv("CIS2_CLIENT_ID"),                    // or oidc.client_id
		RedirectURL: "https://app.example.nhs.uk/cis/oidc/callback", // registered with CIS2
		// the client secret or key comes from the files the oidc block names
	})
	if err != nil {
		log.Fatal(err)
	}
	m, err := middleware.New(middleware.Config{
		Env:      env,      // the legacy SSB (leave out for a CIS2-only service)
		LoginURL: "/login", // a page with both ways in
		CIS2:     middleware.CIS2Config{RelyingParty: rp},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/patients", middleware.RequireActivity("B0264")(patientList()))
	mux.Handle("/login", loginPage())
	log.Fatal(http.ListenAndServeTLS(":8443", "cert.pem", "key.pem", m.Handler(mux)))
}

// A whole CIS2 login against the simulator's provider, as a browser makes
// it: the login path, the provider's page (given the smartcard session's
// ticket), the callback, then the page. In a test, use cistest.NewServer(t),
// srv.MustOIDCClient and srv.MustAuthorize.
func Example_cis2Login() {
	ctx := context.Background()
	srv, _ := cistest.Start()
	defer srv.Close()
	var h http.Handler
	app := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	defer app.Close()

	client, _ := srv.RegisterOIDCClient(app.URL + "/cis/oidc/callback")
	rp, _ := cis2.New(ctx, cis2.Config{Env: client.Env, ClientSecret: client.Secret})
	m, _ := middleware.New(middleware.Config{CIS2: middleware.CIS2Config{RelyingParty: rp}})
	h = m.Handler(middleware.RequireActivity("B0264")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := middleware.SessionFrom(r.Context())
		fmt.Fprintf(w, "records for %s (%s, %s)", s.User.Name, s.Role.OrgCode, s.Source)
	})))

	browser := srv.Browser() // keeps cookies, stops at redirects
	resp, _ := browser.Get(app.URL + "/cis/oidc/login?return=/records")
	resp.Body.Close()
	ticket, _ := srv.Login(ctx, "555000000001", "555000000101") // Alice's card login, at RCJ
	callback, _ := cistest.Authorize(ctx, browser, resp.Header.Get("Location"), ticket, "")
	resp, _ = browser.Get(callback.String()) // the middleware finishes the login
	resp.Body.Close()
	resp, _ = browser.Get(app.URL + resp.Header.Get("Location"))
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(b))
	// Output: 200 records for Jones Alice Dr (RCJ, cis2)
}
