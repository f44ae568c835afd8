package main

import (
	"flag"
	"io"

	"github.com/opencis/cisauth/cis"
)

type gpobjectJSON struct {
	Service string            `json:"service"`
	Params  map[string]string `json:"params"`
	Roles   []jobRoleJSON     `json:"roles"`
}

type jobRoleJSON struct {
	Index      int    `json:"index"`
	ID         string `json:"id"`
	OrgCode    string `json:"org_code"`
	OrgName    string `json:"org_name"`
	StaffGroup string `json:"staff_group"`
	SubGroup   string `json:"sub_group"`
	JobRole    string `json:"job_role"`
}

// cmdGPObject parses a gpOBJECT message.
func cmdGPObject(args []string, stdin io.Reader, stdout io.Writer) error {
	pos, err := parseArgs(flag.NewFlagSet("gpobject", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	name, err := oneOptional(pos, "FILE")
	if err != nil {
		return err
	}
	data, err := readInput(name, stdin, cis.MaxGPObjectSize)
	if err != nil {
		return err
	}
	g, err := cis.ParseGPObject(data)
	if err != nil {
		return err
	}
	roles, err := g.JobRoles()
	if err != nil {
		return err
	}
	out := gpobjectJSON{Service: g.Get("service"), Params: map[string]string{}, Roles: []jobRoleJSON{}}
	for _, p := range g.Params {
		if _, dup := out.Params[p.Name]; !dup {
			out.Params[p.Name] = p.Value
		}
	}
	for _, r := range roles {
		out.Roles = append(out.Roles, jobRoleJSON{Index: r.Index, ID: r.ID, OrgCode: r.OrgCode, OrgName: r.OrgName,
			StaffGroup: r.StaffGroup, SubGroup: r.SubGroup, JobRole: r.JobRole})
	}
	return printJSON(stdout, out)
}
