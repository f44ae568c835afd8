package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"

	"golang.org/x/term"

	"github.com/opencis/cisauth/internal/agent"
)

// cmdRun is the daemon: the agent, its Ticket API and page, and the
// terminal face when it runs on a terminal.
func cmdRun(ctx context.Context, args []string, s stdio) error {
	fs := flag.NewFlagSet("cis-agent run", flag.ContinueOnError)
	sf := newSettingsFlags(fs)
	pos, err := parse(fs, args, s.stderr)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, pos)
	}
	settings, err := sf.settings(s.getenv)
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	log := slog.New(slog.NewTextHandler(s.stderr, &slog.HandlerOptions{Level: level}))
	b, err := settings.Build(log)
	if err != nil {
		return err
	}
	level.Set(b.Level)
	a, err := agent.New(b.Agent)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 3)
	workers := 1
	go func() { done <- a.Run(ctx) }()
	if b.Server.Addr != "" || b.Server.Socket != "" {
		srv, err := agent.NewServer(a, b.Server)
		if err != nil {
			cancel()
			<-done
			return err
		}
		workers++
		go func() { done <- srv.Serve(ctx) }()
		log.Info("Ticket API", "url", srv.URL(), "socket", b.Server.Socket, "secret_file", b.Server.SecretFile)
		if b.Web {
			if link, err := srv.UILink(); err == nil {
				fmt.Fprintf(s.stderr, "PIN entry page (one-time link; cis-agent ui makes another): %s\n", link)
			}
		}
	}
	if b.Terminal && s.stdin != nil && term.IsTerminal(int(s.stdin.Fd())) {
		workers++
		go func() { done <- (&agent.Terminal{In: s.stdin, Out: s.stderr}).Run(ctx, a) }()
	}
	err = <-done
	cancel()
	for ; workers > 1; workers-- {
		<-done
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}
