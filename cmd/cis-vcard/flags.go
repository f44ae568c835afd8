package main

import (
	"errors"
	"flag"
	"io"

	"github.com/opencis/cisauth/internal/cliflag"
)

// errHelp means -h was given and the help text printed.
var errHelp = errors.New("help requested")

// parseInterspersed parses flags that may come before or after positional
// arguments (cis-vcard insert card.json --vpcd …) and returns the
// positionals.
func parseInterspersed(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, error) {
	fs.SetOutput(stderr)
	pos, err := cliflag.Parse(fs, args, errUsage)
	if errors.Is(err, flag.ErrHelp) {
		return nil, errHelp
	}
	return pos, err
}
