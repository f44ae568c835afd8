package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/internal/agent"
	"github.com/opencis/cisauth/internal/pinread"
	"github.com/opencis/cisauth/pcsc"
)

// cmdLogin is the one-shot login: the ticket as JSON on standard output.
func cmdLogin(ctx context.Context, args []string, s stdio) error {
	fs := flag.NewFlagSet("cis-agent login", flag.ContinueOnError)
	sf := newSettingsFlags(fs)
	pinFD := fs.Int("pin-fd", -1, "read the PIN from the first line of descriptor `N` (default: ask on the terminal)")
	confirm := fs.Bool("confirm-final-try", false, "send the PIN even on the card's final try (a wrong PIN then locks the card)")
	pos, err := parse(fs, args, s.stderr)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("%w: unexpected arguments %q (the PIN is never an argument: use --pin-fd or the terminal)", errUsage, pos)
	}
	settings, err := sf.settings(s.getenv)
	if err != nil {
		return err
	}
	settings.PINEntry = []string{"terminal"}
	b, err := settings.Build(slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	reader := ""
	if len(b.Agent.Readers) > 1 {
		return fmt.Errorf("%w: give one --reader", errUsage)
	}
	if len(b.Agent.Readers) == 1 {
		reader = b.Agent.Readers[0]
	}
	tty := s.stdin
	interactive := tty != nil && term.IsTerminal(int(tty.Fd()))
	cfg := agent.OneShotConfig{Agent: b.Agent, Reader: reader, ConfirmFinalTry: *confirm}
	switch {
	case *pinFD >= 0:
		cfg.PIN = func(agent.Question) ([]byte, error) {
			f := os.NewFile(uintptr(*pinFD), fmt.Sprintf("descriptor %d", *pinFD))
			if f == nil {
				return nil, fmt.Errorf("descriptor %d is not open", *pinFD)
			}
			defer f.Close()
			return pinread.FirstLine(f, f.Name())
		}
	case interactive:
		cfg.PIN = func(q agent.Question) ([]byte, error) {
			return pinread.Prompt(tty, s.stderr, q.Text+"\nPIN: ")
		}
	default:
		return fmt.Errorf("%w: no PIN: give --pin-fd N, or run on a terminal to be asked", errUsage)
	}
	if interactive {
		t := &agent.Terminal{In: tty, Out: s.stderr}
		cfg.Role = t.ChooseRole
	}
	res, err := agent.LoginOnce(ctx, cfg)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(s.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// isPINRefusal reports a login the card refused: exit status 3.
func isPINRefusal(oe *agent.OneShotError) bool {
	var pe *pcsc.PINError
	return errors.As(oe, &pe) || errors.Is(oe, pcsc.ErrPINIncorrect) || errors.Is(oe, pcsc.ErrPINLocked) ||
		errors.Is(oe, pcsc.ErrFinalTry) || errors.Is(oe, pcsc.ErrPINInvalid)
}

// cmdLogout ends a session; the ticket comes from a descriptor or
// standard input, never the command line.
func cmdLogout(ctx context.Context, args []string, s stdio) error {
	fs := flag.NewFlagSet("cis-agent logout", flag.ContinueOnError)
	sf := newSettingsFlags(fs)
	ticketFD := fs.Int("ticket-fd", -1, "read the ticket from the first line of descriptor `N` (default: standard input)")
	pos, err := parse(fs, args, s.stderr)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("%w: the ticket is never an argument: use --ticket-fd or standard input", errUsage)
	}
	settings, err := sf.settings(s.getenv)
	if err != nil {
		return err
	}
	env, err := settings.ResolveEnvironment()
	if err != nil {
		return err
	}
	in, name := s.stdin, "standard input"
	if *ticketFD >= 0 {
		if in = os.NewFile(uintptr(*ticketFD), fmt.Sprintf("descriptor %d", *ticketFD)); in == nil {
			return fmt.Errorf("descriptor %d is not open", *ticketFD)
		}
		defer in.Close()
		name = in.Name()
	}
	if in == nil {
		return fmt.Errorf("%w: no ticket: give --ticket-fd N or standard input", errUsage)
	}
	line, err := pinread.FirstLine(in, name)
	if err != nil {
		return fmt.Errorf("ticket: %w", err)
	}
	t := cis.Ticket(strings.TrimSpace(string(line)))
	clear(line)
	if t.IsZero() {
		return errors.New("no ticket given")
	}
	if err := agent.LogoutOnce(ctx, env, t); err != nil {
		if errors.Is(err, cis.ErrSessionInvalid) {
			return errors.New("the session had already ended (logged out or expired)")
		}
		return errors.New(agent.Describe(err, env, time.Now()))
	}
	fmt.Fprintln(s.stderr, "logged out")
	return nil
}
