package main

import (
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cis2"
)

type envJSON struct {
	Name         string          `json:"name"`
	Endpoints    *cis.Endpoints  `json:"endpoints,omitempty"` // none for a CIS2-only environment
	TrustAnchors []anchorJSON    `json:"trust_anchors"`
	Slots        []string        `json:"maintenance_slots"`
	Maintenance  maintenanceJSON `json:"maintenance"`
	OIDC         *oidcJSON       `json:"oidc,omitempty"`
}

// oidcJSON is an environment's CIS2 block with the defaults filled in.
type oidcJSON struct {
	Issuer                string       `json:"issuer"`
	ClientID              string       `json:"client_id"`
	ClientAuth            string       `json:"client_auth"` // client_secret_basic, private_key_jwt or "" (none configured)
	RedirectURL           string       `json:"redirect_url"`
	PostLogoutRedirectURL string       `json:"post_logout_redirect_url"`
	Scopes                []string     `json:"scopes"`
	ACRValues             []string     `json:"acr_values"`
	AMR                   []string     `json:"amr"`
	TrustAnchors          []anchorJSON `json:"trust_anchors"` // empty: the system roots
}

type anchorJSON struct {
	Subject  string `json:"subject"`
	NotAfter string `json:"not_after"`
}

type maintenanceJSON struct {
	At     string `json:"at"`
	InSlot bool   `json:"in_slot"`
	Slot   string `json:"slot"`
	Ends   string `json:"ends"`
}

// cmdEnv prints an environment and whether it is in maintenance at an instant.
func cmdEnv(args []string, _ io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("env", flag.ContinueOnError)
	atText := fs.String("at", "", "instant to check the maintenance slots at (RFC 3339; default now)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	name, err := oneOptional(pos, "NAME|FILE")
	if err != nil {
		return err
	}
	if name == "" {
		name = "dev"
	}
	at := time.Now()
	if *atText != "" {
		if at, err = time.Parse(time.RFC3339, *atText); err != nil {
			return fmt.Errorf("%w: --at: %v", errUsage, err)
		}
	}
	env, err := cis.ResolveEnvironment(name)
	if err != nil {
		return err
	}
	out := envJSON{Name: env.Name, TrustAnchors: anchors(env.Roots), Slots: []string{}}
	if env.GASURL != "" || env.SSBURL != "" {
		ep := env.Endpoints()
		out.Endpoints = &ep
	}
	if o := env.OIDC; o.Enabled() {
		out.OIDC = &oidcJSON{
			Issuer: o.Issuer, ClientID: o.ClientID, RedirectURL: o.RedirectURL, PostLogoutRedirectURL: o.PostLogoutRedirectURL,
			Scopes: orDefault(o.Scopes, cis2.DefaultScopes()), ACRValues: orDefault(o.ACRValues, cis2.DefaultACRValues()),
			AMR: orDefault(o.AMR, cis2.SmartcardAMR()), TrustAnchors: anchors(o.Roots),
		}
		switch {
		case o.ClientSecretFile != "":
			out.OIDC.ClientAuth = "client_secret_basic"
		case o.KeyFile != "":
			out.OIDC.ClientAuth = "private_key_jwt"
		}
	}
	for _, s := range env.Maintenance {
		out.Slots = append(out.Slots, s.Label()+" (Europe/London)")
	}
	out.Maintenance.At = rfc3339(at)
	if slot, ends, in := env.MaintenanceAt(at); in {
		out.Maintenance = maintenanceJSON{At: rfc3339(at), InSlot: true, Slot: slot.Label(), Ends: rfc3339(ends)}
	}
	return printJSON(stdout, out)
}

func anchors(roots []*x509.Certificate) []anchorJSON {
	out := []anchorJSON{}
	for _, c := range roots {
		out = append(out, anchorJSON{Subject: c.Subject.String(), NotAfter: rfc3339(c.NotAfter)})
	}
	return out
}

func orDefault(v, def []string) []string {
	if len(v) == 0 {
		return def
	}
	return v
}
