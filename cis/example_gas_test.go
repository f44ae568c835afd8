package cis_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"log"
	"time"

	"github.com/opencis/cisauth/cis"
)

// card stands for opening the card's authentication key and certificate
// (package pcsc hands out a crypto.Signer after the PIN).
func card() (crypto.Signer, *x509.Certificate) { return nil, nil }

func ExampleGASClient_Login() {
	env, err := cis.ResolveEnvironment("dev")
	if err != nil {
		log.Fatal(err)
	}
	gas, err := cis.NewGASClient(cis.GASConfig{Env: env, Timeout: 20 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	cardKey, cardCert := card()
	s, err := gas.Login(ctx, cardKey, cardCert) // the card signs the challenge
	if err != nil {
		log.Fatal(err) // errors.Is(err, cis.ErrValidationFailed), cis.ErrMaintenance, …
	}
	fmt.Println("logged in as", s.Name, "with", len(s.Roles), "roles; ticket", s.Ticket) // the ticket prints redacted
	if len(s.Roles) > 0 {
		if err := gas.SelectRole(ctx, s, s.Roles[0].ID, cis.ModeLive); err != nil {
			log.Fatal(err)
		}
	}
	// … hand s.Ticket.Reveal() to local applications; on card removal:
	if err := gas.Logout(ctx, s); err != nil {
		log.Print(err)
	}
}
