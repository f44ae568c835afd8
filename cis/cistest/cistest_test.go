package cistest_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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

// TestServerWithConfig: a card CA of the caller's own is trusted next to
// the server's, extra users log in with cards it issued, and a registry
// given in the configuration receives the simulator's metrics.
func TestServerWithConfig(t *testing.T) {
	ca, caKey, err := cissim.NewCardCA("SubCA elsewhere", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	user := cis.User{UID: "555000000099", Name: "Token Tess Dr", Roles: []cis.RoleProfile{{
		ID: "555000009901", OrgCode: "RCJ", OrgName: "SOUTH TEES HOSPITALS NHS TRUST", StaffGroup: "Clinical",
		SubGroup: "Clinical Provision", JobRole: "Consultant", JobRoleCode: "S8000:G8000:R8003", Activities: []string{"B0264"},
	}}}
	reg := prometheus.NewRegistry()
	srv := cistest.NewServerWithConfig(t, cissim.Config{Users: []cis.User{user}, CardCAs: []*x509.Certificate{ca}, Registerer: reg})
	ctx := context.Background()

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := cissim.IssueCardCert(ca, caKey, user.UID, key.Public(), time.Time{}, time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	gas, err := cis.NewGASClient(cis.GASConfig{Env: srv.Env()})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := gas.Login(ctx, key, cert)
	if err != nil {
		t.Fatalf("login with a card of the extra CA: %v", err)
	}
	if sess.UID != user.UID || len(sess.Roles) != 1 {
		t.Fatalf("session %+v", sess)
	}
	// The server's own card CA still works (CardCertificate, Login).
	if _, err := srv.Login(ctx, user.UID, ""); err != nil {
		t.Fatalf("login with the server's own card CA: %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		found = found || mf.GetName() == "cissim_requests_total"
	}
	if !found {
		t.Fatal("the registry given in the configuration has no cissim_requests_total")
	}
}
