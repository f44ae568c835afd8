package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// errHelp means -h was given and the help text printed.
var errHelp = errors.New("help requested")

// parseInterspersed parses flags that may come before or after positional
// arguments (cis-vcard insert card.json --vpcd …) and returns the
// positionals.
func parseInterspersed(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, error) {
	fs.SetOutput(stderr)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
