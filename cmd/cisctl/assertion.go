package main

import (
	"flag"
	"io"

	"github.com/opencis/cisauth/cis"
)

// cmdAssertion parses a RoleAssertion response without time checks.
func cmdAssertion(args []string, stdin io.Reader, stdout io.Writer) error {
	pos, err := parseArgs(flag.NewFlagSet("assertion", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	name, err := oneOptional(pos, "FILE")
	if err != nil {
		return err
	}
	data, err := readInput(name, stdin, cis.MaxAssertionSize)
	if err != nil {
		return err
	}
	a, err := cis.ParseRoleAssertion(data)
	if err != nil {
		return err
	}
	return printJSON(stdout, newAssertionJSON(a))
}
