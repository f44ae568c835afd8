package samlidp

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/crewjam/saml"
)

// maxReturnTo bounds the return path handed to Config.Login. It carries
// the AuthnRequest, deflated; a real one is well under 4 KiB.
const maxReturnTo = 16 << 10

var (
	// errACSNotRegistered: the Response would go somewhere the service
	// provider's metadata does not list.
	errACSNotRegistered = errors.New("samlidp: assertion consumer service not in the service provider's metadata")
	// errNoRole: Config.Identity said yes but gave no uid or no role.
	errNoRole = errors.New("samlidp: Config.Identity returned ok without a uid or a selected role")
)

// sessionProvider is crewjam's SessionProvider for the bridge: the session
// is the CIS session Config.Identity reads; without one the person is sent
// to Config.Login and brought back to the same AuthnRequest.
type sessionProvider struct{ idp *IdP }

func (p sessionProvider) GetSession(w http.ResponseWriter, r *http.Request, req *saml.IdpAuthnRequest) *saml.Session {
	idp := p.idp
	if err := idp.checkACS(req); err != nil {
		idp.fail(w, r, http.StatusBadRequest, err)
		return nil
	}
	user, role, ok := idp.cfg.Identity(r)
	if !ok {
		if req.Request.IsPassive != nil && *req.Request.IsPassive {
			// The service provider asked that the person not be
			// prompted: answer at once that they cannot be signed in.
			if err := idp.saml.SendErrorResponse(w, req, &saml.StatusError{
				TopLevel: saml.StatusResponder, SecondLevel: saml.StatusNoPassive,
			}); err != nil {
				idp.fail(w, r, http.StatusInternalServerError, err)
			}
			return nil
		}
		returnTo, err := idp.returnTo(r, req)
		if err != nil {
			idp.fail(w, r, http.StatusBadRequest, err)
			return nil
		}
		idp.cfg.Login(w, r, returnTo)
		return nil
	}
	if user.UID == "" || role.ID == "" {
		idp.fail(w, r, http.StatusInternalServerError, errNoRole)
		return nil
	}
	now := req.Now
	return &saml.Session{
		CreateTime:           now,
		ExpireTime:           now.Add(idp.lifetime),
		NameID:               user.UID,
		NameIDFormat:         string(saml.UnspecifiedNameIDFormat),
		AuthnContextClassRef: authnContextSmartcardPKI,
		CustomAttributes:     attributes(user, role),
	}
}

// checkACS makes sure, whatever crewjam chose, that the Response goes to an
// assertion consumer service the service provider's metadata lists, and
// that a request naming both an index and a URL names the same endpoint.
// crewjam refuses an AssertionConsumerServiceURL that is not in the
// metadata; this is a second lock on the same door.
func (idp *IdP) checkACS(req *saml.IdpAuthnRequest) error {
	if req.ACSEndpoint == nil || req.ServiceProviderMetadata == nil {
		return errACSNotRegistered
	}
	sp := idp.sps[req.ServiceProviderMetadata.EntityID]
	if sp == nil || !slices.Contains(sp.acs, req.ACSEndpoint.Location) {
		return fmt.Errorf("%w: %q", errACSNotRegistered, req.ACSEndpoint.Location)
	}
	if u := req.Request.AssertionConsumerServiceURL; u != "" && u != req.ACSEndpoint.Location {
		return fmt.Errorf("%w: the request names %q and index %s (%q)", errACSNotRegistered,
			u, req.Request.AssertionConsumerServiceIndex, req.ACSEndpoint.Location)
	}
	return nil
}

// returnTo is where Config.Login brings the person back to: the SSO path
// with the same AuthnRequest and RelayState. A request that came with the
// HTTP-Redirect binding comes back as it came, byte for byte, so that a
// query-string signature still verifies. One that came with HTTP-POST comes
// back in HTTP-Redirect form (its XML deflated into the query): the XML is
// unchanged, so an enveloped signature in it still verifies, and the
// login needs no server-side state, so it works across a fleet. The path is
// always the bridge's own, never taken from the request: no open redirect.
func (idp *IdP) returnTo(r *http.Request, req *saml.IdpAuthnRequest) (string, error) {
	query := r.URL.RawQuery
	if r.Method == http.MethodPost {
		var buf bytes.Buffer
		fw, err := flate.NewWriter(&buf, flate.BestCompression)
		if err != nil {
			return "", err
		}
		if _, err := fw.Write(req.RequestBuffer); err != nil {
			return "", err
		}
		if err := fw.Close(); err != nil {
			return "", err
		}
		v := url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(buf.Bytes())}}
		if req.RelayState != "" {
			v.Set("RelayState", req.RelayState)
		}
		query = v.Encode()
	}
	s := idp.ssoURL.EscapedPath() + "?" + query
	if len(s) > maxReturnTo {
		return "", fmt.Errorf("samlidp: the AuthnRequest is too large to carry through the login (%d bytes, at most %d)", len(s), maxReturnTo)
	}
	return s, nil
}
