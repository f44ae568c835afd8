package middleware_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/middleware"
)

// A supplier tests its own handler behind the middleware against the CIS
// simulator: a live ticket for a user in a role in one call, a login as a
// thick client does it, then the request. In a test, use
// cistest.NewServer(t) and srv.MustLogin(t, …) instead of Start and Login.
func Example_testYourHandler() {
	srv, _ := cistest.Start() // GAS and SSB with the demo users, over TLS
	defer srv.Close()
	m, _ := middleware.New(middleware.Config{Env: srv.Env()})
	records := middleware.RequireActivity("B0264")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := middleware.UserFrom(r.Context())
		fmt.Fprintf(w, "records for %s", u.Name)
	}))
	app := httptest.NewTLSServer(m.Handler(records))
	defer app.Close()
	client := app.Client()
	client.Jar, _ = cookiejar.New(nil)

	ticket, _ := srv.Login(context.Background(), "555000000001", "555000000101") // Alice, at RCJ
	login, _ := http.NewRequest(http.MethodPost, app.URL+"/cis/login", nil)
	login.Header.Set("X-CIS-Ticket", ticket.Reveal())
	resp, _ := client.Do(login) // the session cookie lands in the jar
	resp.Body.Close()

	resp, _ = client.Get(app.URL + "/records")
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(b))
	// Output: 200 records for Jones Alice Dr
}

// A supplier app in production: the NHS environment's SSB, sessions in
// Redis shared by every instance, guards per page, GAS logout on logout.
func ExampleNew() {
	env, err := cis.ResolveEnvironment("dev") // or an environment file
	if err != nil {
		log.Fatal(err)
	}
	// Every instance needs the same cookie keys: new key first, the old
	// one last until its cookies have expired.
	keys := [][]byte{[]byte(os.Getenv("CIS_COOKIE_KEY")), []byte(os.Getenv("CIS_COOKIE_KEY_OLD"))}
	client := redis.NewClient(&redis.Options{Addr: "redis.internal:6379"})
	store, err := middleware.NewRedisStore(middleware.RedisStoreConfig{Client: client, Prefix: "myapp:"})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	gas, err := cis.NewGASClient(cis.GASConfig{Env: env})
	if err != nil {
		log.Fatal(err)
	}
	m, err := middleware.New(middleware.Config{
		Env:        env,
		Store:      store,
		Cookie:     middleware.CookieConfig{Keys: keys},
		SSOLogout:  gas,
		LoginURL:   "/login",
		Logger:     slog.Default(),
		Registerer: prometheus.DefaultRegisterer,
	})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/patients", middleware.RequireActivity("B0264")(patientList()))
	mux.Handle("/admin/", middleware.RequireJobRole("R8000")(adminPages()))
	mux.Handle("/login", loginPage()) // LoginURL passes without a session; it posts the ticket to /cis/login
	log.Fatal(http.ListenAndServeTLS(":8443", "cert.pem", "key.pem", m.Handler(mux)))
}

func patientList() http.Handler { return http.NotFoundHandler() }
func adminPages() http.Handler  { return http.NotFoundHandler() }
func loginPage() http.Handler   { return http.NotFoundHandler() }

// A handler decides for itself with a guard's Check, for instance to show
// a page with less in it rather than refuse.
func ExampleGuard_Check() {
	canPrescribe := middleware.ActivityGuard("B0420")
	_ = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := canPrescribe.Check(r); err != nil {
			fmt.Fprintf(w, "read only: %v", err) // "your selected role at RCJ does not include activity B0420"
			return
		}
		fmt.Fprint(w, "prescribing enabled")
	})
}
