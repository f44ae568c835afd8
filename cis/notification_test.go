package cis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const notifiedTicket = "AQIC5wM2LY4SfczntBbXvEAOuECbqMY3J4NW3byH6xwgkGE=@AAJTSQACMDE=#"

// readTestdata reads testdata/dir/name or fails the test.
func readTestdata(t testing.TB, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readNotificationFixture(t testing.TB, name string) []byte {
	t.Helper()
	return readTestdata(t, "notification", name)
}

func TestParseNotificationSetLogout(t *testing.T) {
	set, err := ParseNotificationSet(readNotificationFixture(t, "logout.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if set.Version != "1.0" || set.ServiceID != "session" || set.ID != "215" || len(set.Events) != 1 {
		t.Fatalf("set = %v", set)
	}
	ev := set.Events[0]
	want := OpenSSOSession{
		Ticket: notifiedTicket, Type: "user", ClientID: "uid=555000000001,ou=People,o=nhs", ClientDomain: "o=nhs",
		MaxTime: 600 * time.Minute, MaxIdle: 600 * time.Minute, MaxCaching: 3 * time.Minute,
		TimeIdle: 12 * time.Second, TimeLeft: 35988 * time.Second, State: SessionStateDestroyed,
	}
	got := ev.Session
	got.Properties = nil
	if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) || got.Ticket != want.Ticket {
		t.Errorf("session = %v, want %v", got, want)
	}
	props := ev.Session.Properties
	if len(props) != 5 || props[0] != (SessionProperty{"UserId", "555000000001"}) {
		t.Errorf("properties = %d, first %q", len(props), props[0].Name)
	}
	if v, ok := props.Get("Organization"); !ok || v != "o=nhs & friends" {
		t.Errorf("Organization = %q, %v", v, ok)
	}
	if v, _ := props.Get("SessionHandle"); v != "shandle:"+notifiedTicket {
		t.Error("SessionHandle not read")
	}
	if _, ok := props.Get("Nope"); ok {
		t.Error("Get found a property that is not there")
	}
	if ev.Type != SessionLogout || ev.Type.String() != "logout" || !ev.Time.Equal(time.UnixMilli(1764662400123)) ||
		ev.Version != "1.0" || ev.ID != "216" || !ev.Ended() {
		t.Errorf("event = %v", ev)
	}
}

func TestParseNotificationSetEscapedAndSvcidSpelling(t *testing.T) {
	set, err := ParseNotificationSet(readNotificationFixture(t, "idle-escaped.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if set.ServiceID != "Session" || len(set.Events) != 1 {
		t.Fatalf("set = %v", set)
	}
	ev := set.Events[0]
	// Type and Time before Session; stype and state absent: their DTD defaults.
	if ev.Type != SessionIdleTimeout || ev.Session.Ticket != notifiedTicket || ev.Session.Type != "user" ||
		ev.Session.State != SessionStateInvalid || ev.Session.MaxIdle != 15*time.Minute || ev.Session.TimeIdle != 900*time.Second || !ev.Ended() {
		t.Errorf("event = %v", ev)
	}
	if v, _ := ev.Session.Properties.Get("UserId"); v != "555000000001" {
		t.Errorf("UserId = %q", v)
	}
}

func TestParseNotificationSetTwoEvents(t *testing.T) {
	set, err := ParseNotificationSet(readNotificationFixture(t, "two-events.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Events) != 2 {
		t.Fatalf("%d events", len(set.Events))
	}
	a, b := set.Events[0], set.Events[1]
	if a.Type != SessionPropertyChanged || a.Ended() || a.Session.Type != "application" || a.Session.TimeLeft != math.MaxInt64 || a.Session.ClientID != "" {
		t.Errorf("first = %v", a)
	}
	if b.Type != 42 || b.Type.String() != "type 42" || b.Session.Ticket != "AQICother@AAJTSQACMDE=#" ||
		b.Session.TimeLeft != -5*time.Second || b.Session.State != SessionStateInactive || b.Ended() || len(b.Session.Properties) != 0 {
		t.Errorf("second = %v", b)
	}
}

func TestSessionEventTypeString(t *testing.T) {
	want := []string{"creation", "idle timeout", "max timeout", "logout", "reactivation", "destroy", "property changed", "quota exhausted", "type 8"}
	for i, w := range want {
		if got := SessionEventType(i).String(); got != w {
			t.Errorf("%d: %q, want %q", i, got, w)
		}
	}
	if got := SessionEventType(-1).String(); got != "type -1" {
		t.Errorf("-1: %q", got)
	}
}

func TestSessionEventEnded(t *testing.T) {
	for _, c := range []struct {
		typ   SessionEventType
		state string
		ended bool
	}{
		{SessionCreated, SessionStateValid, false},
		{SessionIdleTimeout, SessionStateInvalid, true},
		{SessionMaxTimeout, SessionStateInvalid, true},
		{SessionLogout, SessionStateDestroyed, true},
		{SessionReactivated, SessionStateValid, false},
		{SessionDestroyed, SessionStateDestroyed, true},
		{SessionDestroyed, SessionStateValid, true},
		{SessionPropertyChanged, SessionStateValid, false},
		{SessionPropertyChanged, SessionStateDestroyed, true},
		{SessionQuotaExhausted, SessionStateValid, false},
		{99, SessionStateInvalid, true},
		{99, SessionStateInactive, false},
		{99, "odd", false},
	} {
		e := SessionEvent{Type: c.typ, Session: OpenSSOSession{State: c.state}}
		if e.Ended() != c.ended {
			t.Errorf("%v/%s: Ended %v", c.typ, c.state, !c.ended)
		}
	}
}

// notificationDoc builds a NotificationSet around inner documents, in CDATA.
func notificationDoc(svcid string, inner ...string) string {
	var b strings.Builder
	b.WriteString(`<NotificationSet vers="1.0" svcid="` + svcid + `" notid="1">`)
	for _, in := range inner {
		b.WriteString("<Notification><![CDATA[" + in + "]]></Notification>")
	}
	b.WriteString("</NotificationSet>")
	return b.String()
}

const sessionAttrs = `sid="` + notifiedTicket + `" cid="c" cdomain="d" maxtime="1" maxidle="1" maxcaching="1" timeidle="1" timeleft="1"`

func innerDoc(session, rest string) string {
	return `<SessionNotification vers="1.0" notid="2">` + session + rest + `</SessionNotification>`
}

var goodSession = `<Session ` + sessionAttrs + ` state="destroyed"><Property name="UserId" value="u"></Property></Session>`

const goodRest = `<Type>3</Type><Time>1</Time>`

func TestParseNotificationSetOrders(t *testing.T) {
	typ, at := `<Type>3</Type>`, `<Time>1</Time>`
	for _, order := range [][3]string{{goodSession, typ, at}, {typ, goodSession, at}, {at, typ, goodSession}, {typ, at, goodSession}} {
		doc := notificationDoc("session", `<SessionNotification vers="1.0" notid="2">`+"\n "+order[0]+"\n"+order[1]+"<!-- c -->"+order[2]+"</SessionNotification>")
		set, err := ParseNotificationSet([]byte(doc))
		if err != nil {
			t.Fatalf("%v: %v", order, err)
		}
		if e := set.Events[0]; e.Type != SessionLogout || e.Session.Ticket != notifiedTicket || !e.Time.Equal(time.UnixMilli(1)) {
			t.Errorf("%v: %v", order, e)
		}
	}
}

func TestParseNotificationSetMalformed(t *testing.T) {
	good := innerDoc(goodSession, goodRest)
	if _, err := ParseNotificationSet([]byte(notificationDoc("session", good))); err != nil {
		t.Fatalf("base case: %v", err)
	}
	many := func(n int, s string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = s
		}
		return out
	}
	var props strings.Builder
	for i := range MaxSessionProperties + 1 {
		fmt.Fprintf(&props, `<Property name="p%d" value="v"/>`, i)
	}
	cases := map[string]string{
		"empty":                  "",
		"other svcid":            notificationDoc("agentconfig", good),
		"SESSION svcid":          notificationDoc("SESSION", good),
		"no notifications":       notificationDoc("session"),
		"too many":               notificationDoc("session", many(MaxNotificationsPerSet+1, good)...),
		"doctype outer":          `<!DOCTYPE NotificationSet SYSTEM "x">` + notificationDoc("session", good),
		"doctype inner":          notificationDoc("session", `<!DOCTYPE x>`+good),
		"entity":                 `<!DOCTYPE x [<!ENTITY e "boom">]>` + notificationDoc("session", good),
		"namespace root":         strings.Replace(notificationDoc("session", good), "<NotificationSet ", `<NotificationSet xmlns="urn:x" `, 1),
		"prefixed element":       notificationDoc("session", `<x:SessionNotification xmlns:x="urn:x" vers="1.0" notid="2">`+goodSession+goodRest+`</x:SessionNotification>`),
		"prefixed attribute":     notificationDoc("session", strings.Replace(good, `<Session `, `<Session x:y="1" `, 1)),
		"second root":            notificationDoc("session", good) + "<NotificationSet/>",
		"second inner root":      notificationDoc("session", good+good),
		"text in set":            strings.Replace(notificationDoc("session", good), "<Notification>", "hello<Notification>", 1),
		"text after root":        notificationDoc("session", good) + "x",
		"proc inst":              notificationDoc("session", good) + "<?php x?>",
		"unknown set child":      strings.Replace(notificationDoc("session", good), "<Notification>", "<Other/><Notification>", 1),
		"element in notif":       `<NotificationSet vers="1.0" svcid="session" notid="1"><Notification>` + good + `</Notification></NotificationSet>`,
		"empty notification":     notificationDoc("session", ""),
		"missing notid":          strings.Replace(notificationDoc("session", good), ` notid="1"`, "", 1),
		"duplicate set attr":     strings.Replace(notificationDoc("session", good), ` notid="1"`, ` notid="1" notid="2"`, 1),
		"wrong inner root":       notificationDoc("session", `<SessionResponse/>`),
		"inner lacks notid":      notificationDoc("session", strings.Replace(good, ` notid="2"`, "", 1)),
		"second Session":         notificationDoc("session", innerDoc(goodSession+goodSession, goodRest)),
		"second Type":            notificationDoc("session", innerDoc(goodSession, goodRest+"<Type>3</Type>")),
		"second Time":            notificationDoc("session", innerDoc(goodSession, goodRest+"<Time>3</Time>")),
		"no Time":                notificationDoc("session", innerDoc(goodSession, "<Type>3</Type>")),
		"no Type":                notificationDoc("session", innerDoc(goodSession, "<Time>3</Time>")),
		"no Session":             notificationDoc("session", innerDoc("", goodRest)),
		"unknown inner":          notificationDoc("session", innerDoc(goodSession, goodRest+"<Extra/>")),
		"Type not number":        notificationDoc("session", innerDoc(goodSession, "<Type>logout</Type><Time>1</Time>")),
		"Type negative":          notificationDoc("session", innerDoc(goodSession, "<Type>-1</Type><Time>1</Time>")),
		"Type too big":           notificationDoc("session", innerDoc(goodSession, "<Type>2147483648</Type><Time>1</Time>")),
		"Time negative":          notificationDoc("session", innerDoc(goodSession, "<Type>3</Type><Time>-1</Time>")),
		"Time overflow":          notificationDoc("session", innerDoc(goodSession, "<Type>3</Type><Time>99999999999999999999</Time>")),
		"Time child":             notificationDoc("session", innerDoc(goodSession, "<Type>3</Type><Time><b/></Time>")),
		"no sid":                 notificationDoc("session", innerDoc(strings.Replace(goodSession, `sid="`+notifiedTicket+`" `, "", 1), goodRest)),
		"empty sid":              notificationDoc("session", innerDoc(strings.Replace(goodSession, notifiedTicket, "", 1), goodRest)),
		"sid with space":         notificationDoc("session", innerDoc(strings.Replace(goodSession, notifiedTicket, notifiedTicket+" x", 1), goodRest)),
		"sid too long":           notificationDoc("session", innerDoc(strings.Replace(goodSession, notifiedTicket, strings.Repeat("A", 2049), 1), goodRest)),
		"no cid":                 notificationDoc("session", innerDoc(strings.Replace(goodSession, ` cid="c"`, "", 1), goodRest)),
		"no timeleft":            notificationDoc("session", innerDoc(strings.Replace(goodSession, ` timeleft="1"`, "", 1), goodRest)),
		"maxtime not number":     notificationDoc("session", innerDoc(strings.Replace(goodSession, `maxtime="1"`, `maxtime="1m"`, 1), goodRest)),
		"maxidle blank":          notificationDoc("session", innerDoc(strings.Replace(goodSession, `maxidle="1"`, `maxidle=""`, 1), goodRest)),
		"duplicate sid":          notificationDoc("session", innerDoc(strings.Replace(goodSession, `<Session `, `<Session sid="AQICx@y#" `, 1), goodRest)),
		"duplicate property":     notificationDoc("session", innerDoc(strings.Replace(goodSession, `</Session>`, `<Property name="UserId" value="v"/></Session>`, 1), goodRest)),
		"property without value": notificationDoc("session", innerDoc(strings.Replace(goodSession, `</Session>`, `<Property name="x"/></Session>`, 1), goodRest)),
		"property child":         notificationDoc("session", innerDoc(strings.Replace(goodSession, `</Session>`, `<Property name="x" value="y"><z/></Property></Session>`, 1), goodRest)),
		"property text":          notificationDoc("session", innerDoc(strings.Replace(goodSession, `</Session>`, `<Property name="x" value="y">t</Property></Session>`, 1), goodRest)),
		"too many properties":    notificationDoc("session", innerDoc(`<Session `+sessionAttrs+`>`+props.String()+`</Session>`, goodRest)),
		"unknown session child":  notificationDoc("session", innerDoc(strings.Replace(goodSession, `</Session>`, `<Secret/></Session>`, 1), goodRest)),
		"mismatched end":         notificationDoc("session", `<SessionNotification vers="1.0" notid="2">`+goodSession+goodRest+`</SessionNotificatio>`),
		"unclosed":               `<NotificationSet vers="1.0" svcid="session" notid="1"><Notification>`,
		"unknown entity":         notificationDoc("session", innerDoc(strings.Replace(goodSession, `value="u"`, `value="&ticket;"`, 1), goodRest)),
		"latin1 declaration":     `<?xml version="1.0" encoding="ISO-8859-1"?>` + notificationDoc("session", good),
		"late declaration":       "<!-- c --><?xml version=\"1.0\"?>" + notificationDoc("session", good),
		"control character":      notificationDoc("session", innerDoc(strings.Replace(goodSession, `value="u"`, "value=\"\x01\"", 1), goodRest)),
	}
	for name, doc := range cases {
		set, err := ParseNotificationSet([]byte(doc))
		if err == nil {
			t.Errorf("%s: parsed: %v", name, set)
			continue
		}
		var pe *ParseError
		if !errors.As(err, &pe) || !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %v is not a *ParseError wrapping ErrMalformed", name, err)
		}
		if strings.Contains(err.Error(), notifiedTicket) || strings.Contains(err.Error(), "AQIC") {
			t.Errorf("%s: error quotes the ticket: %v", name, err)
		}
	}
}

func TestParseNotificationSetTooLarge(t *testing.T) {
	doc := notificationDoc("session", innerDoc(goodSession, goodRest))
	pad := strings.Repeat(" ", MaxNotificationSetSize-len(doc))
	if _, err := ParseNotificationSet([]byte(doc + pad)); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	_, err := ParseNotificationSet([]byte(doc + pad + " "))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
}

// TestParseNotificationSetLimits checks the counts at their limits pass.
func TestParseNotificationSetLimits(t *testing.T) {
	var props strings.Builder
	for i := range MaxSessionProperties {
		fmt.Fprintf(&props, `<Property name="p%d" value="v"/>`, i)
	}
	set, err := ParseNotificationSet([]byte(notificationDoc("session", innerDoc(`<Session `+sessionAttrs+`>`+props.String()+`</Session>`, goodRest))))
	if err != nil || len(set.Events[0].Session.Properties) != MaxSessionProperties {
		t.Fatalf("%d properties: %v", MaxSessionProperties, err)
	}
	docs := make([]string, MaxNotificationsPerSet)
	for i := range docs {
		docs[i] = innerDoc(goodSession, goodRest)
	}
	set, err = ParseNotificationSet([]byte(notificationDoc("session", docs...)))
	if err != nil || len(set.Events) != MaxNotificationsPerSet {
		t.Fatalf("%d notifications: %v", MaxNotificationsPerSet, err)
	}
}

func TestClampDuration(t *testing.T) {
	for _, c := range []struct {
		n    int64
		unit time.Duration
		want time.Duration
	}{
		{5, time.Minute, 5 * time.Minute},
		{-5, time.Second, -5 * time.Second},
		{math.MaxInt64, time.Second, math.MaxInt64},
		{math.MaxInt64 / int64(time.Minute), time.Minute, time.Duration(math.MaxInt64/int64(time.Minute)) * time.Minute},
		{math.MaxInt64/int64(time.Minute) + 1, time.Minute, math.MaxInt64},
		{math.MinInt64, time.Second, math.MinInt64},
	} {
		if got := clampDuration(c.n, c.unit); got != c.want {
			t.Errorf("clampDuration(%d, %s) = %d, want %d", c.n, c.unit, got, c.want)
		}
	}
}

// TestNotificationPrintingRedacts prints parsed notifications every way a
// program might and checks the ticket (the sid, and the SessionHandle
// property that repeats it) never shows.
func TestNotificationPrintingRedacts(t *testing.T) {
	set, err := ParseNotificationSet(readNotificationFixture(t, "logout.xml"))
	if err != nil {
		t.Fatal(err)
	}
	ev := set.Events[0]
	var out []string
	for _, v := range []any{*set, set, ev, &ev, ev.Session, ev.Session.Properties, set.Events} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%X"} {
			out = append(out, fmt.Sprintf(verb, v))
		}
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(j))
		var logged bytes.Buffer
		slog.New(slog.NewJSONHandler(&logged, nil)).Info("event", "v", v)
		slog.New(slog.NewTextHandler(&logged, nil)).Info("event", "v", v)
		out = append(out, logged.String())
	}
	for _, s := range out {
		if strings.Contains(s, "AQIC") || strings.Contains(s, "AAJTSQACMDE") {
			t.Errorf("printed the ticket: %s", s)
		}
	}
	if s := fmt.Sprint(ev); !strings.Contains(s, "logout") || !strings.Contains(s, "SessionHandle") || !strings.Contains(s, "destroyed") {
		t.Errorf("printing lost the useful parts: %s", s)
	}
}
