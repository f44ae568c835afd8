package cis2

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// idClaims are the ID token claims this package checks or returns.
type idClaims struct {
	Subject        string       `json:"sub"`
	AZP            string       `json:"azp"`
	Nonce          string       `json:"nonce"`
	IssuedAt       *json.Number `json:"iat"`
	AuthTime       *json.Number `json:"auth_time"`
	ACR            string       `json:"acr"`
	AMR            []string     `json:"amr"`
	SelectedRoleID string       `json:"selected_roleid"`
	SID            string       `json:"sid"`
	UID            string       `json:"uid"`

	auth time.Time
}

func (c *idClaims) authTime() time.Time { return c.auth }

// checkIDToken verifies raw and its claims. go-oidc checks the signature
// (a key from the provider's JWKS, an algorithm the discovery lists and
// this package accepts: never none or HMAC), the issuer, that the client
// is an audience, and exp (with the clock skew). On top of that: a
// non-empty sub (and uid, if sent, equal to it); azp, if present, is this
// client, and required when there are several audiences; iat not in the
// future; nonce equal to want (unless want is empty: a refreshed token
// carries none); auth_time not in the future and, with MaxAge, no older;
// at_hash, if present, matching the access token.
func (rp *RelyingParty) checkIDToken(ctx context.Context, raw, accessToken, wantNonce string) (*idClaims, error) {
	tok, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		var expired *oidc.TokenExpiredError
		if errors.As(err, &expired) {
			return nil, refused(ErrIDToken, "expired at %s (allowed skew %s)", expired.Expiry.UTC().Format(time.RFC3339), rp.skew)
		}
		return nil, refused(ErrIDToken, "%s", shown(err.Error()))
	}
	var c idClaims
	if err := tok.Claims(&c); err != nil {
		return nil, refused(ErrIDToken, "claims of the wrong type")
	}
	now := rp.now()
	switch {
	case c.Subject == "":
		return nil, refused(ErrIDToken, "no sub")
	case c.UID != "" && c.UID != c.Subject:
		return nil, refused(ErrIDToken, "uid %q differs from sub %q", shown(c.UID), shown(c.Subject))
	case c.AZP != "" && c.AZP != rp.oauth.ClientID:
		return nil, refused(ErrIDToken, "azp %q is not this client", shown(c.AZP))
	case len(tok.Audience) > 1 && c.AZP == "":
		return nil, refused(ErrIDToken, "%d audiences and no azp", len(tok.Audience))
	case c.IssuedAt == nil:
		return nil, refused(ErrIDToken, "no iat")
	}
	iat, ok := numericDate(c.IssuedAt)
	if !ok || iat.After(now.Add(rp.skew)) {
		return nil, refused(ErrIDToken, "iat in the future or not a date")
	}
	if wantNonce != "" && subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(wantNonce)) != 1 {
		return nil, refused(ErrIDToken, "nonce is not this login's")
	}
	if c.AuthTime != nil {
		if c.auth, ok = numericDate(c.AuthTime); !ok || c.auth.After(now.Add(rp.skew)) {
			return nil, refused(ErrIDToken, "auth_time in the future or not a date")
		}
	}
	if rp.maxAge > 0 {
		if c.AuthTime == nil {
			return nil, refused(ErrIDToken, "max_age asked for and no auth_time")
		}
		if now.Sub(c.auth) > rp.maxAge+rp.skew {
			return nil, refused(ErrIDToken, "authenticated %s ago, max_age %s", now.Sub(c.auth).Round(time.Second), rp.maxAge)
		}
	}
	if tok.AccessTokenHash != "" && accessToken != "" {
		if err := tok.VerifyAccessToken(accessToken); err != nil {
			return nil, refused(ErrIDToken, "at_hash does not match the access token")
		}
	}
	return &c, nil
}

// numericDate reads a JWT NumericDate (seconds, possibly fractional).
func numericDate(n *json.Number) (time.Time, bool) {
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// checkAssurance checks acr against the requested acr_values and amr
// against the accepted methods. A requested value ending in _ANY admits
// any acr of the levels it names (AAL3_ANY: AAL3_*; AAL2_OR_AAL3_ANY: AAL2_*
// and AAL3_*); any other value admits itself only. amrPolicy ["*"] admits
// any amr; otherwise amr must name one of amrPolicy.
func checkAssurance(acr string, amr, acrValues, amrPolicy []string) error {
	if len(acrValues) > 0 && !acrAdmitted(acr, acrValues) {
		return refused(ErrAssurance, "acr %q does not meet %s", shown(acr), strings.Join(acrValues, " "))
	}
	if len(amrPolicy) == 1 && amrPolicy[0] == "*" {
		return nil
	}
	for _, m := range amr {
		for _, want := range amrPolicy {
			if m == want {
				return nil
			}
		}
	}
	return refused(ErrAssurance, "amr %s names none of %s", shown("["+strings.Join(amr, " ")+"]"), strings.Join(amrPolicy, " "))
}

func acrAdmitted(acr string, values []string) bool {
	if acr == "" {
		return false
	}
	for _, v := range values {
		if acr == v {
			return true
		}
		levels, ok := strings.CutSuffix(v, "_ANY")
		if !ok {
			continue
		}
		for _, level := range strings.Split(levels, "_OR_") {
			if strings.HasPrefix(acr, level+"_") {
				return true
			}
		}
	}
	return false
}
