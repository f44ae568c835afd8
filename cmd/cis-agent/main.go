// Command cis-agent is the workstation login helper: an open Identity Agent
// for Linux and macOS (package internal/agent does the work).
//
//	cis-agent run [flags]                 follow the readers, log in on card insert, serve the Ticket API
//	cis-agent login [flags] [--pin-fd N] [--confirm-final-try]
//	                                      log the card in once and print {"ticket",…} as JSON
//	cis-agent logout --env NAME|FILE [--ticket-fd N]
//	                                      end a session (the ticket from descriptor N, else standard input)
//	cis-agent config import FILE.reg [--out FILE] [--ssb-url URL] [--ca PEM]
//	                                      turn an Identity Agent registry file into a configuration
//	cis-agent config show [flags]         print the configuration in effect
//	cis-agent ui [--no-open]              open the running agent's page (a fresh one-time link)
//
// Configuration comes from the YAML file (--config, CIS_AGENT_CONFIG or
// the default path), CIS_AGENT_* environment variables and flags, each
// overriding the one before. The PIN is never taken from the command line
// or the environment. See docs/agent.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/opencis/cisauth/internal/agent"
	"github.com/opencis/cisauth/internal/cliflag"
)

const usage = `usage: cis-agent <command> [flags]

commands:
  run                 follow the card readers, log in on card insert, serve the Ticket API
  login               log the card in once and print {"ticket","uid","name","selected_role_id","roles"} as JSON
  logout              end a session; the ticket is read from --ticket-fd N or standard input
  config import FILE  turn an Identity Agent .reg file into a configuration (YAML)
  config show         print the configuration in effect
  ui                  open the running agent's page (a fresh one-time link)

Run cis-agent <command> -h for its flags. Exit status: 0 done, 1 failed,
2 bad command line, 3 the card refused the login (PIN incorrect, locked,
or the final try not confirmed).
`

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
	exitPIN   = 3
)

// errUsage marks a bad command line.
var errUsage = errors.New("usage")

// io is what a command talks to.
type stdio struct {
	stdin          *os.File
	stdout, stderr io.Writer
	getenv         func(string) string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], stdio{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, s stdio) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(s.stderr, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmds := map[string]func(context.Context, []string, stdio) error{
		"run":    cmdRun,
		"login":  cmdLogin,
		"logout": cmdLogout,
		"config": cmdConfig,
		"ui":     cmdUI,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(s.stderr, "cis-agent: unknown command %q (try cis-agent help)\n", args[0])
		return exitUsage
	}
	err := cmd(ctx, args[1:], s)
	if err == nil || (errors.Is(err, context.Canceled) && ctx.Err() != nil) {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(s.stderr, "cis-agent %s: %s\n", args[0], strings.ReplaceAll(err.Error(), "\n", " "))
	var oe *agent.OneShotError
	switch {
	case errors.Is(err, errUsage):
		return exitUsage
	case errors.As(err, &oe) && isPINRefusal(oe):
		return exitPIN
	}
	return exitFail
}

// settingsFlags registers the configuration flags on fs; the result is
// applied over the file and environment settings.
type settingsFlags struct {
	config    string
	s         agent.Settings
	readers   cliflag.List
	origins   cliflag.List
	pinEntry  string
	durations map[string]*time.Duration
}

func newSettingsFlags(fs *flag.FlagSet) *settingsFlags {
	f := &settingsFlags{}
	fs.StringVar(&f.config, "config", "", "configuration `file` (default CIS_AGENT_CONFIG, else "+agent.DefaultConfigFile()+")")
	fs.StringVar(&f.s.Env, "env", "", "CIS environment: dev, local or an environment `file`")
	fs.StringVar(&f.s.PKCS11Module, "pkcs11-module", "", "PKCS#11 module `path` (default: OpenSC's)")
	fs.Var(&f.readers, "reader", "use only this PC/SC `reader` (repeatable)")
	fs.StringVar(&f.s.Role, "role", "", "role `ID` to select at login when the user holds it")
	fs.StringVar(&f.s.Mode, "mode", "", "session `mode`: normal, session-lock or mobility")
	fs.StringVar(&f.s.SSBMode, "ssb-mode", "", "live or training")
	fs.StringVar(&f.s.Hash, "hash", "", "challenge signature digest: sha1 or sha256")
	fs.StringVar(&f.s.DeviceID, "device-id", "", "GAS device `id` (8 characters a-z 0-9)")
	fs.StringVar(&f.s.Listen, "listen", "", "Ticket API loopback `address` (default "+agent.DefaultListen+"; off for none)")
	fs.StringVar(&f.s.Socket, "socket", "", "Ticket API unix socket `path` (off for none)")
	fs.StringVar(&f.s.SecretFile, "secret-file", "", "`file` of the per-user secret TCP callers send")
	fs.Var(&f.origins, "allowed-origin", "web `origin` whose pages may ask for the ticket (repeatable)")
	fs.StringVar(&f.pinEntry, "pin-entry", "", "where the PIN is asked: terminal, web or terminal,web")
	fs.StringVar(&f.s.LogLevel, "log-level", "", "debug, info, warn or error")
	f.durations = map[string]*time.Duration{}
	for name, p := range map[string]*time.Duration{"keep-alive": &f.s.KeepAlive, "lock-timeout": &f.s.LockTimeout,
		"ticket-wait": &f.s.TicketWait, "away-lock": &f.s.Mobility.AwayLock, "reauthenticate-after": &f.s.Mobility.ReauthenticateAfter} {
		fs.DurationVar(p, name, 0, "see docs/agent.md")
	}
	return f
}

// settings loads the file and the environment and applies the flags.
func (f *settingsFlags) settings(getenv func(string) string) (agent.Settings, error) {
	s, err := agent.LoadSettings(f.config, getenv)
	if err != nil {
		return agent.Settings{}, err
	}
	o := f.s
	if len(f.readers) > 0 {
		o.Readers = f.readers
	}
	if len(f.origins) > 0 {
		o.AllowedOrigins = f.origins
	}
	if f.pinEntry != "" {
		o.PINEntry = strings.Split(f.pinEntry, ",")
	}
	s.Override(o)
	return s, nil
}

// parse parses flags that may come before or after positional arguments.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, error) {
	fs.SetOutput(stderr)
	return cliflag.Parse(fs, args, errUsage)
}
