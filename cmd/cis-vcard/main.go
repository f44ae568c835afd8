// Command cis-vcard makes and inserts virtual NHS smartcards: PIV cards that
// pcscd's vsmartcard vpcd driver takes as cards in a reader, so OpenSC,
// cis-agent and every PC/SC tool can use them without hardware.
//
//	cis-vcard provision --uid 555000000001 --name "Jones Alice Dr" --pin-file pin.txt --out card.json
//	cis-vcard insert card.json [--vpcd 127.0.0.1:35963] [--pull-after 30s]
//
// See docs/virtual-card.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// errUsage marks errors that are the caller's wrong invocation (exit 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// env is what a command reads and writes besides its arguments.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

const usage = `usage:
  cis-vcard provision --uid UID [--name NAME] [--pin PIN | --pin-file FILE]
                      [--ca-cert CA.pem --ca-key CA.key | --state-dir DIR] [--retries N] --out card.json
  cis-vcard insert card.json [--vpcd HOST:PORT] [--pull-after DURATION] [--verbose]
Run a command with -h for its flags.
`

// run executes one command and returns the exit code: 0 success, 1 failure,
// 2 wrong usage.
func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "provision":
		err = provision(args[1:], e)
	case "insert":
		err = insert(ctx, args[1:], e)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(e.stdout, usage)
		return 0
	default:
		err = fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(e.stderr, "cis-vcard: %v\n%s", err, usage)
		return 2
	}
	fmt.Fprintf(e.stderr, "cis-vcard: %v\n", err)
	return 1
}
