package cis

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// OpenSSO's naming service tells a client where the other OpenSSO services
// are. A client POSTs GetNamingProfile to <ssb>/amserver/namingservice and
// reads the session service's URL from the attribute
// iplanet-am-naming-session-url of the answer; that is where session
// listeners are registered (AddSessionListenerRequest). NamingClient does
// the exchange and caches the result; these are its request and parser.

// Limits and names of the naming exchange.
const (
	// MaxNamingResponseSize bounds the naming service's answer. A real
	// naming table holds a few dozen attributes and a server list.
	MaxNamingResponseSize = 256 << 10
	// MaxNamingAttributes bounds the attributes of one naming profile.
	MaxNamingAttributes = 1024
	// NamingSessionURLAttribute names the session service's URL in a
	// naming profile.
	NamingSessionURLAttribute = "iplanet-am-naming-session-url"
	// namingServiceID is the svcid of naming service envelopes.
	namingServiceID = "com.iplanet.am.naming"
	// maxNamedURLLen bounds a URL read from a naming profile, before and
	// after its placeholders are replaced.
	maxNamedURLLen = 2048
)

const namingWhat = "naming service answer"

// NamingAttribute is one attribute of a naming profile.
type NamingAttribute struct {
	Name, Value string
}

// NamingProfile is the naming service's answer to GetNamingProfile: its
// table of service URLs and settings, in document order, each name once.
type NamingProfile struct {
	Attributes []NamingAttribute
}

// Get returns the value of the attribute called name.
func (p *NamingProfile) Get(name string) (string, bool) {
	for _, a := range p.Attributes {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

// NamingProfileRequest returns the body to POST (Content-Type
// text/xml;charset=UTF-8) to the naming service, as OpenSSO clients send
// it:
//
//	<RequestSet vers="1.0" svcid="com.iplanet.am.naming" reqid="1"><Request><![CDATA[
//	<NamingRequest vers="3.0" reqid="0"><GetNamingProfile></GetNamingProfile></NamingRequest>
//	]]></Request></RequestSet>
//
// It names no session (no sessid), so it carries no ticket; the answer's
// URLs may then hold the placeholders %protocol, %host, %port and %uri,
// which SessionServiceURL fills in.
func NamingProfileRequest() []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
		`<RequestSet vers="1.0" svcid="` + namingServiceID + `" reqid="1"><Request><![CDATA[<NamingRequest vers="3.0" reqid="0">` + "\n" +
		"<GetNamingProfile>\n</GetNamingProfile>\n</NamingRequest>]]></Request></RequestSet>")
}

// ParseNamingProfileResponse reads the naming service's answer to
// NamingProfileRequest: a ResponseSet (svcid "com.iplanet.am.naming")
// holding one Response whose text is a NamingResponse (vers and reqid
// required) with one GetNamingProfile, which holds Attribute elements
// (name and value required, no content) or one Exception.
//
// The parse is as strict as ParseNotificationSet's: an answer larger than
// MaxNamingResponseSize or with more than MaxNamingAttributes attributes,
// namespaces, a DOCTYPE, a second root element, an element the format does
// not have, a repeated attribute name, or text where none belongs is a
// *ParseError wrapping ErrMalformed (ErrTooLarge for size). An Exception
// is an error wrapping ErrUnavailable (its text is not kept). The cost is
// linear in the size of body.
func ParseNamingProfileResponse(body []byte) (*NamingProfile, error) {
	if len(body) > MaxNamingResponseSize {
		return nil, &ParseError{What: namingWhat, Offset: -1,
			Msg: fmt.Sprintf("answer is %d bytes, limit %d", len(body), MaxNamingResponseSize), Err: ErrTooLarge}
	}
	r := newPLLReader(body, namingWhat)
	if err := r.root("ResponseSet"); err != nil {
		return nil, err
	}
	v, err := r.attrValues("vers", "svcid", "reqid")
	if err != nil {
		return nil, err
	}
	if v[1] != namingServiceID {
		return nil, r.errorf("svcid is not %s: not an answer of the naming service", namingServiceID)
	}
	inner, err := r.singleResponse()
	if err != nil {
		return nil, err
	}
	return parseNamingResponse(inner)
}

