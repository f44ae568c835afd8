package cissim

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
)

var ticketRE = regexp.MustCompile(`^AQIC[A-Za-z0-9+/]{43}=@AAJTSQACMDE=#$`)

// samlDoc is just enough of a RoleAssertion to check what the simulator wrote.
type samlDoc struct {
	XMLName   xml.Name `xml:"urn:oasis:names:tc:SAML:1.0:protocol Response"`
	Recipient string   `xml:"Recipient,attr"`
	Status    struct {
		Code struct {
			Value string `xml:"Value,attr"`
			Sub   *struct {
				Value string `xml:"Value,attr"`
			} `xml:"urn:oasis:names:tc:SAML:1.0:protocol StatusCode"`
		} `xml:"urn:oasis:names:tc:SAML:1.0:protocol StatusCode"`
	} `xml:"urn:oasis:names:tc:SAML:1.0:protocol Status"`
	Assertion *struct {
		AssertionID string `xml:"AssertionID,attr"`
		Conditions  struct {
			NotBefore    string `xml:"NotBefore,attr"`
			NotOnOrAfter string `xml:"NotOnOrAfter,attr"`
		} `xml:"urn:oasis:names:tc:SAML:1.0:assertion Conditions"`
		Statement struct {
			NameID string `xml:"urn:oasis:names:tc:SAML:1.0:assertion Subject>NameIdentifier"`
			Inner  struct {
				Ticket string `xml:"urn:oasis:names:tc:SAML:1.0:assertion AuthenticationStatement>Subject>SubjectConfirmation>SubjectConfirmationData"`
				IP     struct {
					Addr string `xml:"IPAddress,attr"`
				} `xml:"urn:oasis:names:tc:SAML:1.0:assertion AuthenticationStatement>SubjectLocality"`
			} `xml:"urn:oasis:names:tc:SAML:1.0:assertion Subject>SubjectConfirmation>SubjectConfirmationData>Assertion"`
			Attrs []struct {
				Name   string   `xml:"AttributeName,attr"`
				NS     string   `xml:"AttributeNamespace,attr"`
				Values []string `xml:"urn:oasis:names:tc:SAML:1.0:assertion AttributeValue"`
			} `xml:"urn:oasis:names:tc:SAML:1.0:assertion Attribute"`
		} `xml:"urn:oasis:names:tc:SAML:1.0:assertion AttributeStatement"`
	} `xml:"urn:oasis:names:tc:SAML:1.0:assertion Assertion"`
}

func (s *testSim) roleAssertion(t *testing.T, ticket cis.Ticket) (*samlDoc, string) {
	t.Helper()
	w := s.do("GET", "/saml/RoleAssertion?token="+url.QueryEscape(ticket.Reveal()), "")
	if w.Code != http.StatusOK {
		t.Fatalf("RoleAssertion: HTTP %d", w.Code)
	}
	var d samlDoc
	if err := xml.Unmarshal(w.Body.Bytes(), &d); err != nil {
		t.Fatalf("RoleAssertion is not well-formed: %v\n%s", err, w.Body)
	}
	return &d, w.Body.String()
}

func (s *testSim) selectRole(t *testing.T, ticket cis.Ticket, role, mode string) string {
	t.Helper()
	w := s.do("GET", "/saml/RoleSelectionGP.jsp?token="+url.QueryEscape(ticket.Reveal())+"&selectedRoleUid="+role+"&ssbMode="+mode+"&fallbackStatus=0&gacVersion=10.0.0.1", "")
	return w.Body.String()
}

