// Package cliflag holds what the project's commands share in parsing their
// command lines: flags that may stand before, between or after positional
// arguments, and a repeatable string flag. It is not a command framework.
package cliflag

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

// Parse parses fs's flags wherever they stand among args and returns the
// positional arguments in order. -h gives flag.ErrHelp; any other error
// wraps usage (the command's "bad command line" sentinel).
func Parse(fs *flag.FlagSet, args []string, usage error) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %w", usage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// List is a string flag that may be given several times.
type List []string

// String joins the values with commas.
func (l *List) String() string { return strings.Join(*l, ",") }

// Set adds a value.
func (l *List) Set(v string) error {
	*l = append(*l, v)
	return nil
}
