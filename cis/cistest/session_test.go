package cistest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/cis/cistest"
)

// A role switch through GAS under the same ticket shows in the SSB's next
// RoleAssertion; a GAS logout kills the ticket.
func TestLoginSessionSelectRoleGASLogout(t *testing.T) {
	users := cissim.DemoUsers()[2:3] // Patel Chandra Ms: admin and clinical roles
	srv := cistest.NewServer(t, users...)
	ctx := context.Background()
	ssb, err := cis.NewSSBClient(cis.SSBConfig{Env: srv.Env()})
	if err != nil {
		t.Fatal(err)
	}
	admin, clinical := users[0].Roles[0].ID, users[0].Roles[1].ID

	sess := srv.MustLoginSession(t, users[0].UID, admin)
	if sess.UID != users[0].UID || len(sess.Roles) != 2 || sess.Ticket.IsZero() {
		t.Fatalf("session %v", sess)
	}
	a, err := ssb.Validate(ctx, sess.Ticket)
	if err != nil || a.SelectedRoleID != admin {
		t.Fatalf("Validate = %v, %v; want role %s", a, err, admin)
	}

	if err := srv.SelectRole(ctx, sess, clinical); err != nil {
		t.Fatal(err)
	}
	if a, err = ssb.Validate(ctx, sess.Ticket); err != nil || a.SelectedRoleID != clinical {
		t.Fatalf("after SelectRole: Validate = %v, %v; want role %s", a, err, clinical)
	}
	if err := srv.SelectRole(ctx, sess, "555000000101"); !errors.Is(err, cis.ErrUnknownRole) {
		t.Fatalf("SelectRole(another user's role) = %v, want ErrUnknownRole", err)
	}

	if err := srv.GASLogout(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := ssb.Validate(ctx, sess.Ticket); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Fatalf("after GASLogout: Validate = %v, want ErrSessionInvalid", err)
	}
}