func TestRoleSelectionAndAssertion(t *testing.T) {
	s := newTestSim(t, nil)
	bob := DemoUsers()[1]
	tk, err := s.CreateSession(bob.UID, "", cis.ModeLive)
	if err != nil {
		t.Fatal(err)
	}
	if !ticketRE.MatchString(tk.Reveal()) {
		t.Fatalf("ticket shape %q", tk.Reveal())
	}

	// Before role selection: a non-Success answer.
	d, _ := s.roleAssertion(t, tk)
	if d.Status.Code.Value == "samlp:Success" || d.Assertion != nil {
		t.Fatalf("assertion before role selection: %+v", d.Status)
	}

	if body := s.selectRole(t, tk, "555000000999", "0"); strings.Contains(strings.ToUpper(body), "OK") {
		t.Fatalf("unknown role accepted: %s", body)
	}
	selected := bob.Roles[4] // not the first block
	if body := s.selectRole(t, tk, selected.ID, "1"); !strings.Contains(body, "<STATUS>OK</STATUS>") {
		t.Fatalf("role selection: %s", body)
	}

	d, raw := s.roleAssertion(t, tk)
	if d.Status.Code.Value != "samlp:Success" || d.Assertion == nil {
		t.Fatalf("status %+v", d.Status)
	}
	a := d.Assertion
	if a.Statement.NameID != "uid="+bob.UID+",ou=People,o=nhs" || a.Statement.Inner.Ticket != tk.Reveal() || d.Recipient != "127.0.0.1" {
		t.Fatalf("subject: %+v recipient %q", a.Statement, d.Recipient)
	}
	nb, _ := time.Parse(samlTime, a.Conditions.NotBefore)
	na, _ := time.Parse(samlTime, a.Conditions.NotOnOrAfter)
	now := s.clock.Now()
	if !nb.Equal(now.Add(-3*time.Minute)) || !na.Equal(now.Add(time.Minute)) {
		t.Fatalf("conditions %s .. %s at %s", nb, na, now)
	}
	vals := map[string][]string{}
	var order []string
	for _, at := range a.Statement.Attrs {
		if at.NS != "http://www.syntegra.com" {
			t.Fatalf("namespace %q", at.NS)
		}
		vals[at.Name] = append(vals[at.Name], strings.Join(at.Values, "|"))
		order = append(order, at.Name)
	}
	if got := vals["ssbSessionRoleUid"]; len(got) != 1 || got[0] != selected.ID {
		t.Fatalf("ssbSessionRoleUid %v", got)
	}
	if got := vals["ssbMode"]; len(got) != 1 || got[0] != "1" {
		t.Fatalf("ssbMode %v", got)
	}
	if got := vals["nhsIdCode"]; len(got) != len(bob.Roles) {
		t.Fatalf("%d role blocks, want %d", len(got), len(bob.Roles))
	}
	if order[0] != "ssbAssertionVersion" || vals["cn"][0] != bob.Name || vals["uid"][0] != bob.UID {
		t.Fatalf("person block: %v", order[:5])
	}
	// Each role block starts at nhsIdCode, and the & in org names is escaped.
	for i, n := range order {
		if n == "uniqueIdentifier" {
			j := i
			for order[j] != "nhsIdCode" {
				j--
			}
			if i-j > 5 {
				t.Fatalf("uniqueIdentifier far from its nhsIdCode: %v", order[j:i+1])
			}
		}
	}
	if !strings.Contains(raw, "SAHA SN &amp; DE G") || strings.Contains(raw, "SAHA SN & DE G") {
		t.Fatal("SAML text not escaped")
	}
	if !strings.Contains(raw, `<saml:AttributeValue>"Admin &amp; Clerical":"Admin":"Registration Authority Agent"</saml:AttributeValue>`) {
		t.Fatal("nhsJobRole value not in the real shape")
	}
}

func TestRoleAssertionDeadTickets(t *testing.T) {
	s := newTestSim(t, func(c *Config) { c.SessionTime = 10 * time.Minute; c.MaxSessionTime = 30 * time.Minute })
	alice := DemoUsers()[0]
	live := func() cis.Ticket {
		tk, err := s.CreateSession(alice.UID, alice.Roles[0].ID, cis.ModeLive)
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	denied := func(name string, tk cis.Ticket) {
		t.Helper()
		d, raw := s.roleAssertion(t, tk)
		if d.Status.Code.Value != "samlp:Requester" || d.Status.Code.Sub == nil || d.Status.Code.Sub.Value != "samlp:RequestDenied" || d.Assertion != nil {
			t.Fatalf("%s: %s", name, raw)
		}
		if tk != "" && strings.Contains(raw, tk.Reveal()) {
			t.Fatalf("%s: denial echoes the ticket", name)
		}
	}
	denied("empty", "")
	denied("garbage", "AQIC123@AAJTSQACMDE=#")
	denied("unknown", cis.Ticket("AQIC"+strings.Repeat("A", 43)+"=@AAJTSQACMDE=#"))

	tk := live()
	if err := s.LogoutTicket(tk); err != nil {
		t.Fatal(err)
	}
	denied("logged out", tk)

	// Idle timeout: used every 9 minutes it lives on, until the maximum.
	tk = live()
	for i := 0; i < 3; i++ {
		s.clock.Advance(9 * time.Minute)
		if d, _ := s.roleAssertion(t, tk); d.Assertion == nil {
			t.Fatalf("session died after %d idle periods", i+1)
		}
	}
	s.clock.Advance(4 * time.Minute) // 31 minutes old
	denied("past max lifetime", tk)

	tk = live()
	s.clock.Advance(10 * time.Minute)
	denied("idle", tk)

	tk = live()
	id, err := s.SessionID(tk)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ExpireSession(id); err != nil {
		t.Fatal(err)
	}
	denied("expired by control", tk)
	if err := s.ExpireSession(id); err == nil {
		t.Fatal("expiring twice succeeded")
	}
}

func TestRoleAssertionQueryQuirks(t *testing.T) {
	s := newTestSim(t, nil)
	alice := DemoUsers()[0]
	tk, _ := s.CreateSession(alice.UID, alice.Roles[0].ID, cis.ModeLive)
	// Two tokens: refused (which one is meant?).
	w := s.do("GET", "/saml/RoleAssertion?token="+url.QueryEscape(tk.Reveal())+"&token=x", "")
	if strings.Contains(w.Body.String(), "samlp:Success") {
		t.Fatal("two tokens accepted")
	}
	// Unencoded ticket: '+' turns into a space and '#' starts a fragment,
	// which HTTP clients do not send.
	raw, _, _ := strings.Cut(tk.Reveal(), "#")
	w = s.do("GET", "/saml/RoleAssertion?token="+raw, "")
	if strings.Contains(w.Body.String(), "samlp:Success") {
		t.Fatal("unencoded ticket accepted")
	}
	if w := s.do("GET", "/saml/roleassertion?token=x", ""); w.Code != http.StatusNotFound {
		t.Fatalf("path is case sensitive: got %d", w.Code)
	}
}
