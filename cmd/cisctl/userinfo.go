package main

import (
	"flag"
	"io"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cis2"
)

// cmdUserInfo maps a CIS2 UserInfo document onto the model and prints it
// in the shape cmdAssertion prints a RoleAssertion: the same user, roles
// and selected role id; mode "live" (CIS2 carries none) and no times.
// Like cmdAssertion it does not check that the selected role is held.
func cmdUserInfo(args []string, stdin io.Reader, stdout io.Writer) error {
	pos, err := parseArgs(flag.NewFlagSet("userinfo", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	name, err := oneOptional(pos, "FILE")
	if err != nil {
		return err
	}
	data, err := readInput(name, stdin, cis2.MaxUserInfoSize)
	if err != nil {
		return err
	}
	ui, err := cis2.ParseUserInfo(data)
	if err != nil {
		return err
	}
	return printJSON(stdout, newAssertionJSON(&cis.Assertion{User: ui.User, SelectedRoleID: ui.SelectedRoleID, Mode: cis.ModeLive}))
}
