package samlidp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/internal/pemfile"
)

// ErrBadMetadata is matched (errors.Is) by every error that refuses a
// service provider's metadata.
var ErrBadMetadata = errors.New("samlidp: bad service provider metadata")

// maxEntityIDLen is the longest entityID SAML allows (saml-metadata §2.2.1).
const maxEntityIDLen = 1024

const samlProtocol = "urn:oasis:names:tc:SAML:2.0:protocol"

// ServiceProvider is a SAML service provider registered with the bridge,
// made from its metadata by ParseServiceProvider or LoadServiceProvider,
// which check it. It is immutable and safe for concurrent use.
type ServiceProvider struct {
	metadata   *saml.EntityDescriptor
	acs        []string  // locations of the ACS endpoints a Response can be posted to
	encrypted  bool      // the metadata offers an encryption key
	validUntil time.Time // zero: no validUntil
}

// EntityID returns the service provider's entity ID, the Issuer of its
// AuthnRequests and the Audience of the assertions it gets.
func (sp *ServiceProvider) EntityID() string { return sp.metadata.EntityID }

// Encrypted reports whether the service provider's metadata offers an
// encryption key, and so whether its assertions are encrypted.
func (sp *ServiceProvider) Encrypted() bool { return sp.encrypted }

// ACSURLs returns the locations of the service provider's assertion
// consumer services (HTTP-POST and HTTP-POST-SimpleSign), the only places a
// Response is ever posted to.
func (sp *ServiceProvider) ACSURLs() []string { return slices.Clone(sp.acs) }

// checkCurrent refuses metadata whose validUntil has passed.
func (sp *ServiceProvider) checkCurrent(now time.Time) error {
	if !sp.validUntil.IsZero() && !now.Before(sp.validUntil) {
		return fmt.Errorf("%w: %q: the metadata expired at %s (validUntil)", ErrBadMetadata, sp.EntityID(), sp.validUntil.UTC().Format(time.RFC3339))
	}
	return nil
}

// LoadServiceProvider reads a metadata file and parses it with
// ParseServiceProvider. Errors start with the file name.
func LoadServiceProvider(path string) (*ServiceProvider, error) {
	b, err := pemfile.ReadFile(path) // any file, at most pemfile.MaxSize
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadMetadata, err)
	}
	sp, err := ParseServiceProvider(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sp, nil
}

// ParseServiceProvider parses the SAML 2.0 metadata of one service provider:
// a single md:EntityDescriptor of at most MaxMetadataSize bytes, parsed
// strictly (see the package documentation for what is refused). The
// metadata is not expected to be signed: whoever configures the bridge
// vouches for the file.
func ParseServiceProvider(b []byte) (*ServiceProvider, error) {
	if len(b) > MaxMetadataSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadMetadata, MaxMetadataSize)
	}
	if err := checkMetadataShape(b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadMetadata, err)
	}
	md, err := samlsp.ParseMetadata(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadMetadata, err)
	}
	sp, err := checkServiceProvider(md)
	if err != nil {
		if md.EntityID != "" && len(md.EntityID) <= maxEntityIDLen {
			return nil, fmt.Errorf("%w: %q: %w", ErrBadMetadata, md.EntityID, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrBadMetadata, err)
	}
	return sp, nil
}

