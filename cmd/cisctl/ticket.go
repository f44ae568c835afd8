package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/opencis/cisauth/cis"
)

// cmdTicket handles "ticket check".
func cmdTicket(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		return fmt.Errorf("%w: want: ticket check --env NAME|FILE [TICKET]", errUsage)
	}
	fs := flag.NewFlagSet("ticket check", flag.ContinueOnError)
	envName := fs.String("env", "", "environment: a preset name (dev, local) or an environment file")
	timeout := fs.Duration("timeout", cis.DefaultTimeout, "bound on the request to the SSB")
	skew := fs.Duration("skew", cis.DefaultSkew, "allowed clock skew on the assertion's validity window")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if *envName == "" {
		return fmt.Errorf("%w: --env is required", errUsage)
	}
	arg, err := oneOptional(pos, "TICKET")
	if err != nil {
		return err
	}
	if arg == "" {
		// From stdin, so the ticket stays out of ps and shell history.
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && err != io.EOF {
			return err
		}
		arg = line
	}
	ticket := cis.Ticket(strings.TrimSpace(arg))
	if ticket.IsZero() {
		return fmt.Errorf("%w: no ticket given", errUsage)
	}
	env, err := cis.ResolveEnvironment(*envName)
	if err != nil {
		return err
	}
	client, err := cis.NewSSBClient(cis.SSBConfig{Env: env, Timeout: *timeout, Skew: *skew})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout+time.Second)
	defer cancel()
	a, err := client.Validate(ctx, ticket)
	if err != nil {
		return err
	}
	return printJSON(stdout, newAssertionJSON(a))
}
