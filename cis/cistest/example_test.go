package cistest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cistest"
)

// A supplier's test logs a demo user in, then validates the ticket the way
// its server does in production: fetching the RoleAssertion from the SSB
// over TLS verified against the environment's roots. In a test, use
// cistest.NewServer(t) and srv.MustLogin(t, …) instead of Start and Login.
func Example_login() {
	srv, err := cistest.Start() // the demo users
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()

	ticket, err := srv.Login(ctx, "555000000001", "555000000101")
	if err != nil {
		log.Fatal(err)
	}

	ssb, err := cis.NewSSBClient(cis.SSBConfig{Env: srv.Env()})
	if err != nil {
		log.Fatal(err)
	}
	a, err := ssb.Validate(ctx, ticket)
	if err != nil {
		log.Fatal(err)
	}
	role := a.SelectedRole()
	fmt.Println(a.User.Name, role.OrgCode, role.HasActivity("B0264"))

	// The user logs out (or pulls the card): the ticket is dead.
	srv.Logout(ticket)
	_, err = ssb.Validate(ctx, ticket)
	fmt.Println(err != nil)
	// Output:
	// Jones Alice Dr RCJ true
	// true
}

// Maintenance makes every protocol request fail with 503 and a
// maintenance page, which the cis clients report as *cis.MaintenanceError.
func ExampleServer_SetMaintenance() {
	srv, err := cistest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	srv.SetMaintenance(true)
	_, err = srv.Login(context.Background(), "555000000001", "")
	fmt.Println(errors.Is(err, cis.ErrMaintenance))
	// Output: true
}

// An application registers a listener for a ticket; when the SSO session
// ends, the simulator POSTs a session notification to it. In a test, use
// cistest.NewServer(t), srv.MustLogin and cistest.NewListener(t).
func Example_sessionListener() {
	srv, err := cistest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	ticket, err := srv.Login(ctx, "555000000001", "")
	if err != nil {
		log.Fatal(err)
	}

	events := make(chan cis.SessionEvent, 1)
	h, err := cis.NewNotificationHandler(cis.NotificationHandlerConfig{
		OnEvents: func(_ context.Context, evs []cis.SessionEvent) {
			for _, e := range evs {
				events <- e
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	app := httptest.NewServer(h)
	defer app.Close()

	if err := srv.AddSessionListener(ctx, ticket, app.URL+"/cis/notify"); err != nil {
		log.Fatal(err)
	}
	srv.Logout(ticket) // or a GAS logout when the card is pulled
	e := <-events
	fmt.Println(e.Type, e.Session.State, e.Session.Ticket == ticket)
	// Output: logout destroyed true
}