// checkServiceProvider checks what the bridge relies on in parsed metadata.
func checkServiceProvider(md *saml.EntityDescriptor) (*ServiceProvider, error) {
	if err := checkEntityID(md.EntityID); err != nil {
		return nil, err
	}
	if n := len(md.SPSSODescriptors); n != 1 {
		return nil, fmt.Errorf("%d SPSSODescriptor elements, want exactly one", n)
	}
	spd := &md.SPSSODescriptors[0]
	if !slices.Contains(strings.Fields(spd.ProtocolSupportEnumeration), samlProtocol) {
		return nil, fmt.Errorf("the SPSSODescriptor does not list SAML 2.0 (%s) in protocolSupportEnumeration", samlProtocol)
	}
	sp := &ServiceProvider{metadata: md, validUntil: md.ValidUntil}
	if spd.ValidUntil != nil && (sp.validUntil.IsZero() || spd.ValidUntil.Before(sp.validUntil)) {
		sp.validUntil = *spd.ValidUntil
	}

	indexes := map[int]bool{}
	post := false
	for _, ep := range spd.AssertionConsumerServices {
		if indexes[ep.Index] {
			return nil, fmt.Errorf("two AssertionConsumerService elements have index %d", ep.Index)
		}
		indexes[ep.Index] = true
		if ep.Binding != saml.HTTPPostBinding && ep.Binding != saml.HTTPPostSimpleSignBinding {
			continue // never sent to (HTTP-Artifact, PAOS, ...)
		}
		if err := checkACSLocation(ep.Location); err != nil {
			return nil, fmt.Errorf("AssertionConsumerService %d: %w", ep.Index, err)
		}
		post = post || ep.Binding == saml.HTTPPostBinding
		sp.acs = append(sp.acs, ep.Location)
	}
	if !post {
		return nil, errors.New("no AssertionConsumerService with the HTTP-POST binding")
	}

	signing := false
	for i, kd := range spd.KeyDescriptors {
		if kd.Use != "" && kd.Use != "signing" && kd.Use != "encryption" {
			return nil, fmt.Errorf("KeyDescriptor %d: use %q, want signing, encryption or none", i+1, kd.Use)
		}
		for _, c := range kd.KeyInfo.X509Data.X509Certificates {
			cert, err := parseMetadataCertificate(c.Data)
			if err != nil {
				return nil, fmt.Errorf("KeyDescriptor %d: %w", i+1, err)
			}
			if kd.Use != "encryption" {
				if err := checkVerifyingKey(cert.PublicKey); err != nil {
					return nil, fmt.Errorf("KeyDescriptor %d: %w", i+1, err)
				}
				signing = true
			}
			if kd.Use != "signing" {
				if err := checkRSAKey(cert.PublicKey); err != nil {
					return nil, fmt.Errorf("KeyDescriptor %d (encryption): %w", i+1, err)
				}
				if err := checkEncryptionMethods(kd.EncryptionMethods); err != nil {
					return nil, fmt.Errorf("KeyDescriptor %d: %w", i+1, err)
				}
				sp.encrypted = true
			}
		}
	}
	if spd.AuthnRequestsSigned != nil && *spd.AuthnRequestsSigned && !signing {
		return nil, errors.New(`AuthnRequestsSigned="true" but no signing key`)
	}
	return sp, nil
}

func checkEntityID(id string) error {
	switch {
	case id == "":
		return errors.New("no entityID")
	case len(id) > maxEntityIDLen:
		return fmt.Errorf("entityID longer than %d characters", maxEntityIDLen)
	case strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return fmt.Errorf("entityID %q contains white space or control characters", id)
	}
	return nil
}

// checkACSLocation accepts an absolute https URL, or http to a loopback
// host (development), with no user info and no fragment.
func checkACSLocation(loc string) error {
	u, err := url.Parse(loc)
	if err != nil {
		return fmt.Errorf("location: %w", err)
	}
	switch {
	case u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "":
		return fmt.Errorf("location %q is not an absolute URL without user info or fragment", loc)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && cis.IsLoopbackHost(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("location %q: plain http only to a loopback host; use https", loc)
	}
	return fmt.Errorf("location %q: scheme %q, want https", loc, u.Scheme)
}

func parseMetadataCertificate(data string) (*x509.Certificate, error) {
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(data), ""))
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	return cert, nil
}

// checkVerifyingKey accepts the keys a service provider may sign its
// requests with: RSA of at least MinRSABits, ECDSA on P-256 or larger.
func checkVerifyingKey(pub crypto.PublicKey) error {
	if k, ok := pub.(*ecdsa.PublicKey); ok {
		if k.Curve.Params().BitSize < 256 {
			return fmt.Errorf("%w: ECDSA key on %s", ErrWeakKey, k.Curve.Params().Name)
		}
		return nil
	}
	if err := checkRSAKey(pub); err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	return nil
}
