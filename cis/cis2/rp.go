package cis2

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/internal/pemfile"
)

// Defaults for a zero Config field.
const (
	// DefaultClockSkew is the clock difference allowed on the ID token's
	// exp, iat and auth_time.
	DefaultClockSkew = time.Minute
	// DefaultLoginTimeout bounds how long a login may stay in progress
	// (Begin to Finish).
	DefaultLoginTimeout = 10 * time.Minute
	// DefaultRefreshMargin is how long before the access token expires
	// Revalidate refreshes it.
	DefaultRefreshMargin = time.Minute
	maxClientSecret      = 4096
)

// DefaultScopes are the scopes asked for unless configured: the user's
// profile, all their role profiles, their organisations' names and a
// selected role.
func DefaultScopes() []string {
	return []string{"openid", "profile", "nationalrbacaccess", "associatedorgs", "selectedrole"}
}

// DefaultACRValues are the acr_values sent unless configured: AAL3
// authenticators only (smartcards are AAL3).
func DefaultACRValues() []string { return []string{"AAL3_ANY"} }

// SmartcardAMR are the amr values accepted unless configured: the smartcard
// methods. N3_SMARTCARD is what a smartcard login through the Identity
// Agent carries; SMARTCARD and CIS2_SMARTCARD follow CIS2's acr names
// (AAL3_SMARTCARD, AAL3_CIS2_SMARTCARD; inferred), and "sc" is RFC 8176's
// smart card method.
func SmartcardAMR() []string { return []string{"N3_SMARTCARD", "SMARTCARD", "CIS2_SMARTCARD", "sc"} }

// Config configures a RelyingParty. Env.OIDC names the provider and this
// application's registration; the client fields below override it, so an
// application can take a preset (cis2-int) and supply its own client id,
// credential and redirect URL from flags.
type Config struct {
	// Env is the environment; its OIDC settings are used (required).
	Env cis.Environment
	// ClientID overrides Env.OIDC.ClientID.
	ClientID string
	// ClientSecret, if set, is used for client_secret_basic instead of the
	// file named by Env.OIDC.ClientSecretFile.
	ClientSecret string
	// ClientKey, if set, is used for private_key_jwt instead of the file
	// named by Env.OIDC.KeyFile. It must be an *rsa.PrivateKey (RS256),
	// *ecdsa.PrivateKey (ES256/384/512) or ed25519.PrivateKey (EdDSA), as
	// internal/pemfile and crypto/x509 return them.
	ClientKey crypto.Signer
	// ClientKeyID overrides Env.OIDC.KeyID.
	ClientKeyID string
	// RedirectURL overrides Env.OIDC.RedirectURL.
	RedirectURL string
	// PostLogoutRedirectURL overrides Env.OIDC.PostLogoutRedirectURL.
	PostLogoutRedirectURL string
	// MaxAge, if positive, is sent as max_age and the ID token's auth_time
	// must be no older.
	MaxAge time.Duration
	// ClockSkew is allowed on exp, iat and auth_time (DefaultClockSkew if
	// zero; negative is an error).
	ClockSkew time.Duration
	// LoginTimeout bounds a login in progress (DefaultLoginTimeout if zero).
	LoginTimeout time.Duration
	// RefreshMargin: Revalidate refreshes an access token this long before
	// it expires (DefaultRefreshMargin if zero).
	RefreshMargin time.Duration
	// Timeout bounds each request to the provider (cis.DefaultTimeout if
	// zero).
	Timeout time.Duration
	// MaxResponse bounds every response body read from the provider
	// (MaxUserInfoSize if zero or larger).
	MaxResponse int64
	// WrapTransport, if not nil, wraps the verified transport (to count or
	// time requests); it must call the transport it is given.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Logger receives debug records, never a token (nil discards them).
	Logger *slog.Logger
}

// RelyingParty logs users in through one CIS2 provider. It is safe for
// concurrent use.
type RelyingParty struct {
	settings cis.OIDCSettings
	disc     *discovery
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
	client   *http.Client
	scopes   []string
	acr      []string
	amr      []string
	maxAge   time.Duration
	skew     time.Duration
	loginTTL time.Duration
	margin   time.Duration
	timeout  time.Duration
	limit    int64
	now      func() time.Time
	log      *slog.Logger
}

