package middleware

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencis/cisauth/cis"
)

// The JSON a shared store (Redis) keeps. It is read back by every instance
// of the fleet, possibly a newer or older build: fields may be added, never
// renamed; unknown fields are ignored.

// wireVersion is the version of the record encoding.
const wireVersion = 1

// maxWire bounds a stored record or validation we decode (a user with
// forty roles is about 50 KB).
const maxWire = 1 << 20

// errWire means a stored record or validation does not decode or is not
// consistent; the session is treated as gone.
var errWire = errors.New("middleware: stored session does not decode")

type recordWire struct {
	V         int       `json:"v"`
	ID        string    `json:"id"`
	Source    string    `json:"source"`
	Ticket    string    `json:"ticket"` // written explicitly: cis.Ticket redacts itself in JSON
	User      cis.User  `json:"user"`
	RoleID    string    `json:"role_id"`
	Mode      cis.Mode  `json:"mode"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	Validated time.Time `json:"validated"`
	// CIS2 is a CIS2 session's grant (tokens and claims); absent for the
	// legacy SSB.
	CIS2 *grantWire `json:"cis2,omitempty"`
}

// encodeRecord encodes a record's identity (not its values).
func encodeRecord(rec *record) ([]byte, error) {
	return json.Marshal(recordWire{
		V: wireVersion, ID: rec.id, Source: rec.source, Ticket: rec.ticket.Reveal(), User: rec.user,
		RoleID: rec.roleID, Mode: rec.mode, Created: rec.created, Expires: rec.expires, Validated: rec.validated,
		CIS2: wireOfGrant(rec.grant),
	})
}

// decodeRecord decodes and checks a record stored under id.
func decodeRecord(id string, b []byte) (*record, error) {
	if len(b) > maxWire {
		return nil, fmt.Errorf("%w: %d bytes", errWire, len(b))
	}
	var w recordWire
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", errWire, err)
	}
	rec := &record{
		id: w.ID, source: w.Source, ticket: cis.Ticket(w.Ticket), user: w.User, roleID: w.RoleID,
		mode: w.Mode, created: w.Created, expires: w.Expires, validated: w.Validated,
	}
	switch {
	case w.V != wireVersion:
		return nil, fmt.Errorf("%w: version %d", errWire, w.V)
	case w.ID != id || !validSessionID(w.ID):
		return nil, fmt.Errorf("%w: id does not match its key", errWire)
	case w.Source == "":
		return nil, fmt.Errorf("%w: no source", errWire)
	case w.Source == SourceSSB && !validTicket(w.Ticket):
		return nil, fmt.Errorf("%w: ticket is not shaped like one", errWire)
	case (w.Source == SourceCIS2) != (w.CIS2 != nil) || (w.Source == SourceCIS2 && w.Ticket != ""):
		return nil, fmt.Errorf("%w: a CIS2 grant goes with a CIS2 session, without a ticket", errWire)
	case w.Mode != cis.ModeLive && w.Mode != cis.ModeTraining:
		return nil, fmt.Errorf("%w: mode %d", errWire, w.Mode)
	case w.Created.IsZero() || !w.Expires.After(w.Created) || w.Validated.IsZero():
		return nil, fmt.Errorf("%w: times", errWire)
	}
	if w.Source != SourceCIS2 || w.RoleID != "" {
		if err := checkIdentity(&w.User, w.RoleID); err != nil {
			return nil, err
		}
	} else if w.User.UID == "" {
		return nil, fmt.Errorf("%w: no user id", errWire)
	}
	if !rec.ticket.IsZero() {
		rec.th = hashTicket(rec.ticket)
	}
	if w.CIS2 != nil {
		g, err := w.CIS2.grant(w.User.UID)
		if err != nil {
			return nil, err
		}
		rec.grant, rec.th = g, g.index()
	}
	return rec, nil
}

func validTicket(s string) bool {
	_, err := cis.ParseTicket(s)
	return err == nil
}

// checkIdentity checks a stored user: an id, and the selected role among
// the roles.
func checkIdentity(u *cis.User, roleID string) error {
	if u.UID == "" {
		return fmt.Errorf("%w: no user id", errWire)
	}
	if u.Role(roleID) == nil {
		return fmt.Errorf("%w: selected role not among the user's roles", errWire)
	}
	return nil
}

type validatedWire struct {
	V         int           `json:"v"`
	Fetched   time.Time     `json:"fetched"`
	Assertion cis.Assertion `json:"assertion"`
}

func encodeValidated(v *validated) ([]byte, error) {
	return json.Marshal(validatedWire{V: wireVersion, Fetched: v.fetched, Assertion: *v.a})
}

func decodeValidated(b []byte) (*validated, error) {
	if len(b) > maxWire {
		return nil, fmt.Errorf("%w: %d bytes", errWire, len(b))
	}
	var w validatedWire
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", errWire, err)
	}
	if w.V != wireVersion || w.Fetched.IsZero() {
		return nil, fmt.Errorf("%w: validation version or time", errWire)
	}
	if err := checkIdentity(&w.Assertion.User, w.Assertion.SelectedRoleID); err != nil {
		return nil, err
	}
	return &validated{a: &w.Assertion, fetched: w.Fetched}, nil
}
