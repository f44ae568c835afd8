package cistest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
)

// LoginSession logs uid in through GAS as the Identity Agent would
// (activate, sign the challenge, validate) and selects roleID in live mode;
// an empty roleID selects the user's first role. It returns the whole GAS
// session — the ticket, the user's roles as GAS listed them, the logout URL
// — so that a test can later switch role (SelectRole) or log out through
// GAS (cis.GASClient.Logout) as the agent does.
func (s *Server) LoginSession(ctx context.Context, uid, roleID string) (*cis.Session, error) {
	cert, key, err := s.CardCertificate(uid)
	if err != nil {
		return nil, err
	}
	sess, err := s.gas.Login(ctx, key, cert)
	if err != nil {
		return nil, fmt.Errorf("cistest: login %s: %w", uid, err)
	}
	if roleID == "" {
		if len(sess.Roles) == 0 {
			return nil, fmt.Errorf("cistest: login %s: user has no roles", uid)
		}
		roleID = sess.Roles[0].ID
	}
	if err := s.SelectRole(ctx, sess, roleID); err != nil {
		return nil, err
	}
	return sess, nil
}

// MustLoginSession is LoginSession that fails the test on error.
func (s *Server) MustLoginSession(t testing.TB, uid, roleID string) *cis.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sess, err := s.LoginSession(ctx, uid, roleID)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return sess
}

// SelectRole switches the session's selected role through GAS in live mode,
// under the same ticket, as the agent does when the user picks another
// role: the SSB's next RoleAssertion for the ticket names roleID. A role
// the user does not hold fails with cis.ErrUnknownRole.
func (s *Server) SelectRole(ctx context.Context, sess *cis.Session, roleID string) error {
	if err := s.init(); err != nil {
		return err
	}
	if err := s.gas.SelectRole(ctx, sess, roleID, cis.ModeLive); err != nil {
		return fmt.Errorf("cistest: select role %s for %s: %w", roleID, sess.UID, err)
	}
	return nil
}

// GASLogout ends the session through GAS's logout endpoint, as the agent
// does when the card is pulled: the ticket stops working at once.
func (s *Server) GASLogout(ctx context.Context, sess *cis.Session) error {
	if err := s.init(); err != nil {
		return err
	}
	return s.gas.Logout(ctx, sess)
}
