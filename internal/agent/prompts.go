package agent

import (
	"context"
	"errors"
	"sync"
)

// QuestionKind says what a Question asks for.
type QuestionKind string

// The questions the agent asks the person.
const (
	// AskPIN asks for the card's PIN (and, on the final try, for the
	// confirmation to spend it).
	AskPIN QuestionKind = "pin"
	// AskRole asks which of the user's roles to work in.
	AskRole QuestionKind = "role"
	// AskOrigin asks whether a web page's origin may use the login.
	AskOrigin QuestionKind = "origin"
)

// Question is something the agent asks the person: shown on every face of
// the agent (terminal, loopback web page), answered on whichever the
// person uses first.
type Question struct {
	// ID tells the question apart from earlier ones.
	ID uint64 `json:"id"`
	// Kind says what is asked.
	Kind QuestionKind `json:"kind"`
	// Text asks it in plain words (after Note, if any).
	Text string `json:"text"`
	// Note says how the last attempt went ("PIN incorrect: 2 tries
	// left"), when the question is asked again.
	Note string `json:"note,omitempty"`
	// Reader is the card's reader, for AskPIN.
	Reader string `json:"reader,omitempty"`
	// TriesLeft is the PIN tries the card has left, -1 if it does not say
	// (AskPIN).
	TriesLeft int `json:"tries_left"`
	// FinalTry: a wrong PIN now locks the card. The answer must confirm
	// it (Answer.ConfirmFinalTry), or the PIN is not sent.
	FinalTry bool `json:"final_try"`
	// Roles are the choices of an AskRole.
	Roles []RoleChoice `json:"roles,omitempty"`
	// Origin is the web origin an AskOrigin is about.
	Origin string `json:"origin,omitempty"`
}

// RoleChoice is one role a user may select.
type RoleChoice struct {
	ID         string `json:"id"`
	OrgCode    string `json:"org_code"`
	OrgName    string `json:"org_name"`
	StaffGroup string `json:"staff_group,omitempty"`
	SubGroup   string `json:"sub_group,omitempty"`
	JobRole    string `json:"job_role"`
}

// Label is the role in one line, e.g. "Consultant at RKF THE PRINCESS
// ROYAL HOSPITAL NHS TRUST (555000000101)".
func (r RoleChoice) Label() string {
	return r.JobRole + " at " + r.OrgCode + " " + r.OrgName + " (" + r.ID + ")"
}

// Answer is the person's answer to a Question.
type Answer struct {
	// PIN answers AskPIN. The agent clears it after use.
	PIN []byte
	// ConfirmFinalTry: the person agreed to spend the card's final try.
	ConfirmFinalTry bool
	// RoleID answers AskRole.
	RoleID string
	// Allow answers AskOrigin.
	Allow bool
	// Cancel: the person declined to answer.
	Cancel bool
}

// ErrNoQuestion means an answer came for a question that is not (or no
// longer) asked.
var ErrNoQuestion = errors.New("agent: no such question")

// ErrCancelled means the person declined to answer.
var ErrCancelled = errors.New("agent: cancelled by the person")

// Prompts holds the questions waiting for the person, in the order they
// were asked, and hands each answer to the one waiting for it. The agent's
// faces (terminal, web page) watch it through Changed and Pending. It is
// safe for concurrent use.
type Prompts struct {
	mu      sync.Mutex
	seq     uint64
	queue   []*pending
	changed chan struct{}
	version uint64
}

type pending struct {
	q      Question
	answer chan Answer // buffered, 1
}

// NewPrompts returns an empty question queue.
func NewPrompts() *Prompts { return &Prompts{changed: make(chan struct{})} }

// notify wakes the watchers; called with p.mu held.
func (p *Prompts) notify() {
	p.version++
	close(p.changed)
	p.changed = make(chan struct{})
}

// version counts the queue's changes.
func (p *Prompts) changes() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.version
}

// Ask queues q (its ID is assigned) and waits for the answer or for ctx.
// An answer with Cancel gives ErrCancelled.
func (p *Prompts) Ask(ctx context.Context, q Question) (Answer, error) {
	p.mu.Lock()
	p.seq++
	q.ID = p.seq
	w := &pending{q: q, answer: make(chan Answer, 1)}
	p.queue = append(p.queue, w)
	p.notify()
	p.mu.Unlock()
	defer p.remove(w)
	select {
	case a := <-w.answer:
		if a.Cancel {
			clear(a.PIN)
			return Answer{}, ErrCancelled
		}
		return a, nil
	case <-ctx.Done():
		return Answer{}, ctx.Err()
	}
}

// remove drops w from the queue (answered or given up); an answer that
// came too late has its PIN cleared.
func (p *Prompts) remove(w *pending) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.queue {
		if x == w {
			p.queue = append(p.queue[:i], p.queue[i+1:]...)
			p.notify()
			break
		}
	}
	select {
	case a := <-w.answer:
		clear(a.PIN)
	default:
	}
}

// Pending returns the questions waiting, oldest first.
func (p *Prompts) Pending() []Question {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Question, len(p.queue))
	for i, w := range p.queue {
		out[i] = w.q
	}
	return out
}

// Changed returns a channel closed at the next change of the queue.
func (p *Prompts) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// Answer answers question id. A question already answered or no longer
// asked gives ErrNoQuestion, and a PIN in a refused answer is cleared.
func (p *Prompts) Answer(id uint64, a Answer) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, w := range p.queue {
		if w.q.ID != id {
			continue
		}
		select {
		case w.answer <- a:
			p.queue = append(p.queue[:i], p.queue[i+1:]...)
			p.notify()
			return nil
		default:
		}
		break
	}
	clear(a.PIN)
	return ErrNoQuestion
}
