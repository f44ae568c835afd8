package middleware_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/middleware"
)

// registered tells when a registration has been answered.
type registered struct {
	next middleware.ListenerRegistrar
	done chan error
}

func (r registered) AddSessionListener(ctx context.Context, t cis.Ticket, url string) error {
	err := r.next.AddSessionListener(ctx, t, url)
	r.done <- err
	return err
}

// Instant logout: with Notify.ExternalURL set, CIS tells the app when the
// SSO session ends, and the web session ends at once instead of at the
// next revalidation (here set to nine hours, so only the notification can
// end it). In production ExternalURL is the app's https address as CIS
// reaches it, and the Registrar is left nil (the same client is built from
// Env); here it is built explicitly to wait for the registration.
func Example_instantLogout() {
	srv, err := cistest.Start() // GAS, SSB, naming and session services, over TLS
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	naming, _ := cis.NewNamingClient(cis.NamingConfig{Env: srv.Env()})
	listeners, _ := cis.NewSessionListenerClient(naming)
	reg := registered{next: listeners, done: make(chan error, 1)}

	app := httptest.NewUnstartedServer(nil) // CIS posts to it: http on loopback is allowed
	m, err := middleware.New(middleware.Config{
		Env: srv.Env(), Revalidate: 9 * time.Hour, Cookie: middleware.CookieConfig{Insecure: true},
		Notify: middleware.NotifyConfig{ExternalURL: "http://" + app.Listener.Addr().String(), Registrar: reg},
	})
	if err != nil {
		log.Fatal(err)
	}
	app.Config.Handler = m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := middleware.UserFrom(r.Context())
		fmt.Fprint(w, u.Name)
	}))
	app.Start()
	defer app.Close()
	client := app.Client()
	client.Jar, _ = cookiejar.New(nil)

	ticket, _ := srv.Login(context.Background(), "555000000001", "555000000101")
	login, _ := http.NewRequest(http.MethodPost, app.URL+"/cis/login", nil)
	login.Header.Set("X-CIS-Ticket", ticket.Reveal())
	resp, _ := client.Do(login)
	resp.Body.Close()
	fmt.Println("registered:", <-reg.done)

	_ = srv.Logout(ticket)                   // the card pulled: GAS ends the SSO session and CIS notifies the app
	tick := time.NewTicker(time.Millisecond) // the browser, asking again and again
	defer tick.Stop()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); <-tick.C {
		resp, _ = client.Get(app.URL + "/")
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			break
		}
	}
	fmt.Println(resp.StatusCode)
	// Output:
	// registered: <nil>
	// 401
}
