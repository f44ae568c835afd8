package cis_test

import (
	"fmt"

	"github.com/opencis/cisauth/cis"
)

func ExampleParseGPObject() {
	// A GAS validate response: note the raw '&' real responses carry.
	resp := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE USER SYSTEM "https://gas.example.nhs.uk/login/dtd">
<gpOBJECT>
<gpPARAM name="cn">Jones Alex Dr</gpPARAM>
<gpPARAM name="nhsjobrole0" id="555000100001" orgcode="Y05826">ST. MARY'S SURGERY (DR SMITH & PARTNERS), "Admin & Clerical":"Admin & Clerical":"Receptionist Access Role"</gpPARAM>
</gpOBJECT>`)
	g, err := cis.ParseGPObject(resp)
	if err != nil {
		fmt.Println(err)
		return
	}
	roles, err := g.JobRoles()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(g.Get("cn"))
	for _, r := range roles {
		fmt.Printf("%s %s | %s | %s / %s\n", r.ID, r.OrgCode, r.OrgName, r.StaffGroup, r.JobRole)
	}
	// Output:
	// Jones Alex Dr
	// 555000100001 Y05826 | ST. MARY'S SURGERY (DR SMITH & PARTNERS) | Admin & Clerical / Receptionist Access Role
}
