package agent

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/term"

	"github.com/opencis/cisauth/internal/pinread"
)

// Terminal is the agent's face on a terminal: it prints the agent's
// messages and asks its questions — the PIN without echo (with the tries
// left, and on the final try only after "yes"), the role from a numbered
// list, whether a web page may use the login. An answer typed after the
// question was answered elsewhere (on the web page) is dropped.
type Terminal struct {
	// In is where answers are read; a terminal reads the PIN without
	// echo, anything else (a pipe) a line at a time.
	In *os.File
	// Out gets messages and questions (usually standard error).
	Out io.Writer

	mu  sync.Mutex // one writer at a time on Out
	buf *bufio.Reader
}

// Run shows a's messages and questions until ctx ends.
func (t *Terminal) Run(ctx context.Context, a *Agent) error {
	t.buf = bufio.NewReader(t.In)
	events, stop := a.Subscribe()
	defer stop()
	go func() {
		for ev := range events {
			if ev.Kind == EventMessage {
				t.println(ev.Message)
			}
		}
	}()
	answered := map[uint64]bool{}
	p := a.Prompts()
	for {
		ch := p.Changed()
		qs := p.Pending()
		i := slices.IndexFunc(qs, func(q Question) bool { return !answered[q.ID] })
		if i < 0 {
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		q := qs[i]
		answered[q.ID] = true
		ans, err := t.ask(q)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("terminal: %w", err)
		}
		if err := p.Answer(q.ID, ans); err != nil {
			t.println("(already answered elsewhere)")
		}
	}
}

func (t *Terminal) println(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintln(t.Out, s)
}

func (t *Terminal) prompt(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprint(t.Out, s)
}

// ChooseRole asks the role question q on the terminal (a numbered list)
// and returns the role id typed or chosen: the one-shot login's way to ask.
func (t *Terminal) ChooseRole(q Question) (string, error) {
	if t.buf == nil {
		t.buf = bufio.NewReader(t.In)
	}
	ans, err := t.ask(q)
	return ans.RoleID, err
}

// ask asks q and reads the answer.
func (t *Terminal) ask(q Question) (Answer, error) {
	switch q.Kind {
	case AskPIN:
		t.println(q.Text)
		if q.FinalTry {
			t.prompt("Type yes to use the final try: ")
			line, err := t.line()
			if err != nil {
				return Answer{}, err
			}
			if !strings.EqualFold(line, "yes") {
				return Answer{Cancel: true}, nil
			}
		}
		pin, err := t.secret("PIN: ")
		if err != nil {
			return Answer{}, err
		}
		return Answer{PIN: pin, ConfirmFinalTry: q.FinalTry}, nil
	case AskRole:
		t.println(q.Text + ":")
		for i, r := range q.Roles {
			t.println(fmt.Sprintf("  %d. %s", i+1, r.Label()))
		}
		t.prompt("Role number: ")
		line, err := t.line()
		if err != nil {
			return Answer{}, err
		}
		if n, err := strconv.Atoi(line); err == nil && n >= 1 && n <= len(q.Roles) {
			return Answer{RoleID: q.Roles[n-1].ID}, nil
		}
		return Answer{RoleID: line}, nil // a role id typed out, or nonsense the agent refuses
	case AskOrigin:
		t.prompt(q.Text + " [y/N] ")
		line, err := t.line()
		if err != nil {
			return Answer{}, err
		}
		return Answer{Allow: strings.EqualFold(line, "y") || strings.EqualFold(line, "yes")}, nil
	}
	return Answer{Cancel: true}, nil
}

// line reads one line.
func (t *Terminal) line() (string, error) {
	s, err := t.buf.ReadString('\n')
	if err != nil && s == "" {
		return "", err
	}
	return strings.TrimSpace(s), nil
}

// secret prompts for the PIN and reads it: on a terminal without echo,
// turned off before the prompt shows.
func (t *Terminal) secret(prompt string) ([]byte, error) {
	if term.IsTerminal(int(t.In.Fd())) {
		return pinread.Prompt(t.In, t.Out, prompt)
	}
	t.prompt(prompt)
	defer t.println("")
	b, err := t.buf.ReadSlice('\n')
	if err != nil && len(b) == 0 {
		return nil, err
	}
	pin := bytes.Clone(bytes.TrimRight(b, "\r\n"))
	clear(b)
	return pin, nil
}