// parseNamingResponse reads the NamingResponse inside the ResponseSet.
func parseNamingResponse(data []byte) (*NamingProfile, error) {
	r := newPLLReader(data, namingWhat+" NamingResponse")
	if err := r.root("NamingResponse"); err != nil {
		return nil, err
	}
	if _, err := r.attrValues("vers", "reqid"); err != nil {
		return nil, err
	}
	p := &NamingProfile{}
	seen, exception := false, false
	names := make(map[string]struct{})
	err := r.children(func() error {
		if !r.is("GetNamingProfile") {
			return r.errorf("unexpected element <%s> in <NamingResponse>", r.tag())
		}
		if err := r.once(&seen); err != nil {
			return err
		}
		return r.children(func() error {
			switch {
			case r.is("Attribute") && !exception:
				if len(p.Attributes) == MaxNamingAttributes {
					return r.errorf("more than %d attributes", MaxNamingAttributes)
				}
				v, err := r.attrValues("name", "value")
				if err != nil {
					return err
				}
				if _, dup := names[v[0]]; dup {
					return r.errorf("attribute %.64q named twice", v[0])
				}
				names[v[0]] = struct{}{}
				p.Attributes = append(p.Attributes, NamingAttribute{Name: v[0], Value: v[1]})
				return r.empty()
			case r.is("Exception") && !exception && len(p.Attributes) == 0:
				exception = true
				_, err := r.textContent()
				return err
			}
			return r.errorf("unexpected element <%s> in <GetNamingProfile>", r.tag())
		})
	})
	if err != nil {
		return nil, err
	}
	if !seen {
		return nil, r.errorf("no GetNamingProfile")
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	if exception {
		return nil, fmt.Errorf("cis: the naming service answered with an exception: %w", ErrUnavailable)
	}
	return p, nil
}

// SessionServiceURL returns the session service's URL named by the
// profile's iplanet-am-naming-session-url attribute. OpenSSO writes it as
// a template, "%protocol://%host:%port%uri/sessionservice", when the
// request named no session; the placeholders are filled in from namingURL,
// the naming service's own URL, as OpenSSO's clients do: its scheme, host,
// port (443 or 80 when it gives none) and path without its last element
// ("/amserver" for ".../amserver/namingservice").
//
// The result is where tickets will be sent, so it must be an absolute
// https URL with a host and no user information, query or fragment, at
// most 2048 bytes; plain http only to a loopback host, as for an
// environment's own URLs. Anything else is an error wrapping ErrMalformed
// that does not quote the value.
func (p *NamingProfile) SessionServiceURL(namingURL string) (string, error) {
	v, ok := p.Get(NamingSessionURLAttribute)
	if !ok {
		return "", fmt.Errorf("cis: naming profile has no %s: %w", NamingSessionURLAttribute, ErrMalformed)
	}
	if len(v) > maxNamedURLLen {
		return "", fmt.Errorf("cis: naming profile's %s is longer than %d bytes: %w", NamingSessionURLAttribute, maxNamedURLLen, ErrMalformed)
	}
	if strings.Contains(v, "%") {
		n, err := url.Parse(namingURL)
		if err != nil || n.Host == "" {
			return "", errors.New("cis: naming service URL does not parse")
		}
		port := n.Port()
		if port == "" {
			port = "443"
			if n.Scheme == "http" {
				port = "80"
			}
		}
		uri := n.Path
		if i := strings.LastIndexByte(uri, '/'); i >= 0 {
			uri = uri[:i]
		}
		host := n.Hostname()
		if strings.Contains(host, ":") {
			host = "[" + host + "]" // an IPv6 literal, as a URL writes it
		}
		v = strings.NewReplacer("%protocol", n.Scheme, "%host", host, "%port", port, "%uri", uri).Replace(v)
	}
	if len(v) > maxNamedURLLen || strings.ContainsAny(v, "% \t\r\n") {
		return "", fmt.Errorf("cis: naming profile's %s is not a usable URL: %w", NamingSessionURLAttribute, ErrMalformed)
	}
	if err := checkBaseURL(v); err != nil {
		// Not err: it quotes the value.
		return "", fmt.Errorf("cis: naming profile's %s is not an https URL (or http to a loopback host) without query, fragment or user information: %w",
			NamingSessionURLAttribute, ErrMalformed)
	}
	return v, nil
}
