package cissim

import (
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The CIS2 (OpenID Connect) provider, under the same realm path as the real
// one and on the same listener as GAS and the SSB. Its users, roles and
// sessions are the simulator's: a live SSO ticket is the authentication
// (amr N3_SMARTCARD, acr AAL3_ANY), the role selected in that session is
// selected_roleid, and ending the session (logout, expiry, card removal)
// ends every token issued on it.

// OIDCRealmPath is where the provider lives, relative to the simulator's
// base URL; the issuer is the base URL plus this path.
const OIDCRealmPath = "/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare"

// Paths below OIDCRealmPath, as ForgeRock AM names them.
const (
	oidcDiscoveryPath  = "/.well-known/openid-configuration"
	oidcAuthorizePath  = "/authorize"
	oidcTokenPath      = "/access_token"
	oidcUserInfoPath   = "/userinfo"
	oidcJWKSPath       = "/connect/jwk_uri"
	oidcEndSessionPath = "/connect/endSession"
)

// Defaults for a zero OIDCConfig field.
const (
	DefaultOIDCCodeTTL        = time.Minute
	DefaultOIDCAccessTokenTTL = 10 * time.Minute
	DefaultOIDCIDTokenTTL     = 10 * time.Minute
	DefaultOIDCMaxGrants      = 200_000
	// DefaultAgentURL is where the /authorize page asks the local agent
	// for the ticket (GET <agent>/ticket) unless configured otherwise.
	DefaultAgentURL = "http://127.0.0.1:7444"
)

// OIDCConfig configures the simulator's CIS2 provider. The zero value is a
// provider with no clients and a signing key generated at first use.
type OIDCConfig struct {
	// Clients are the registered relying parties (more can be added with
	// Simulator.RegisterOIDCClient).
	Clients []OIDCClient
	// SigningKey signs ID tokens: RSA (RS256, as CIS2) or ECDSA P-256
	// (ES256). Nil means an RSA-2048 key generated when first needed.
	SigningKey crypto.Signer
	// PreviousKeys are published in the JWKS beside the signing key, and
	// never used to sign: the overlap after a rotation, so tokens signed
	// before it still verify.
	PreviousKeys []crypto.Signer
	// AgentURL is the base URL of the local agent's Ticket API that the
	// /authorize page fetches the ticket from (DefaultAgentURL if empty;
	// "none" for the paste field only).
	AgentURL string
	// CodeTTL is how long an authorization code may be redeemed (default
	// 1 minute); AccessTokenTTL and IDTokenTTL the tokens' lives (default
	// 10 minutes each). Refresh tokens live as long as the SSO session.
	CodeTTL, AccessTokenTTL, IDTokenTTL time.Duration
	// MaxGrants caps outstanding codes, tokens and role prompts (default
	// 200,000); past it, expired ones are swept and then new ones refused.
	MaxGrants int
}

// oidcProvider is the provider's state.
type oidcProvider struct {
	s        *Simulator
	cfg      OIDCConfig
	clients  clientRegistry
	keys     *keyRing
	store    *grantStore
	agentURL string // "" for the paste field only
}

func newOIDCProvider(s *Simulator, cfg OIDCConfig) (*oidcProvider, error) {
	setDefault(&cfg.CodeTTL, DefaultOIDCCodeTTL)
	setDefault(&cfg.AccessTokenTTL, DefaultOIDCAccessTokenTTL)
	setDefault(&cfg.IDTokenTTL, DefaultOIDCIDTokenTTL)
	if cfg.CodeTTL < 0 || cfg.AccessTokenTTL < 0 || cfg.IDTokenTTL < 0 {
		return nil, errors.New("cissim: negative OIDC code or token lifetime")
	}
	if cfg.MaxGrants <= 0 {
		cfg.MaxGrants = DefaultOIDCMaxGrants
	}
	p := &oidcProvider{s: s, cfg: cfg}
	p.store = newGrantStore(cfg.MaxGrants, p.alive)
	switch cfg.AgentURL {
	case "":
		p.agentURL = DefaultAgentURL
	case "none":
	default:
		if err := checkAgentURL(cfg.AgentURL); err != nil {
			return nil, err
		}
		p.agentURL = strings.TrimRight(cfg.AgentURL, "/")
	}
	var err error
	if p.keys, err = newKeyRing(cfg.SigningKey, cfg.PreviousKeys); err != nil {
		return nil, err
	}
	for _, c := range cfg.Clients {
		if err := p.clients.add(c); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// routes adds the provider's endpoints with protocol (the simulator's
// metrics and fault injection).
func (p *oidcProvider) routes(protocol func(pattern, name string, h http.HandlerFunc)) {
	r := OIDCRealmPath
	protocol("GET "+r+oidcDiscoveryPath, "oidc_discovery", p.handleDiscovery)
	protocol("GET "+r+oidcJWKSPath, "oidc_jwks", p.handleJWKS)
	protocol("GET "+r+oidcAuthorizePath, "oidc_authorize", p.handleAuthorize)
	protocol("POST "+r+oidcAuthorizePath, "oidc_authorize", p.handleAuthorize)
	protocol("POST "+r+oidcTokenPath, "oidc_token", p.handleToken)
	protocol("GET "+r+oidcUserInfoPath, "oidc_userinfo", p.handleUserInfo)
	protocol("POST "+r+oidcUserInfoPath, "oidc_userinfo", p.handleUserInfo)
	protocol("GET "+r+oidcEndSessionPath, "oidc_endsession", p.handleEndSession)
	protocol("POST "+r+oidcEndSessionPath, "oidc_endsession", p.handleEndSession)
}

// issuer is the provider's issuer for r.
func (p *oidcProvider) issuer(r *http.Request) string { return p.s.baseURL(r) + OIDCRealmPath }

// OIDCIssuer returns the provider's issuer, the simulator's BaseURL plus
// OIDCRealmPath (empty when BaseURL is not configured: the issuer then
// follows each request's Host).
func (s *Simulator) OIDCIssuer() string {
	if s.base == "" {
		return ""
	}
	return s.base + OIDCRealmPath
}

// handleDiscovery serves the discovery document.
func (p *oidcProvider) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	iss := p.issuer(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                           iss,
		"authorization_endpoint":                           iss + oidcAuthorizePath,
		"token_endpoint":                                   iss + oidcTokenPath,
		"userinfo_endpoint":                                iss + oidcUserInfoPath,
		"jwks_uri":                                         iss + oidcJWKSPath,
		"end_session_endpoint":                             iss + oidcEndSessionPath,
		"response_types_supported":                         []string{"code"},
		"response_modes_supported":                         []string{"query"},
		"grant_types_supported":                            []string{"authorization_code", "refresh_token"},
		"subject_types_supported":                          []string{"public"},
		"id_token_signing_alg_values_supported":            p.keys.algorithms(),
		"token_endpoint_auth_methods_supported":            []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": assertionAlgNames(),
		"userinfo_signing_alg_values_supported":            []string{},
		"scopes_supported":                                 knownScopeNames(),
		"claims_supported": []string{
			"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "sid",
			"uid", "name", "given_name", "family_name", "selected_roleid", "id_assurance_level",
			"authentication_assurance_level", "nhsid_useruid", "title", "display_name", "nhsid_nrbac_roles", "nhsid_user_orgs",
		},
		"acr_values_supported":                           []string{"AAL3_ANY", "AAL2_OR_AAL3_ANY", "AAL2_ANY"},
		"code_challenge_methods_supported":               []string{"S256"},
		"prompt_values_supported":                        []string{"none", "login"},
		"claims_parameter_supported":                     false,
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"authorization_response_iss_parameter_supported": true,
	})
}

// handleJWKS serves the public keys: the signing key and the previous ones.
func (p *oidcProvider) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	set, err := p.keys.jwks()
	if err != nil {
		p.s.log.Error("OIDC signing key", "err", err.Error())
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
		return
	}
	writeJSON(w, http.StatusOK, set)
}

// RegisterOIDCClient adds a relying party (or more redirect URIs to one
// with the same id and credentials) while the simulator runs.
func (s *Simulator) RegisterOIDCClient(c OIDCClient) error { return s.oidc.clients.add(c) }

// RotateOIDCKey makes key (a fresh RSA-2048 key if nil) the signing key and
// keeps the current one in the JWKS as a previous key; relying parties
// pick the new key up from the JWKS by its kid, without a restart. It
// returns the new key.
func (s *Simulator) RotateOIDCKey(key crypto.Signer) (crypto.Signer, error) {
	return s.oidc.keys.rotate(key)
}

// OIDCSigningKeys returns the signing key and the previous keys published
// beside it (cis-sim saves them in its state directory).
func (s *Simulator) OIDCSigningKeys() (current crypto.Signer, previous []crypto.Signer, err error) {
	return s.oidc.keys.signers()
}

// checkAgentURL accepts an http(s) base URL with a host and nothing else.
func checkAgentURL(s string) error {
	if err := checkOIDCURL(s); err != nil {
		return fmt.Errorf("cissim: agent URL: %w", err)
	}
	return nil
}
