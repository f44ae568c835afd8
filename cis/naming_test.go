package cis

import (
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func readNamingFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "naming", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// namingAnswer wraps GetNamingProfile's content as the naming service
// sends it.
func namingAnswer(svcid, profile string) string {
	return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><ResponseSet vers="1.0" svcid="` + svcid +
		`" reqid="1"><Response><![CDATA[<NamingResponse vers="1.0" reqid="0"><GetNamingProfile>` + profile +
		`</GetNamingProfile></NamingResponse>]]></Response></ResponseSet>`
}

func namingAttr(name, value string) string {
	return `<Attribute name="` + name + `" value="` + value + `"></Attribute>`
}

// The request, read back with encoding/xml as an independent reader: a
// RequestSet of the naming service holding one NamingRequest with an empty
// GetNamingProfile and no session.
func TestNamingProfileRequest(t *testing.T) {
	var outer struct {
		XMLName xml.Name `xml:"RequestSet"`
		Vers    string   `xml:"vers,attr"`
		SvcID   string   `xml:"svcid,attr"`
		ReqID   string   `xml:"reqid,attr"`
		Request []string `xml:"Request"`
	}
	if err := xml.Unmarshal(NamingProfileRequest(), &outer); err != nil || len(outer.Request) != 1 {
		t.Fatalf("RequestSet: %v, %d requests", err, len(outer.Request))
	}
	if outer.Vers != "1.0" || outer.SvcID != "com.iplanet.am.naming" || outer.ReqID == "" {
		t.Errorf("envelope %+v", outer)
	}
	var inner struct {
		XMLName xml.Name  `xml:"NamingRequest"`
		Vers    string    `xml:"vers,attr"`
		ReqID   string    `xml:"reqid,attr"`
		SessID  *string   `xml:"sessid,attr"`
		Get     *struct{} `xml:"GetNamingProfile"`
	}
	if err := xml.Unmarshal([]byte(outer.Request[0]), &inner); err != nil {
		t.Fatalf("NamingRequest: %v", err)
	}
	if inner.Vers != "3.0" || inner.ReqID == "" || inner.Get == nil || inner.SessID != nil {
		t.Errorf("NamingRequest %+v", inner)
	}
}

// OpenSSO's own answer to a request naming no session: every URL a
// template; the session service's is filled in from the naming service's
// URL.
func TestParseNamingProfileResponseOpenSSO(t *testing.T) {
	p, err := ParseNamingProfileResponse(readNamingFixture(t, "opensso-template.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Attributes) != 14 || p.Attributes[0].Name != "iplanet-am-naming-samlawareservlet-url" {
		t.Fatalf("attributes %v", p.Attributes)
	}
	if v, ok := p.Get("am_load_balancer_cookie"); !ok || v != "amlbcookie" {
		t.Errorf("am_load_balancer_cookie = %q, %v", v, ok)
	}
	if v, ok := p.Get("iplanet-am-platform-site-list"); !ok || v != "" {
		t.Errorf("empty value = %q, %v", v, ok)
	}
	for naming, want := range map[string]string{
		"https://sbapi.vn03.national.ncrs.nhs.uk/amserver/namingservice":      "https://sbapi.vn03.national.ncrs.nhs.uk:443/amserver/sessionservice",
		"https://sbapi.example:8443/amserver/namingservice":                   "https://sbapi.example:8443/amserver/sessionservice",
		"https://sbapi.example/sso/amserver/namingservice":                    "https://sbapi.example:443/sso/amserver/sessionservice",
		"http://127.0.0.1:7443/amserver/namingservice":                        "http://127.0.0.1:7443/amserver/sessionservice",
		"https://[2001:db8::1]/amserver/namingservice":                        "https://[2001:db8::1]:443/amserver/sessionservice",
		"https://sbapi.vn03.national.ncrs.nhs.uk:443/amserver/namingservice/": "https://sbapi.vn03.national.ncrs.nhs.uk:443/amserver/namingservice/sessionservice",
	} {
		got, err := p.SessionServiceURL(naming)
		if err != nil || got != want {
			t.Errorf("from %s: %q, %v; want %q", naming, got, err, want)
		}
	}
}

func TestParseNamingProfileResponseRefuses(t *testing.T) {
	session := namingAttr(NamingSessionURLAttribute, "https://sbapi.example/amserver/sessionservice")
	ok := namingAnswer(namingServiceID, session)
	var many string
	for i := range MaxNamingAttributes + 1 {
		many += namingAttr("a"+strconv.Itoa(i), "v")
	}
	for name, c := range map[string]struct {
		body string
		want error
	}{
		"exception":          {string(readNamingFixture(t, "exception.xml")), ErrUnavailable},
		"svcid session":      {namingAnswer("session", session), ErrMalformed},
		"svcid case":         {namingAnswer("COM.iplanet.am.naming", session), ErrMalformed},
		"no svcid":           {strings.Replace(ok, ` svcid="com.iplanet.am.naming"`, "", 1), ErrMalformed},
		"no reqid":           {strings.Replace(ok, `<NamingResponse vers="1.0" reqid="0">`, `<NamingResponse vers="1.0">`, 1), ErrMalformed},
		"attribute no value": {namingAnswer(namingServiceID, `<Attribute name="x"></Attribute>`), ErrMalformed},
		"attribute content":  {namingAnswer(namingServiceID, `<Attribute name="x" value="y">z</Attribute>`), ErrMalformed},
		"attribute twice":    {namingAnswer(namingServiceID, session+session), ErrMalformed},
		"attr and exception": {namingAnswer(namingServiceID, session+"<Exception>x</Exception>"), ErrMalformed},
		"exception and attr": {namingAnswer(namingServiceID, "<Exception>x</Exception>"+session), ErrMalformed},
		"two exceptions":     {namingAnswer(namingServiceID, "<Exception>x</Exception><Exception>y</Exception>"), ErrMalformed},
		"unknown element":    {namingAnswer(namingServiceID, session+"<Other/>"), ErrMalformed},
		"text":               {namingAnswer(namingServiceID, session+"text"), ErrMalformed},
		"two profiles":       {strings.Replace(ok, "</NamingResponse>", "<GetNamingProfile/></NamingResponse>", 1), ErrMalformed},
		"no profile":         {strings.Replace(strings.Replace(ok, "<GetNamingProfile>", "", 1), "</GetNamingProfile>", "", 1), ErrMalformed},
		"session response":   {strings.ReplaceAll(ok, "NamingResponse", "SessionResponse"), ErrMalformed},
		"two responses":      {strings.Replace(ok, "</ResponseSet>", "<Response/></ResponseSet>", 1), ErrMalformed},
		"no response":        {`<ResponseSet vers="1.0" svcid="com.iplanet.am.naming" reqid="1"></ResponseSet>`, ErrMalformed},
		"second root":        {ok + "<ResponseSet/>", ErrMalformed},
		"doctype":            {"<!DOCTYPE ResponseSet>" + ok, ErrMalformed},
		"namespace":          {strings.Replace(ok, "<ResponseSet ", `<ResponseSet xmlns="urn:x" `, 1), ErrMalformed},
		"html":               {"<html><body>Service unavailable</body></html>", ErrMalformed},
		"empty":              {"", ErrMalformed},
		"too many":           {namingAnswer(namingServiceID, many), ErrMalformed},
		"too large":          {ok + strings.Repeat(" ", MaxNamingResponseSize), ErrTooLarge},
	} {
		p, err := ParseNamingProfileResponse([]byte(c.body))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, %v; want %v", name, p, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "AQIC") {
			t.Errorf("%s: error quotes the exception's ticket: %v", name, err)
		}
	}
	// Names from the answer are quoted in part only.
	huge := strings.Repeat("n", 100_000)
	for label, doc := range map[string]string{
		"element":         namingAnswer(namingServiceID, "<"+huge+"/>"),
		"attribute twice": namingAnswer(namingServiceID, namingAttr(huge, "1")+namingAttr(huge, "2")),
		"root":            "<" + huge + "/>",
	} {
		_, err := ParseNamingProfileResponse([]byte(doc))
		checkErrorBounded(t, label, err)
	}
	// An empty profile is well formed (the DTD allows no attribute); it
	// names no session service.
	p, err := ParseNamingProfileResponse([]byte(namingAnswer(namingServiceID, "")))
	if err != nil || len(p.Attributes) != 0 {
		t.Fatalf("empty profile: %v, %v", p, err)
	}
	if _, err := p.SessionServiceURL("https://sbapi.example/amserver/namingservice"); !errors.Is(err, ErrMalformed) {
		t.Errorf("no session URL: %v", err)
	}
}

// The session service's URL is where tickets go: nothing but https (or
// http to a loopback host) without user information, query or fragment.
func TestNamingSessionServiceURLRefuses(t *testing.T) {
	const naming = "https://sbapi.example/amserver/namingservice"
	for name, value := range map[string]string{
		"http off loopback":    "http://sbapi.example/amserver/sessionservice",
		"http template":        "http://%host:%port%uri/sessionservice", // %host is sbapi.example
		"user info":            "https://u:p@sbapi.example/amserver/sessionservice",
		"query":                "https://sbapi.example/amserver/sessionservice?a=b",
		"fragment":             "https://sbapi.example/amserver/sessionservice#x",
		"relative":             "/amserver/sessionservice",
		"ftp":                  "ftp://sbapi.example/amserver/sessionservice",
		"unknown placeholder":  "%protocol://%server:%port%uri/sessionservice",
		"space":                "https://sbapi.example/am server/sessionservice",
		"empty":                "",
		"too long":             "https://sbapi.example/" + strings.Repeat("a", maxNamedURLLen),
		"too long once filled": "%protocol://%host:%port" + strings.Repeat("%uri", 300),
	} {
		p := &NamingProfile{Attributes: []NamingAttribute{{NamingSessionURLAttribute, value}}}
		got, err := p.SessionServiceURL(naming)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %q, %v", name, got, err)
		}
		if err != nil && value != "" && strings.Contains(err.Error(), value) {
			t.Errorf("%s: error quotes the value: %v", name, err)
		}
	}
	// An answer naming the session service outright is taken as it is.
	p := &NamingProfile{Attributes: []NamingAttribute{{NamingSessionURLAttribute, "https://other.example:8443/amserver/sessionservice"}}}
	if got, err := p.SessionServiceURL(naming); err != nil || got != "https://other.example:8443/amserver/sessionservice" {
		t.Errorf("plain URL: %q, %v", got, err)
	}
}
