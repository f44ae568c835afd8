package cis

import (
	"bytes"
	"errors"
	"strconv"
	"testing"
	"time"
)

// Seeds beyond these are in testdata/fuzz/FuzzParseNotificationSet.
func FuzzParseNotificationSet(f *testing.F) {
	for _, name := range []string{"logout.xml", "idle-escaped.xml", "two-events.xml"} {
		f.Add(readNotificationFixture(f, name))
	}
	f.Add([]byte(notificationDoc("session", innerDoc(goodSession, goodRest))))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := ParseNotificationSet(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error is not a *ParseError wrapping ErrMalformed or ErrTooLarge: %v", err)
			}
			return
		}
		if len(set.Events) == 0 || len(set.Events) > MaxNotificationsPerSet {
			t.Fatalf("%d events", len(set.Events))
		}
		for _, e := range set.Events {
			if e.Session.Ticket.IsZero() || len(e.Session.Properties) > MaxSessionProperties {
				t.Fatalf("event without ticket or with too many properties: %v", e)
			}
		}
		// What the parser read, written out again, reads back the same: it
		// lost nothing it keeps. (Durations out of range are clamped, so the
		// comparison is between the first and second writing.)
		enc := encodeNotificationSet(set)
		back, err := ParseNotificationSet(enc)
		if err != nil {
			t.Fatalf("re-encoded set does not parse: %v\n%s", err, enc)
		}
		if again := encodeNotificationSet(back); !bytes.Equal(again, enc) {
			t.Fatalf("round trip changed the set:\n%s\n%s", enc, again)
		}
	})
}

func FuzzParseAddSessionListenerResponse(f *testing.F) {
	f.Add([]byte(listenerAnswer("session", "<AddSessionListener><OK></OK></AddSessionListener>")))
	f.Add([]byte(listenerAnswer("Session", "<AddSessionListener><Exception>AQIC@x# Invalid session ID.</Exception></AddSessionListener>")))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := ParseAddSessionListenerResponse(data)
		var pe *ParseError
		switch {
		case err == nil, errors.Is(err, ErrSessionInvalid), errors.Is(err, ErrListenerRefused):
		case errors.As(err, &pe) && (errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge)):
		default:
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

// encodeNotificationSet writes set as OpenSSO would, for the round trip.
func encodeNotificationSet(set *NotificationSet) []byte {
	var b bytes.Buffer
	attr := func(name, value string) {
		b.WriteString(" " + name + `="`)
		escapeXML(&b, value, false)
		b.WriteString(`"`)
	}
	num := func(name string, d, unit time.Duration) { attr(name, strconv.FormatInt(int64(d/unit), 10)) }
	b.WriteString("<NotificationSet")
	attr("vers", set.Version)
	attr("svcid", set.ServiceID)
	attr("notid", set.ID)
	b.WriteString(">\n")
	for _, e := range set.Events {
		var inner bytes.Buffer
		b, inner = inner, b // write the inner document into inner
		b.WriteString("<SessionNotification")
		attr("vers", e.Version)
		attr("notid", e.ID)
		b.WriteString("><Session")
		s := &e.Session
		attr("sid", s.Ticket.Reveal())
		attr("stype", s.Type)
		attr("cid", s.ClientID)
		attr("cdomain", s.ClientDomain)
		num("maxtime", s.MaxTime, time.Minute)
		num("maxidle", s.MaxIdle, time.Minute)
		num("maxcaching", s.MaxCaching, time.Minute)
		num("timeidle", s.TimeIdle, time.Second)
		num("timeleft", s.TimeLeft, time.Second)
		attr("state", s.State)
		b.WriteString(">")
		for _, p := range s.Properties {
			b.WriteString("<Property")
			attr("name", p.Name)
			attr("value", p.Value)
			b.WriteString("></Property>")
		}
		b.WriteString("</Session><Type>" + strconv.Itoa(int(e.Type)) + "</Type><Time>" + strconv.FormatInt(e.Time.UnixMilli(), 10) + "</Time></SessionNotification>")
		b, inner = inner, b
		b.WriteString("<Notification><![CDATA[")
		b.Write(inner.Bytes())
		b.WriteString("]]></Notification>\n")
	}
	b.WriteString("</NotificationSet>")
	return b.Bytes()
}
