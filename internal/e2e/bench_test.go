package e2e_test

import (
	"crypto"
	"crypto/x509"
	"testing"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/pcsc"
)

// BenchmarkCardLogin measures full logins per second: GAS activate, the
// challenge's CMS signed on the virtual card through OpenSC, pcscd and
// vpcd, GAS validate and role selection, over TLS to the simulator. The
// card is inserted and its PIN entered once, before the clock starts.
// software-key is the same login with the key in process memory (cistest's
// card key), the baseline that shows what the card path costs.
func BenchmarkCardLogin(b *testing.B) {
	s, rs := readers(b)
	srv := cistest.NewServer(b)
	const uid, role = "555000000001", "555000000101"

	b.Run("card", func(b *testing.B) {
		card, _ := insertCard(b, srv, uid, rs[0])
		tok := openCard(b, s, rs[0])
		ctx := ctxFor(b)
		if err := tok.Login(ctx, []byte(cardPIN), pcsc.LoginOptions{}); err != nil {
			b.Fatal(err)
		}
		signer, err := tok.Signer(ctx)
		if err != nil {
			b.Fatal(err)
		}
		cert, err := tok.Certificate(ctx)
		if err != nil {
			b.Fatal(err)
		}
		benchLogins(b, srv, signer, cert, role)
		if n := card.Signatures(); n < b.N {
			b.Fatalf("the card made %d signatures for %d logins", n, b.N)
		}
	})
	b.Run("software-key", func(b *testing.B) {
		cert, key, err := srv.CardCertificate(uid)
		if err != nil {
			b.Fatal(err)
		}
		benchLogins(b, srv, key, cert, role)
	})
}

// benchLogins logs in and selects roleID in a b.Loop and reports logins/s.
func benchLogins(b *testing.B, srv *cistest.Server, signer crypto.Signer, cert *x509.Certificate, roleID string) {
	b.Helper()
	gas := newGAS(b, cis.GASConfig{Env: srv.Env()})
	ctx := ctxFor(b)
	for b.Loop() {
		sess, err := gas.Login(ctx, signer, cert)
		if err != nil {
			b.Fatal(err)
		}
		if err := gas.SelectRole(ctx, sess, roleID, cis.ModeLive); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}
