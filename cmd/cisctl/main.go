// Command cisctl inspects and debugs CIS messages and environments: it parses
// RoleAssertions, CIS2 UserInfo documents and gpOBJECT messages, shows an environment's endpoints and
// maintenance state, and checks a live ticket against the SSB.
//
// Every subcommand reads a file argument or standard input, prints JSON to
// standard output, exits 0 on success and non-zero with a one-line error on
// standard error otherwise.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/opencis/cisauth/internal/cliflag"
)

const usage = `usage: cisctl <command> [arguments]

commands:
  assertion [FILE]                       parse a RoleAssertion (SAML 1.1) response, no time checks
  userinfo [FILE]                        map a CIS2 UserInfo document (JSON) as assertion prints one
  gpobject [FILE]                        parse a gpOBJECT message (GAS request or response)
  env [NAME|FILE] [--at RFC3339]         show an environment's endpoints and maintenance state
  ticket check --env NAME|FILE [TICKET]  fetch and fully validate a ticket's RoleAssertion
                                         (reads the ticket from stdin when TICKET is omitted)

FILE defaults to standard input; output is JSON on standard output.
`

// errUsage marks errors in the command line (exit status 2).
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one cisctl command line and returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmds := map[string]func([]string, io.Reader, io.Writer) error{
		"assertion": cmdAssertion,
		"userinfo":  cmdUserInfo,
		"gpobject":  cmdGPObject,
		"env":       cmdEnv,
		"ticket":    cmdTicket,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "cisctl: unknown command %q (try cisctl help)\n", args[0])
		return 2
	}
	if err := cmd(args[1:], stdin, stdout); err != nil {
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		fmt.Fprintf(stderr, "cisctl %s: %s\n", args[0], msg)
		if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
			return 2
		}
		return 1
	}
	return 0
}

// parseArgs parses flags that may come before, between or after positional
// arguments, and returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	return cliflag.Parse(fs, args, errUsage)
}

// readInput reads the named file, or stdin when name is "" or "-", failing
// if it holds more than limit bytes.
func readInput(name string, stdin io.Reader, limit int64) ([]byte, error) {
	r := stdin
	if name != "" && name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("input larger than %d bytes", limit)
	}
	return b, nil
}

func oneOptional(pos []string, what string) (string, error) {
	switch len(pos) {
	case 0:
		return "", nil
	case 1:
		return pos[0], nil
	}
	return "", fmt.Errorf("%w: want at most one %s, got %d arguments", errUsage, what, len(pos))
}
