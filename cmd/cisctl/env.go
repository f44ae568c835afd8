package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/opencis/cisauth/cis"
)

type envJSON struct {
	Name         string          `json:"name"`
	Endpoints    cis.Endpoints   `json:"endpoints"`
	TrustAnchors []anchorJSON    `json:"trust_anchors"`
	Slots        []string        `json:"maintenance_slots"`
	Maintenance  maintenanceJSON `json:"maintenance"`
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
	out := envJSON{Name: env.Name, Endpoints: env.Endpoints(), TrustAnchors: []anchorJSON{}, Slots: []string{}}
	for _, c := range env.Roots {
		out.TrustAnchors = append(out.TrustAnchors, anchorJSON{Subject: c.Subject.String(), NotAfter: rfc3339(c.NotAfter)})
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