// New checks cfg, fetches the provider's discovery document (bounded by ctx
// and cfg.Timeout) and returns a relying party. It fails if the discovery
// document's issuer is not exactly the configured one, an endpoint is not
// https (plain http only to a loopback host), the provider lists no
// asymmetric ID token algorithm, offers no S256 PKCE when it lists
// methods, or does not accept this client's authentication method.
func New(ctx context.Context, cfg Config) (*RelyingParty, error) {
	o, secret, key, err := clientSettings(cfg)
	if err != nil {
		return nil, err
	}
	rp := &RelyingParty{
		settings: o,
		scopes:   slices.Clone(o.Scopes),
		acr:      slices.Clone(o.ACRValues),
		amr:      slices.Clone(o.AMR),
		maxAge:   cfg.MaxAge,
		skew:     cfg.ClockSkew,
		loginTTL: cfg.LoginTimeout,
		margin:   cfg.RefreshMargin,
		timeout:  cfg.Timeout,
		limit:    cfg.MaxResponse,
		now:      cfg.Now,
		log:      cfg.Logger,
	}
	if len(rp.scopes) == 0 {
		rp.scopes = DefaultScopes()
	}
	if len(rp.acr) == 0 {
		rp.acr = DefaultACRValues()
	}
	if len(rp.amr) == 0 {
		rp.amr = SmartcardAMR()
	}
	switch {
	case rp.skew < 0:
		return nil, fmt.Errorf("cis2: negative clock skew %s", rp.skew)
	case rp.skew == 0:
		rp.skew = DefaultClockSkew
	}
	if rp.maxAge < 0 || rp.loginTTL < 0 || rp.margin < 0 || rp.timeout < 0 {
		return nil, errors.New("cis2: negative MaxAge, LoginTimeout, RefreshMargin or Timeout")
	}
	setDefault(&rp.loginTTL, DefaultLoginTimeout)
	setDefault(&rp.margin, DefaultRefreshMargin)
	setDefault(&rp.timeout, cis.DefaultTimeout)
	if rp.limit <= 0 || rp.limit > MaxUserInfoSize {
		rp.limit = MaxUserInfoSize
	}
	if rp.now == nil {
		rp.now = time.Now
	}
	if rp.log == nil {
		rp.log = slog.New(slog.DiscardHandler)
	}

	rp.client = o.NewHTTPClient(rp.timeout)
	var rt http.RoundTripper = rp.client.Transport
	if cfg.WrapTransport != nil {
		if rt = cfg.WrapTransport(rt); rt == nil {
			return nil, errors.New("cis2: WrapTransport returned nil")
		}
	}
	rp.client.Transport = &capTransport{base: rt, limit: rp.limit}

	dctx, cancel := context.WithTimeout(ctx, rp.timeout)
	defer cancel()
	if rp.disc, err = rp.discover(dctx); err != nil {
		return nil, err
	}
	authMethod := "client_secret_basic"
	if key != nil {
		authMethod = "private_key_jwt"
	}
	if err := rp.disc.checkClient(authMethod); err != nil {
		return nil, err
	}
	endpoint := oauth2.Endpoint{AuthURL: rp.disc.AuthURL, TokenURL: rp.disc.TokenURL, AuthStyle: oauth2.AuthStyleInHeader}
	if key != nil {
		at, err := newAssertionTransport(rp.client.Transport, o.ClientID, o.KeyID, key, rp.disc, rp.now)
		if err != nil {
			return nil, err
		}
		rp.client.Transport = at
		endpoint.AuthStyle = oauth2.AuthStyleInParams
	}
	rp.oauth = &oauth2.Config{
		ClientID: o.ClientID, ClientSecret: secret, Endpoint: endpoint,
		RedirectURL: o.RedirectURL, Scopes: rp.scopes,
	}
	pctx := oidc.ClientContext(ctx, rp.client)
	provider := (&oidc.ProviderConfig{
		IssuerURL: rp.disc.Issuer, AuthURL: rp.disc.AuthURL, TokenURL: rp.disc.TokenURL,
		UserInfoURL: rp.disc.UserInfoURL, JWKSURL: rp.disc.JWKSURL, Algorithms: rp.disc.algs,
	}).NewProvider(pctx)
	rp.verifier = provider.Verifier(&oidc.Config{
		ClientID:             o.ClientID,
		SupportedSigningAlgs: rp.disc.algs,
		// go-oidc refuses a token whose exp is before Now: shifting the
		// clock back by the skew allows exactly that much lateness.
		Now: func() time.Time { return rp.now().Add(-rp.skew) },
	})
	return rp, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// clientSettings merges cfg's overrides into Env.OIDC, checks the result
// and loads the client credential: a secret, or a key for private_key_jwt.
func clientSettings(cfg Config) (o cis.OIDCSettings, secret string, key crypto.Signer, err error) {
	o = cfg.Env.OIDC.Clone()
	if !o.Enabled() {
		return o, "", nil, fmt.Errorf("cis2: environment %q has no oidc settings (no issuer)", cfg.Env.Name)
	}
	for _, f := range []struct {
		dst *string
		v   string
	}{
		{&o.ClientID, cfg.ClientID}, {&o.RedirectURL, cfg.RedirectURL},
		{&o.PostLogoutRedirectURL, cfg.PostLogoutRedirectURL}, {&o.KeyID, cfg.ClientKeyID},
	} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	if cfg.ClientSecret != "" || cfg.ClientKey != nil {
		o.ClientSecretFile, o.KeyFile = "", ""
	}
	if err := o.Check(); err != nil {
		return o, "", nil, fmt.Errorf("cis2: environment %q: oidc: %w", cfg.Env.Name, err)
	}
	switch {
	case o.ClientID == "":
		return o, "", nil, fmt.Errorf("cis2: environment %q: no client id (set oidc.client_id in an environment file, or Config.ClientID)", cfg.Env.Name)
	case o.RedirectURL == "":
		return o, "", nil, fmt.Errorf("cis2: environment %q: no redirect URL (set oidc.redirect_url, or Config.RedirectURL)", cfg.Env.Name)
	case cfg.ClientSecret != "" && cfg.ClientKey != nil:
		return o, "", nil, errors.New("cis2: give ClientSecret or ClientKey, not both")
	}
	secret, key = cfg.ClientSecret, cfg.ClientKey
	switch {
	case o.ClientSecretFile != "":
		b, err := pemfile.ReadFile(o.ClientSecretFile)
		if err != nil {
			return o, "", nil, fmt.Errorf("cis2: client secret file: %w", err)
		}
		secret = strings.TrimRight(string(b), "\r\n")
		clear(b)
	case o.KeyFile != "":
		b, err := pemfile.ReadFile(o.KeyFile)
		if err != nil {
			return o, "", nil, fmt.Errorf("cis2: client key file: %w", err)
		}
		key, err = pemfile.ParsePrivateKey(b)
		clear(b)
		if err != nil {
			return o, "", nil, fmt.Errorf("cis2: client key file %s: %w", o.KeyFile, err)
		}
	}
	if secret == "" && key == nil {
		return o, "", nil, fmt.Errorf("cis2: environment %q: no client credential (oidc.client_secret_file or oidc.key_file, or Config.ClientSecret or ClientKey)", cfg.Env.Name)
	}
	if len(secret) > maxClientSecret || strings.ContainsAny(secret, "\r\n") {
		return o, "", nil, errors.New("cis2: client secret: one line of at most 4096 bytes")
	}
	return o, secret, key, nil
}

// Issuer returns the provider's issuer.
func (rp *RelyingParty) Issuer() string { return rp.disc.Issuer }

// ClientID returns this application's client id.
func (rp *RelyingParty) ClientID() string { return rp.oauth.ClientID }

// RedirectURL returns the redirect URL sent with every login.
func (rp *RelyingParty) RedirectURL() string { return rp.oauth.RedirectURL }

// ctx returns ctx bounded by the request timeout and carrying the HTTP
// client for x/oauth2 and go-oidc.
func (rp *RelyingParty) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, rp.timeout)
	return oidc.ClientContext(ctx, rp.client), cancel
}
