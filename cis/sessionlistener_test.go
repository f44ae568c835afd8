package cis

import (
	"encoding/xml"
	"errors"
	"strings"
	"testing"
)

// decodedListenerRequest is what a server reads from an AddSessionListener
// request, decoded here with encoding/xml as an independent reader.
type decodedListenerRequest struct {
	Vers, SvcID, SessionID, URL string
}

func decodeListenerRequest(t *testing.T, body []byte) decodedListenerRequest {
	t.Helper()
	var outer struct {
		XMLName xml.Name `xml:"RequestSet"`
		Vers    string   `xml:"vers,attr"`
		SvcID   string   `xml:"svcid,attr"`
		Request []string `xml:"Request"`
	}
	if err := xml.Unmarshal(body, &outer); err != nil || len(outer.Request) != 1 {
		t.Fatalf("RequestSet: %v, %d requests\n%s", err, len(outer.Request), body)
	}
	var inner struct {
		XMLName xml.Name `xml:"SessionRequest"`
		Add     struct {
			SessionID string `xml:"SessionID"`
			URL       string `xml:"URL"`
		} `xml:"AddSessionListener"`
	}
	if err := xml.Unmarshal([]byte(outer.Request[0]), &inner); err != nil {
		t.Fatalf("SessionRequest: %v\n%s", err, outer.Request[0])
	}
	return decodedListenerRequest{outer.Vers, outer.SvcID, inner.Add.SessionID, inner.Add.URL}
}

func TestAddSessionListenerRequest(t *testing.T) {
	for _, c := range []struct{ ticket, url string }{
		{notifiedTicket, "http://app.example:8080/cis/notify"},
		{notifiedTicket, "https://app.example/cis/notify?a=1&b=<2>"},
	} {
		body, err := AddSessionListenerRequest(Ticket(c.ticket), c.url)
		if err != nil {
			t.Fatalf("%s: %v", c.url, err)
		}
		got := decodeListenerRequest(t, body)
		if got != (decodedListenerRequest{"1.0", "session", c.ticket, c.url}) {
			t.Errorf("decoded %+v", got)
		}
	}
}

func TestAddSessionListenerRequestRefuses(t *testing.T) {
	for name, c := range map[string]struct{ ticket, url string }{
		"empty ticket":     {"", "http://a/n"},
		"ticket space":     {notifiedTicket + " ", "http://a/n"},
		"ticket non-ASCII": {notifiedTicket + "é", "http://a/n"},
		"ticket newline":   {notifiedTicket + "\n", "http://a/n"},
		"relative":         {notifiedTicket, "/cis/notify"},
		"no scheme":        {notifiedTicket, "app.example/cis/notify"},
		"ftp":              {notifiedTicket, "ftp://app.example/n"},
		"javascript":       {notifiedTicket, "javascript:alert(1)"},
		"no host":          {notifiedTicket, "http:///n"},
		"port only":        {notifiedTicket, "http://:8080/n"},
		"user info":        {notifiedTicket, "http://u:p@app.example/n"},
		"fragment":         {notifiedTicket, "http://app.example/n#x"},
		"empty fragment":   {notifiedTicket, "http://app.example/n#"},
		"space":            {notifiedTicket, "http://app.example/a b"},
		"control":          {notifiedTicket, "http://app.example/\x7f"},
		"too long":         {notifiedTicket, "http://app.example/" + strings.Repeat("a", MaxListenerURLLen)},
		"empty":            {notifiedTicket, ""},
	} {
		body, err := AddSessionListenerRequest(Ticket(c.ticket), c.url)
		if err == nil {
			t.Errorf("%s: accepted:\n%s", name, body)
			continue
		}
		if c.ticket != "" && strings.Contains(err.Error(), c.ticket) {
			t.Errorf("%s: error quotes the ticket: %v", name, err)
		}
	}
}

// listenerAnswer wraps an AddSessionListener answer as OpenSSO sends it.
func listenerAnswer(svcid, inner string) string {
	return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><ResponseSet vers="1.0" svcid="` + svcid + `" reqid="1"><Response><![CDATA[<SessionResponse vers="1.0" reqid="0">` +
		inner + `</SessionResponse>]]></Response></ResponseSet>`
}

func TestParseAddSessionListenerResponse(t *testing.T) {
	ok := "<AddSessionListener><OK></OK></AddSessionListener>"
	for name, c := range map[string]struct {
		body string
		want error // nil: success
	}{
		"ok":            {listenerAnswer("session", ok), nil},
		"ok Session":    {listenerAnswer("Session", ok), nil},
		"ok empty tag":  {listenerAnswer("session", "<AddSessionListener>\n <OK/>\n</AddSessionListener>"), nil},
		"ok escaped":    {`<ResponseSet vers="1.0" svcid="session" reqid="1"><Response>&lt;SessionResponse vers="1.0" reqid="0"&gt;&lt;AddSessionListener&gt;&lt;OK&gt;&lt;/OK&gt;&lt;/AddSessionListener&gt;&lt;/SessionResponse&gt;</Response></ResponseSet>`, nil},
		"invalid":       {listenerAnswer("session", "<AddSessionListener><Exception>"+notifiedTicket+" Invalid session ID.</Exception></AddSessionListener>"), ErrSessionInvalid},
		"refused":       {listenerAnswer("session", "<AddSessionListener><Exception>"+notifiedTicket+" Too many session listeners.</Exception></AddSessionListener>"), ErrListenerRefused},
		"other svcid":   {listenerAnswer("naming", ok), ErrMalformed},
		"GetSession":    {listenerAnswer("session", "<GetSession><OK/></GetSession>"), ErrMalformed},
		"both":          {listenerAnswer("session", "<AddSessionListener><OK/><Exception>x</Exception></AddSessionListener>"), ErrMalformed},
		"two answers":   {listenerAnswer("session", ok+ok), ErrMalformed},
		"empty":         {listenerAnswer("session", "<AddSessionListener></AddSessionListener>"), ErrMalformed},
		"empty twice":   {listenerAnswer("session", "<AddSessionListener/>"+ok), ErrMalformed},
		"nothing":       {listenerAnswer("session", ""), ErrMalformed},
		"OK with text":  {listenerAnswer("session", "<AddSessionListener><OK>yes</OK></AddSessionListener>"), ErrMalformed},
		"two responses": {strings.Replace(listenerAnswer("session", ok), "</ResponseSet>", "<Response/></ResponseSet>", 1), ErrMalformed},
		"no response":   {`<ResponseSet vers="1.0" svcid="session" reqid="1"></ResponseSet>`, ErrMalformed},
		"doctype":       {"<!DOCTYPE ResponseSet>" + listenerAnswer("session", ok), ErrMalformed},
		"html":          {"<html><body>Service unavailable</body></html>", ErrMalformed},
		"too large":     {listenerAnswer("session", ok) + strings.Repeat(" ", 64<<10), ErrTooLarge},
	} {
		err := ParseAddSessionListenerResponse([]byte(c.body))
		switch {
		case c.want == nil && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%s: error %v, want %v", name, err, c.want)
		case err != nil && strings.Contains(err.Error(), "AQIC"):
			t.Errorf("%s: error quotes the ticket: %v", name, err)
		}
	}
}
