package cissim_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cissim"
)

// The simulator is an http.Handler: serve it with httptest (as package
// cistest does) and point the cis clients at it through an Environment
// whose only trust root is the test server's certificate. CreateSession
// stands in for a card login here; cistest.Server.Login does a real one.
func ExampleNew() {
	cardCA, _, err := cissim.NewCardCA("Example Card CA", nil, time.Now())
	if err != nil {
		log.Fatal(err)
	}
	sim, err := cissim.New(cissim.Config{Users: cissim.DemoUsers(), CardCAs: []*x509.Certificate{cardCA}})
	if err != nil {
		log.Fatal(err)
	}
	ts := httptest.NewTLSServer(sim)
	defer ts.Close()
	env := cis.Environment{Name: "example", GASURL: ts.URL, SSBURL: ts.URL, PortalURL: ts.URL + "/",
		Roots: []*x509.Certificate{ts.Certificate()}}

	ticket, err := sim.CreateSession("555000000001", "555000000101", cis.ModeLive)
	if err != nil {
		log.Fatal(err)
	}
	ssb, err := cis.NewSSBClient(cis.SSBConfig{Env: env})
	if err != nil {
		log.Fatal(err)
	}
	a, err := ssb.Validate(context.Background(), ticket)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(a.User.UID, a.SelectedRole().JobRole, len(sim.Sessions()))
	// Output:
	// 555000000001 Consultant 1
}
