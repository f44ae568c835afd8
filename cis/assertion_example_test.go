package cis_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/opencis/cisauth/cis"
)

func ExampleParseRoleAssertion() {
	// A RoleAssertion as the SSB sends it (fetch it with SSBClient, never
	// take one from a browser: it is unsigned).
	doc, err := os.ReadFile("testdata/assertion/two-roles-selected-last.xml")
	if err != nil {
		fmt.Println(err)
		return
	}
	a, err := cis.ParseRoleAssertion(doc)
	if err != nil {
		fmt.Println(err)
		return
	}
	// Parsing checks no times; validation does.
	if err := a.CheckTime(time.Date(2026, 11, 26, 10, 29, 0, 0, time.UTC), cis.DefaultSkew); err != nil {
		fmt.Println(err)
		return
	}
	r := a.SelectedRole()
	fmt.Println(a.User.Name, a.User.UID, a.Mode, len(a.User.Roles), "roles")
	fmt.Println(r.ID, r.OrgCode, r.OrgName)
	fmt.Printf("%s / %s / %s (%s)\n", r.StaffGroup, r.SubGroup, r.JobRole, r.JobRoleCode)
	fmt.Println(r.Activities, r.HasActivity("B1680"))
	// Output:
	// Downs Michelle Miss 555006130103 live 2 roles
	// 555006304103 RME COMMUNICARE NHS TRUST
	// Admin & Clerical / Admin / Demographic Administrator (S0080:G0440:R5110)
	// [B1680 B1611] true
}

func ExampleSSBClient_Validate() {
	// A stand-in SSB; in production Env is cis.Preset("dev") or an
	// environment file, and its trust anchors verify the SSB's TLS.
	doc, err := os.ReadFile("testdata/assertion/single-role.xml")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("token") != "AQIC5wM2LY4SfczFixture+Tick/et0Zz=@AAJTSQACMDE=#" {
			fmt.Fprint(w, `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol" MajorVersion="1" MinorVersion="1"><samlp:Status><samlp:StatusCode Value="samlp:Requester"/></samlp:Status></samlp:Response>`)
			return
		}
		w.Write(doc)
	}))
	defer srv.Close()

	ssb, err := cis.NewSSBClient(cis.SSBConfig{
		Env:     cis.Environment{Name: "example", GASURL: srv.URL, SSBURL: srv.URL, Roots: []*x509.Certificate{srv.Certificate()}},
		Timeout: 10 * time.Second,
		Now:     func() time.Time { return time.Date(2026, 11, 26, 10, 29, 0, 0, time.UTC) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The ticket the workstation's Identity Agent handed over.
	ticket := cis.Ticket("AQIC5wM2LY4SfczFixture+Tick/et0Zz=@AAJTSQACMDE=#")
	a, err := ssb.Validate(context.Background(), ticket)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a.User.UID, a.SelectedRole().JobRole, a.SelectedRole().HasActivity("B0264"))

	_, err = ssb.Validate(context.Background(), cis.Ticket("AQIC-logged-out@x#"))
	fmt.Println(errors.Is(err, cis.ErrSessionInvalid))
	// Output:
	// 232871648514 Health Professional Access Role true
	// true
}
