package cis2

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/opencis/cisauth/cis"
)

// discovery is the part of the provider's discovery document this package
// uses (OpenID Connect Discovery 1.0, RFC 8414, RFC 9207).
type discovery struct {
	Issuer                string   `json:"issuer"`
	AuthURL               string   `json:"authorization_endpoint"`
	TokenURL              string   `json:"token_endpoint"`
	UserInfoURL           string   `json:"userinfo_endpoint"`
	JWKSURL               string   `json:"jwks_uri"`
	EndSessionURL         string   `json:"end_session_endpoint"`
	ResponseTypes         []string `json:"response_types_supported"`
	IDTokenAlgs           []string `json:"id_token_signing_alg_values_supported"`
	TokenAuthMethods      []string `json:"token_endpoint_auth_methods_supported"`
	TokenAuthSigningAlgs  []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
	IssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`

	algs []string // IDTokenAlgs this package accepts
}

// idTokenAlgs are the ID token signature algorithms accepted when the
// provider lists them: asymmetric ones only, never "none" or an HMAC (which
// a forger would key with the provider's public key).
var idTokenAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

const discoveryOp = "CIS2 discovery"

// discover fetches and checks the discovery document.
func (rp *RelyingParty) discover(ctx context.Context) (*discovery, error) {
	issuer := rp.settings.Issuer
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	body, err := rp.get(ctx, discoveryOp, u, "")
	if err != nil {
		return nil, err
	}
	d := &discovery{}
	if err := json.Unmarshal(body, d); err != nil {
		return nil, fmt.Errorf("cis2: %s: %w", discoveryOp, &cis.ParseError{What: "discovery document", Offset: -1, Msg: "not a JSON object of the expected shape"})
	}
	if d.Issuer != issuer {
		return nil, fmt.Errorf("cis2: %s: issuer %q, want exactly %q: %w", discoveryOp, shown(d.Issuer), issuer, ErrIssuerMismatch)
	}
	for what, ep := range map[string]string{
		"authorization_endpoint": d.AuthURL, "token_endpoint": d.TokenURL,
		"userinfo_endpoint": d.UserInfoURL, "jwks_uri": d.JWKSURL,
	} {
		if err := checkEndpoint(ep); err != nil {
			return nil, fmt.Errorf("cis2: %s: %s: %w", discoveryOp, what, err)
		}
	}
	if d.EndSessionURL != "" {
		if err := checkEndpoint(d.EndSessionURL); err != nil {
			return nil, fmt.Errorf("cis2: %s: end_session_endpoint: %w", discoveryOp, err)
		}
	}
	if len(d.ResponseTypes) > 0 && !slices.Contains(d.ResponseTypes, "code") {
		return nil, fmt.Errorf("cis2: %s: provider does not offer response_type code", discoveryOp)
	}
	if len(d.CodeChallengeMethods) > 0 && !slices.Contains(d.CodeChallengeMethods, "S256") {
		return nil, fmt.Errorf("cis2: %s: provider does not offer PKCE S256", discoveryOp)
	}
	for _, a := range d.IDTokenAlgs {
		if slices.Contains(idTokenAlgs, a) && !slices.Contains(d.algs, a) {
			d.algs = append(d.algs, a)
		}
	}
	if len(d.algs) == 0 {
		return nil, fmt.Errorf("cis2: %s: provider lists no asymmetric ID token signing algorithm (%s): %w",
			discoveryOp, shown(strings.Join(d.IDTokenAlgs, " ")), ErrIDToken)
	}
	return d, nil
}

// checkClient reports whether the provider accepts the client
// authentication method (the default is client_secret_basic).
func (d *discovery) checkClient(method string) error {
	methods := d.TokenAuthMethods
	if len(methods) == 0 {
		methods = []string{"client_secret_basic"}
	}
	if !slices.Contains(methods, method) {
		return fmt.Errorf("cis2: provider does not accept %s (it lists %s)", method, shown(strings.Join(methods, " ")))
	}
	return nil
}

// checkEndpoint refuses an endpoint URL that is not https, or plain http to
// a host other than loopback.
func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return fmt.Errorf("missing: %w", cis.ErrMalformed)
	case err != nil || u.Host == "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("%q is not an absolute URL: %w", shown(s), cis.ErrMalformed)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && cis.IsLoopbackHost(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%q: want https (plain http only to a loopback host): %w", shown(s), cis.ErrMalformed)
}

// get fetches u (with a bearer token if given) and returns the body of a
// 200 answer, bounded by the size limit. Other answers are errors: 401 and
// 403 to a bearer token errUnauthorized, 5xx cis.ErrUnavailable, others
// cis.ErrMalformed.
// Errors never carry the token.
func (rp *RelyingParty) get(ctx context.Context, op, u string, bearer Secret) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("cis2: %s: %w", op, err)
	}
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer.Reveal())
	}
	resp, err := rp.client.Do(req)
	if err != nil {
		return nil, rp.transportError(ctx, op, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, rp.transportError(ctx, op, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
	case bearer != "" && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden):
		return nil, fmt.Errorf("cis2: %s: HTTP %d: %w", op, resp.StatusCode, errUnauthorized)
	case resp.StatusCode >= 500:
		return nil, fmt.Errorf("cis2: %s: HTTP %d: %w", op, resp.StatusCode, cis.ErrUnavailable)
	default:
		return nil, fmt.Errorf("cis2: %s: HTTP %d: %w", op, resp.StatusCode, cis.ErrMalformed)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return nil, fmt.Errorf("cis2: %s: content type %q, want application/json: %w", op, shown(ct), cis.ErrMalformed)
	}
	return body, nil
}

// errUnauthorized is a 401 or 403 from the provider: the token is no good.
var errUnauthorized = fmt.Errorf("provider refused the token: %w", cis.ErrSessionInvalid)
