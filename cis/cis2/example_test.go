package cis2_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cis2"
	"github.com/opencis/cisauth/cis/cistest"
)

// A relying party logs a smartcard user in through the simulator's CIS2
// provider, revalidates the login, and sees it end when the card session
// does. In a web app, Begin runs in the login handler (redirect to
// req.URL, keep req.Pending in the server-side session) and Finish in the
// callback handler with r.URL.RawQuery; here the simulator's test browser
// (cistest.Authorize) plays the part between.
func Example() {
	srv, err := cistest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, err := srv.RegisterOIDCClient("https://app.example/cis/oidc/callback")
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	rp, err := cis2.New(ctx, cis2.Config{Env: client.Env, ClientSecret: client.Secret})
	if err != nil {
		log.Fatal(err)
	}

	req, err := rp.Begin(cis2.BeginOptions{}) // login handler
	if err != nil {
		log.Fatal(err)
	}
	ticket, err := srv.Login(ctx, "555000000001", "") // the card login at the workstation
	if err != nil {
		log.Fatal(err)
	}
	callback, err := srv.Authorize(ctx, nil, req.URL, ticket, "") // the browser at the provider
	if err != nil {
		log.Fatal(err)
	}
	login, err := rp.Finish(ctx, &req.Pending, callback.RawQuery) // callback handler
	if err != nil {
		log.Fatal(err)
	}
	role := login.SelectedRole()
	fmt.Println(login.User.Name, role.OrgCode, role.HasActivity("B0264"), login.AMR)

	// At the revalidation interval, until the card session ends.
	if _, err := rp.Revalidate(ctx, login); err != nil {
		log.Fatal(err)
	}
	srv.Logout(ticket)
	_, err = rp.Revalidate(ctx, login)
	fmt.Println(errors.Is(err, cis.ErrSessionInvalid))
	// Output:
	// Jones Alice Dr RCJ true [N3_SMARTCARD]
	// true
}
