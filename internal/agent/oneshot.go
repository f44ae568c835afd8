package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/pcsc"
)

// The one-shot mode of the command line (cis-agent login / logout), for
// scripts and tests: one login with the card, the ticket printed, the
// session left open. It is the daemon's own login (the same Agent, PIN
// rules and role choice) run once with a card source that reports the one
// card, answered without asking: the PIN comes from a descriptor or the
// terminal, a wrong PIN ends it, and the final try is spent only when the
// caller confirmed it beforehand.

// OneShotConfig configures LoginOnce. Agent's Cards, Readers and
// KeepSessionOnStop are set by LoginOnce.
type OneShotConfig struct {
	// Agent configures the login (environment, module, role, clients…).
	Agent Config
	// Reader is the PC/SC reader of the card; empty means the first token
	// of the module (a SoftHSM2 token, or the only card).
	Reader string
	// ConfirmFinalTry lets the PIN be sent on the card's final try.
	ConfirmFinalTry bool
	// PIN returns the PIN, for the question q (which says the tries left).
	// The caller's slice is cleared after use.
	PIN func(q Question) ([]byte, error)
	// Role chooses among the user's roles when none was preselected and
	// there are several; nil makes that an error listing them.
	Role func(q Question) (string, error)
}

// LoginResult is what the one-shot login prints: the one place the
// command line shows the ticket.
type LoginResult struct {
	Ticket         string       `json:"ticket"`
	UID            string       `json:"uid"`
	Name           string       `json:"name"`
	SelectedRoleID string       `json:"selected_role_id"`
	Roles          []RoleChoice `json:"roles"`
}

// OneShotError is a login that stopped at the card: a wrong PIN, a locked
// card, or the final try not confirmed. Message says it in plain words.
type OneShotError struct {
	Message string
	Err     error
}

func (e *OneShotError) Error() string { return e.Message }

// Unwrap returns the cause.
func (e *OneShotError) Unwrap() error { return e.Err }

// oneCard is a card source that reports one card in one reader.
type oneCard struct{ reader string }

func (o oneCard) Run(ctx context.Context, events chan<- pcsc.Event) error {
	select {
	case events <- pcsc.Event{Kind: pcsc.CardInserted, Reader: o.reader}:
	case <-ctx.Done():
		return ctx.Err()
	}
	<-ctx.Done()
	return ctx.Err()
}

// LoginOnce logs the card in, selects the role and returns the ticket; the
// session stays open (cis-agent logout ends it).
func LoginOnce(ctx context.Context, cfg OneShotConfig) (*LoginResult, error) {
	ac := cfg.Agent
	ac.Cards, ac.Readers, ac.KeepSessionOnStop = oneCard{cfg.Reader}, nil, true
	a, err := New(ac)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	run := make(chan error, 1)
	go func() { run <- a.Run(ctx) }()
	defer func() { cancel(nil); <-run }()

	var once sync.Once
	stop := func(err error) { once.Do(func() { cancel(err) }) }
	go answerOnce(ctx, a.Prompts(), cfg, stop)

	ti, err := a.awaitLogin(ctx, false, 0) // the login of the one card, and no other
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			return nil, cause
		}
		var lf *loginFailed
		if errors.As(err, &lf) {
			err = lf.cause
		}
		return nil, &OneShotError{Message: a.describe(err), Err: err}
	}
	st := a.Status()
	return &LoginResult{Ticket: ti.Ticket.Reveal(), UID: ti.UID, Name: ti.Name, SelectedRoleID: ti.SelectedRoleID, Roles: st.Roles}, nil
}

// answerOnce answers the login's questions as the one-shot mode does, and
// stops it (stop, with the reason) where the person would have to be
// asked again.
func answerOnce(ctx context.Context, p *Prompts, cfg OneShotConfig, stop func(error)) {
	pins := 0
	seen := map[uint64]bool{}
	for {
		ch := p.Changed()
		for _, q := range p.Pending() {
			if seen[q.ID] {
				continue
			}
			seen[q.ID] = true
			ans, err := oneShotAnswer(q, cfg, &pins)
			if err != nil {
				stop(err)
				return
			}
			p.Answer(q.ID, ans)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// oneShotAnswer answers one question, or says why the one-shot login stops.
func oneShotAnswer(q Question, cfg OneShotConfig, pins *int) (Answer, error) {
	switch q.Kind {
	case AskPIN:
		if *pins > 0 { // asked again: the PIN was wrong (q.Note says how)
			return Answer{}, &OneShotError{Message: q.Note, Err: pcsc.ErrPINIncorrect}
		}
		if q.FinalTry && !cfg.ConfirmFinalTry {
			return Answer{}, &OneShotError{
				Message: "PIN not sent: this is the card's final try, and a wrong PIN locks it. Give --confirm-final-try to use it",
				Err:     pcsc.ErrFinalTry}
		}
		*pins++
		pin, err := cfg.PIN(q)
		if err != nil {
			return Answer{}, err
		}
		return Answer{PIN: pin, ConfirmFinalTry: q.FinalTry}, nil
	case AskRole:
		if cfg.Role == nil {
			ids := make([]string, len(q.Roles))
			for i, r := range q.Roles {
				ids[i] = r.Label()
			}
			return Answer{}, fmt.Errorf("%sthe user has %d roles: give --role ID, one of: %s", notePrefix(q.Note), len(q.Roles), strings.Join(ids, "; "))
		}
		id, err := cfg.Role(q)
		return Answer{RoleID: id}, err
	}
	return Answer{}, fmt.Errorf("cannot answer %q without a person", q.Text)
}

// notePrefix is "note: " for a non-empty note.
func notePrefix(note string) string {
	if note == "" {
		return ""
	}
	return note + ": "
}

// LogoutOnce ends the session of ticket at GAS (what cis-agent logout
// does); it asks the session service whose it is first, so that the logout
// names the user, and goes on without that if the service does not say.
func LogoutOnce(ctx context.Context, env cis.Environment, ticket cis.Ticket) error {
	gas, err := cis.NewGASClient(cis.GASConfig{Env: env})
	if err != nil {
		return err
	}
	sess := &cis.Session{Ticket: ticket}
	if ss, err := cis.NewSessionServiceClient(cis.SessionServiceConfig{Env: env}); err == nil {
		if info, err := ss.GetSession(ctx, ticket, false); err == nil {
			sess.UID = info.UID
		} else if errors.Is(err, cis.ErrSessionInvalid) {
			return err
		}
	}
	return gas.Logout(ctx, sess)
}
