package cis2_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/opencis/cisauth/cis/cistest"
)

// zitadelRP is an independent relying party (zitadel/oidc's rp package,
// which shares no code with ours) run as a web app: /login and /callback.
type zitadelRP struct {
	app *httptest.Server
	rp  rp.RelyingParty

	mu     sync.Mutex
	claims *oidc.IDTokenClaims
	info   *oidc.UserInfo
	failed string
}

func newZitadelRP(t testing.TB, srv *cistest.Server) *zitadelRP {
	t.Helper()
	z := &zitadelRP{}
	mux := http.NewServeMux()
	z.app = httptest.NewServer(mux)
	t.Cleanup(z.app.Close)
	redirect := z.app.URL + "/callback"
	client := srv.MustOIDCClient(t, redirect)
	key := []byte("0123456789abcdef0123456789abcdef")
	cookies := httphelper.NewCookieHandler(key, key, httphelper.WithUnsecure())
	var err error
	z.rp, err = rp.NewRelyingPartyOIDC(context.Background(), srv.OIDCIssuer(), client.ID, client.Secret, redirect,
		[]string{"openid", "profile", "nationalrbacaccess", "associatedorgs", "selectedrole"},
		rp.WithPKCE(cookies), rp.WithHTTPClient(srv.Client()), rp.WithSigningAlgsFromDiscovery(),
		rp.WithVerifierOpts(rp.WithNonce(func(context.Context) string { return "zitadel-nonce" }),
			rp.WithACRVerifier(oidc.DefaultACRVerifier([]string{"AAL3_ANY"}))),
		rp.WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, errorType, desc, _ string) {
			z.mu.Lock()
			z.failed = errorType + ": " + desc
			z.mu.Unlock()
			http.Error(w, "login failed", http.StatusUnauthorized)
		}))
	if err != nil {
		t.Fatal(err)
	}
	state := 0
	mux.Handle("/login", rp.AuthURLHandler(func() string { state++; return "zitadel-state-" + string(rune('a'+state)) }, z.rp,
		rp.WithURLParam("acr_values", "AAL3_ANY"), rp.WithURLParam("nonce", "zitadel-nonce")))
	mux.Handle("/callback", rp.CodeExchangeHandler(rp.UserinfoCallback(
		func(w http.ResponseWriter, _ *http.Request, tokens *oidc.Tokens[*oidc.IDTokenClaims], _ string, _ rp.RelyingParty, info *oidc.UserInfo) {
			z.mu.Lock()
			z.claims, z.info = tokens.IDTokenClaims, info
			z.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}), z.rp))
	return z
}

// TestIndependentRelyingParty: zitadel's relying party logs in against the
// simulator's provider with PKCE, verifies the ID token and reads UserInfo.
func TestIndependentRelyingParty(t *testing.T) {
	srv := cistest.NewServer(t)
	z := newZitadelRP(t, srv)
	browser := srv.Browser()
	resp, err := browser.Get(z.app.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	authURL, err := resp.Location()
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("login: %d %v", resp.StatusCode, err)
	}
	if authURL.Query().Get("code_challenge_method") != "S256" {
		t.Fatalf("no PKCE: %s", authURL)
	}
	ticket := srv.MustLogin(t, "555000000003", "555000000302")
	cb := srv.MustAuthorize(t, browser, authURL.String(), ticket, "")
	resp, err = browser.Get(cb.String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	z.mu.Lock()
	defer z.mu.Unlock()
	if resp.StatusCode != http.StatusNoContent || z.claims == nil {
		t.Fatalf("callback: HTTP %d %s%s", resp.StatusCode, z.failed, body)
	}
	c := z.claims
	if c.Subject != "555000000003" || c.Issuer != srv.OIDCIssuer() || c.AuthenticationContextClassReference != "AAL3_ANY" ||
		!slices.Contains(c.AuthenticationMethodsReferences, "N3_SMARTCARD") || c.Nonce != "zitadel-nonce" || c.Claims["selected_roleid"] != "555000000302" {
		t.Errorf("ID token claims %+v", c)
	}
	if z.info.Subject != "555000000003" || z.info.Name != "Patel Chandra Ms" {
		t.Errorf("userinfo %+v", z.info)
	}
	roles, _ := z.info.Claims["nhsid_nrbac_roles"].([]any)
	if len(roles) != 2 {
		t.Errorf("nhsid_nrbac_roles %v", z.info.Claims["nhsid_nrbac_roles"])
	}
}
