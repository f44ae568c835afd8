package cis2_test

import (
	"context"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/opencis/cisauth/cis/cis2"
	"github.com/opencis/cisauth/cis/cistest"
)

type nonceKey struct{}

// BenchmarkCallback times the callback, the part of a login on the relying
// party's server: code exchange (TLS to the in-process simulator), ID token
// checks, UserInfo (a user with eight roles) and its mapping. The
// authorization step before it (the browser's part) is outside the timer.
// zitadel is the peer: zitadel/oidc's rp doing the same exchange, ID token
// verification and UserInfo call, against the same simulator in the same
// run.
func BenchmarkCallback(b *testing.B) {
	srv := cistest.NewServer(b)
	client := srv.MustOIDCClient(b, callbackURL)
	ctx := context.Background()
	ours, err := cis2.New(ctx, cis2.Config{Env: client.Env, ClientSecret: client.Secret})
	if err != nil {
		b.Fatal(err)
	}
	peer, err := rp.NewRelyingPartyOIDC(ctx, srv.OIDCIssuer(), client.ID, client.Secret, callbackURL, cis2.DefaultScopes(),
		rp.WithHTTPClient(srv.Client()), rp.WithSigningAlgsFromDiscovery(),
		rp.WithVerifierOpts(rp.WithNonce(func(ctx context.Context) string { n, _ := ctx.Value(nonceKey{}).(string); return n })))
	if err != nil {
		b.Fatal(err)
	}
	ticket := srv.MustLogin(b, "555000000002", "555000000205")
	browser := srv.Browser()
	// authorize runs the browser's part with the timer stopped.
	authorize := func(b *testing.B) (*cis2.AuthRequest, string) {
		b.StopTimer()
		defer b.StartTimer()
		req, err := ours.Begin(cis2.BeginOptions{})
		if err != nil {
			b.Fatal(err)
		}
		return req, srv.MustAuthorize(b, browser, req.URL, ticket, "").RawQuery
	}
	b.Run("cis2", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			req, query := authorize(b)
			l, err := ours.Finish(ctx, &req.Pending, query)
			if err != nil || len(l.User.Roles) != 8 {
				b.Fatal(err)
			}
		}
	})
	b.Run("zitadel", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			req, query := authorize(b)
			cb, err := cis2.ParseCallback(query)
			if err != nil {
				b.Fatal(err)
			}
			zctx := context.WithValue(ctx, nonceKey{}, req.Pending.Nonce)
			tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](zctx, cb.Code, peer, rp.WithCodeVerifier(req.Pending.Verifier.Reveal()))
			if err != nil {
				b.Fatal(err)
			}
			info, err := rp.Userinfo[*oidc.UserInfo](zctx, tokens.AccessToken, tokens.TokenType, tokens.IDTokenClaims.GetSubject(), peer)
			if err != nil || info.Claims["nhsid_nrbac_roles"] == nil {
				b.Fatal(err)
			}
		}
	})
}
