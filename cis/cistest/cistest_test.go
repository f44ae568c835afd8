package cistest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/cis/cistest"
)

func TestServer(t *testing.T) {
	users := cissim.DemoUsers()[2:3] // Patel Chandra Ms, two roles
	srv := cistest.NewServer(t, users...)
	ctx := context.Background()
	ssb, err := cis.NewSSBClient(cis.SSBConfig{Env: srv.Env()})
	if err != nil {
		t.Fatal(err)
	}
	uid, role := users[0].UID, users[0].Roles[1].ID

	tk := srv.MustLogin(t, uid, role)
	a, err := ssb.Validate(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}
	if a.User.UID != uid || a.SelectedRoleID != role {
		t.Fatalf("assertion %+v", a)
	}
	if err := srv.ExpireSession(tk); err != nil {
		t.Fatal(err)
	}
	if _, err := ssb.Validate(ctx, tk); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Fatalf("expired: %v", err)
	}
	if err := srv.ExpireSession(tk); !errors.Is(err, cistest.ErrNoSession) {
		t.Fatalf("expire twice: %v", err)
	}

	// Empty role: the first one.
	tk = srv.MustLogin(t, uid, "")
	if a, err := ssb.Validate(ctx, tk); err != nil || a.SelectedRoleID != users[0].Roles[0].ID {
		t.Fatalf("default role: %v %+v", err, a)
	}
	if err := srv.Logout(tk); err != nil {
		t.Fatal(err)
	}
	if _, err := ssb.Validate(ctx, tk); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Fatalf("logged out: %v", err)
	}

	// Errors: unknown user, unknown role, maintenance.
	if _, err := srv.Login(ctx, "555000000001", ""); !errors.Is(err, cis.ErrValidationFailed) {
		t.Fatalf("unknown user: %v", err)
	}
	if _, err := srv.Login(ctx, uid, "555000000101"); !errors.Is(err, cis.ErrUnknownRole) {
		t.Fatalf("unknown role: %v", err)
	}
	srv.SetMaintenance(true)
	if _, err := srv.Login(ctx, uid, ""); !errors.Is(err, cis.ErrMaintenance) {
		t.Fatalf("maintenance: %v", err)
	}
	srv.SetMaintenance(false)
	if got := len(srv.Simulator().Sessions()); got != 1 { // the unknown-role login's session
		t.Fatalf("%d sessions left", got)
	}
}

// TestConcurrentLogins logs many users in and out at once (run with -race).
func TestConcurrentLogins(t *testing.T) {
	srv := cistest.NewServer(t)
	ctx := context.Background()
	ssb, err := cis.NewSSBClient(cis.SSBConfig{Env: srv.Env()})
	if err != nil {
		t.Fatal(err)
	}
	users := cissim.DemoUsers()
	errs := make(chan error, 24)
	for i := 0; i < cap(errs); i++ {
		go func() {
			u := users[i%len(users)]
			role := u.Roles[i%len(u.Roles)].ID
			tk, err := srv.Login(ctx, u.UID, role)
			if err == nil {
				var a *cis.Assertion
				if a, err = ssb.Validate(ctx, tk); err == nil && a.SelectedRoleID != role {
					err = errors.New("wrong role in assertion")
				}
			}
			if err == nil {
				err = srv.Logout(tk)
			}
			errs <- err
		}()
	}
	for i := 0; i < cap(errs); i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := len(srv.Simulator().Sessions()); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
}
