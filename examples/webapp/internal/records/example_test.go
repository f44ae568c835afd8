package records_test

import (
	"log"
	"net/http"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/examples/webapp/internal/records"
	"github.com/opencis/cisauth/middleware"
)

// The app in a server: the NHS environment's SSB, the agent at its usual
// address, HTTPS (so the session cookie is Secure with the __Host- prefix).
func ExampleNew() {
	env, err := cis.ResolveEnvironment("dev") // or cis-sim's env.yaml
	if err != nil {
		log.Fatal(err)
	}
	app, err := records.New(records.Config{
		CIS:      middleware.Config{Env: env, Revalidate: time.Minute},
		AgentURL: records.DefaultAgentURL,
	})
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: ":8443", Handler: app, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServeTLS("cert.pem", "key.pem"))
}
