package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"

	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/internal/proxy"
	"github.com/opencis/cisauth/middleware"
)

// ExampleNew puts the middleware and a rule in front of an application
// that knows the user only from the X-CIS-* headers, as cis-proxy does.
func ExampleNew() {
	sim, err := cistest.Start() // the CIS simulator, in-process
	if err != nil {
		panic(err)
	}
	defer sim.Close()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s, role %s at %s", r.Header.Get("X-CIS-Name"), r.Header.Get("X-CIS-Role-ID"), r.Header.Get("X-CIS-Org-Code"))
	}))
	defer app.Close()

	mw, err := middleware.New(middleware.Config{
		Env: sim.Env(), LoginURL: proxy.LoginPagePath,
		Cookie: middleware.CookieConfig{Insecure: true}, // plain-http loopback only
	})
	if err != nil {
		panic(err)
	}
	rules, err := proxy.CompileRules([]proxy.Rule{{Path: "/records/", Activities: []string{"B0264"}}})
	if err != nil {
		panic(err)
	}
	upstream, _ := url.Parse(app.URL)
	px, err := proxy.New(proxy.Config{Upstream: upstream, Middleware: mw, Rules: rules, Login: proxy.LoginPage{Ticket: true}})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(px)
	defer srv.Close()

	// A thick client logs in with the smartcard session's ticket and keeps
	// the cookie.
	ticket, err := sim.Login(context.Background(), "555000000001", "555000000101")
	if err != nil {
		panic(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/cis/login", nil)
	req.Header.Set(middleware.TicketHeader, ticket.Reveal())
	resp, err := c.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()

	resp, err = c.Get(srv.URL + "/records/1")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 Jones Alice Dr, role 555000000101 at RCJ
}
