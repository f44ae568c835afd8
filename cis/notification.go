package cis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
)

// Session notifications: what CIS (OpenSSO) POSTs to a listener registered
// with AddSessionListener when an SSO session ends or changes. The
// message carries no authentication of any kind: treat a parsed event as a
// hint to check the session again (RoleAssertion or GetSession), never as
// proof that anything happened.

// Limits of ParseNotificationSet.
const (
	// MaxNotificationSetSize bounds a NotificationSet document in bytes.
	// One notification with twenty properties takes about 2 KiB.
	MaxNotificationSetSize = 256 << 10
	// MaxNotificationsPerSet bounds the Notification elements of one set;
	// OpenSSO sends one at a time.
	MaxNotificationsPerSet = 64
	// MaxSessionProperties bounds the Property elements of one Session.
	MaxSessionProperties = 128
	// maxNotifiedTicketLen bounds the sid of a notified session.
	maxNotifiedTicketLen = 2048
)

const notificationSetWhat = "NotificationSet"

// SessionEventType is the Type of an OpenSSO session notification. Types
// this package does not name are kept as their number.
type SessionEventType int

// The session event types of OpenSSO.
const (
	SessionCreated         SessionEventType = 0 // a session was created
	SessionIdleTimeout     SessionEventType = 1 // the idle time ran out
	SessionMaxTimeout      SessionEventType = 2 // the maximum session time ran out
	SessionLogout          SessionEventType = 3 // the user logged out
	SessionReactivated     SessionEventType = 4 // an inactive session became valid again
	SessionDestroyed       SessionEventType = 5 // the session was destroyed (by an administrator, or after a timeout)
	SessionPropertyChanged SessionEventType = 6 // a property configured for notification changed
	SessionQuotaExhausted  SessionEventType = 7 // the user's session quota ran out (OpenSSO only logs it)
)

var sessionEventNames = [...]string{
	SessionCreated:         "creation",
	SessionIdleTimeout:     "idle timeout",
	SessionMaxTimeout:      "max timeout",
	SessionLogout:          "logout",
	SessionReactivated:     "reactivation",
	SessionDestroyed:       "destroy",
	SessionPropertyChanged: "property changed",
	SessionQuotaExhausted:  "quota exhausted",
}

// String names a known type ("logout", "idle timeout", …) and gives any
// other as "type N".
func (t SessionEventType) String() string {
	if t >= 0 && int(t) < len(sessionEventNames) {
		return sessionEventNames[t]
	}
	return "type " + strconv.Itoa(int(t))
}

// Session states as OpenSSO writes them.
const (
	SessionStateValid     = "valid"
	SessionStateInvalid   = "invalid"
	SessionStateInactive  = "inactive"
	SessionStateDestroyed = "destroyed"
)

// OpenSSOSession is the Session element of an OpenSSO session message: the
// session as the server saw it when it wrote the message. Printing it (fmt,
// slog, JSON) shows neither the ticket nor property values, which may
// repeat it (SessionHandle is "shandle:" + the ticket).
type OpenSSOSession struct {
	// Ticket is the sid: the SSO ticket of the session.
	Ticket Ticket
	// Type is stype: "user" (the default) or "application".
	Type string
	// ClientID is cid, e.g. "uid=555000000001,ou=People,o=nhs"; ClientDomain
	// is cdomain, e.g. "o=nhs".
	ClientID, ClientDomain string
	// MaxTime, MaxIdle and MaxCaching are maxtime, maxidle and maxcaching,
	// sent in minutes; TimeIdle and TimeLeft are timeidle and timeleft, sent
	// in seconds. Values beyond time.Duration's range are clamped to it
	// (OpenSSO writes timeleft as the largest long for a session that never
	// expires).
	MaxTime, MaxIdle, MaxCaching time.Duration
	TimeIdle, TimeLeft           time.Duration
	// State is "valid", "inactive", "invalid" (the default) or "destroyed";
	// another value is kept as sent.
	State string
	// Properties are the session's properties in document order.
	Properties SessionProperties
}

// SessionProperty is one Property of an OpenSSO session.
type SessionProperty struct {
	Name, Value string
}

// SessionProperties are an OpenSSO session's properties. Printed (fmt,
// slog, JSON) they show only their names: values such as SessionHandle
// hold the ticket. Read a value with Get.
type SessionProperties []SessionProperty

// Get returns the value of the property called name.
func (p SessionProperties) Get(name string) (string, bool) {
	for _, x := range p {
		if x.Name == name {
			return x.Value, true
		}
	}
	return "", false
}

// String lists the property names, values withheld.
func (p SessionProperties) String() string {
	names := make([]string, len(p))
	for i := range p {
		names[i] = p[i].Name
	}
	return "[" + strings.Join(names, " ") + "] (values withheld)"
}

// Format prints String whatever the verb.
func (p SessionProperties) Format(f fmt.State, _ rune) { f.Write([]byte(p.String())) }

// LogValue makes slog print String.
func (p SessionProperties) LogValue() slog.Value { return slog.StringValue(p.String()) }

// MarshalJSON encodes the property names only.
func (p SessionProperties) MarshalJSON() ([]byte, error) {
	names := make([]string, len(p))
	for i := range p {
		names[i] = p[i].Name
	}
	return json.Marshal(map[string]any{"names": names, "values": "withheld"})
}

// LogValue makes slog print the session without its ticket or property
// values.
func (s OpenSSOSession) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("ticket", redactedTicket),
		slog.String("state", s.State),
		slog.String("cid", s.ClientID),
		slog.Duration("time_left", s.TimeLeft),
		slog.Any("properties", s.Properties),
	)
}

// Format prints the session without its ticket or property values,
// whatever the verb (see Session.Format).
func (s OpenSSOSession) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "cis.OpenSSOSession{Ticket:%s Type:%q ClientID:%q ClientDomain:%q MaxTime:%s MaxIdle:%s MaxCaching:%s TimeIdle:%s TimeLeft:%s State:%q Properties:%s}",
		redactedTicket, s.Type, s.ClientID, s.ClientDomain, s.MaxTime, s.MaxIdle, s.MaxCaching, s.TimeIdle, s.TimeLeft, s.State, s.Properties.String())
}

// SessionEvent is one SessionNotification: what happened to which session,
// and when. It is a hint, never proof (see ParseNotificationSet).
type SessionEvent struct {
	// Session is the session as the server saw it.
	Session OpenSSOSession
	// Type is what happened.
	Type SessionEventType
	// Time is when, to the millisecond (sent as epoch milliseconds).
	Time time.Time
	// Version and ID are the SessionNotification's vers and notid.
	Version, ID string
}

// Ended reports whether the event says the session is over: an idle or
// maximum timeout, a logout or a destroy, or a session state of invalid or
// destroyed whatever the type. A receiver should still confirm with CIS
// before acting on it; the message proves nothing.
func (e *SessionEvent) Ended() bool {
	switch e.Type {
	case SessionIdleTimeout, SessionMaxTimeout, SessionLogout, SessionDestroyed:
		return true
	}
	return e.Session.State == SessionStateInvalid || e.Session.State == SessionStateDestroyed
}

// LogValue makes slog print the event without the ticket.
func (e SessionEvent) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("type", e.Type.String()),
		slog.Time("time", e.Time),
		slog.String("notid", e.ID),
		slog.Any("session", e.Session),
	)
}

// Format prints the event without the ticket, whatever the verb.
func (e SessionEvent) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "cis.SessionEvent{Type:%s Time:%s Version:%q ID:%q Session:", e.Type, e.Time.Format(time.RFC3339Nano), e.Version, e.ID)
	e.Session.Format(f, verb)
	f.Write([]byte("}"))
}

// NotificationSet is a parsed OpenSSO NotificationSet of session events.
type NotificationSet struct {
	// Version, ServiceID and ID are the set's vers, svcid ("session" or
	// "Session") and notid.
	Version, ServiceID, ID string
	// Events are the notifications in document order.
	Events []SessionEvent
}

// Format prints the set without tickets, whatever the verb.
func (n NotificationSet) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "cis.NotificationSet{Version:%q ServiceID:%q ID:%q Events:[", n.Version, n.ServiceID, n.ID)
	for i := range n.Events {
		if i > 0 {
			f.Write([]byte(" "))
		}
		n.Events[i].Format(f, verb)
	}
	f.Write([]byte("]}"))
}

// ParseNotificationSet parses the body of a session notification that CIS
// (OpenSSO) POSTs to a registered listener:
//
//	<NotificationSet vers="1.0" svcid="session" notid="N">
//	  <Notification><![CDATA[<SessionNotification vers="1.0" notid="M">
//	    <Session sid="…" stype="user" cid="…" cdomain="…" maxtime="…" maxidle="…"
//	             maxcaching="…" timeidle="…" timeleft="…" state="destroyed">
//	      <Property name="UserId" value="…"></Property>
//	    </Session>
//	    <Type>3</Type><Time>EPOCH_MS</Time>
//	  </SessionNotification>]]></Notification>
//	</NotificationSet>
//
// The svcid may be "session" or "Session" (clients and servers spell it
// both ways); any other service is an error. Each Notification holds its
// SessionNotification as text: a CDATA section, as OpenSSO writes it, or
// entity-escaped character data, which OpenSSO's DOM-based parser reads the
// same way. Session, Type and Time may come in any order, each exactly once.
// Attributes the DTD requires must be present (stype defaults to "user",
// state to "invalid"); attributes it does not name are ignored.
//
// The parse is strict: a document larger than MaxNotificationSetSize, more
// than MaxNotificationsPerSet notifications or MaxSessionProperties
// properties on a session, namespaces, a DOCTYPE, processing instructions
// other than the XML declaration, a second root element, an element the
// format does not have, a repeated attribute, element or property name, or
// a number that does not parse is an error: a *ParseError wrapping
// ErrMalformed (ErrTooLarge for size). Errors never quote the ticket. The
// cost is linear in the size of data.
//
// Nothing in a notification is authenticated: anyone who can reach the
// listener can send one. Use an event only as a reason to ask CIS about
// the session again.
func ParseNotificationSet(data []byte) (*NotificationSet, error) {
	if len(data) > MaxNotificationSetSize {
		return nil, &ParseError{What: notificationSetWhat, Offset: -1,
			Msg: fmt.Sprintf("document is %d bytes, limit %d", len(data), MaxNotificationSetSize), Err: ErrTooLarge}
	}
	r := newPLLReader(data, notificationSetWhat)
	var set NotificationSet
	var err error
	if set.Version, set.ServiceID, set.ID, err = r.sessionEnvelope("NotificationSet", "notid"); err != nil {
		return nil, err
	}
	err = r.children(func() error {
		if !r.is("Notification") {
			return r.errorf("unexpected element <%s> in <NotificationSet>", r.tag())
		}
		if len(set.Events) == MaxNotificationsPerSet {
			return r.errorf("more than %d notifications", MaxNotificationsPerSet)
		}
		inner, err := r.textContent()
		if err != nil {
			return err
		}
		ev, err := parseSessionNotification(trimXMLSpace(inner), len(set.Events)+1)
		if err != nil {
			return err
		}
		set.Events = append(set.Events, ev)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(set.Events) == 0 {
		return nil, r.errorf("no Notification")
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return &set, nil
}

// parseSessionNotification parses the inner document of the n-th
// Notification.
func parseSessionNotification(data []byte, n int) (SessionEvent, error) {
	var ev SessionEvent
	r := newPLLReader(data, "SessionNotification "+strconv.Itoa(n))
	if err := r.root("SessionNotification"); err != nil {
		return ev, err
	}
	v, err := r.attrValues("vers", "notid")
	if err != nil {
		return ev, err
	}
	ev.Version, ev.ID = v[0], v[1]
	var session, typ, at bool
	err = r.children(func() error {
		switch {
		case r.is("Session"):
			if err := r.once(&session); err != nil {
				return err
			}
			var err error
			ev.Session, err = r.openSSOSession()
			return err
		case r.is("Type"):
			if err := r.once(&typ); err != nil {
				return err
			}
			n, err := r.decimalContent(math.MaxInt32)
			ev.Type = SessionEventType(n)
			return err
		case r.is("Time"):
			if err := r.once(&at); err != nil {
				return err
			}
			ms, err := r.decimalContent(math.MaxInt64)
			ev.Time = time.UnixMilli(ms)
			return err
		}
		return r.errorf("unexpected element <%s> in <SessionNotification>", r.tag())
	})
	if err != nil {
		return ev, err
	}
	if !session || !typ || !at {
		return ev, r.errorf("SessionNotification lacks Session, Type or Time")
	}
	return ev, r.end()
}

// Attributes of an OpenSSO Session element, as bits of what was seen.
const (
	attrSID = 1 << iota
	attrCID
	attrCDomain
	attrMaxTime
	attrMaxIdle
	attrMaxCaching
	attrTimeIdle
	attrTimeLeft
	attrsRequired = attrSID | attrCID | attrCDomain | attrMaxTime | attrMaxIdle | attrMaxCaching | attrTimeIdle | attrTimeLeft
)

// openSSOSession reads the Session element just opened, through its end
// tag: the attributes its DTD lists and Property children.
func (r *pllReader) openSSOSession() (OpenSSOSession, error) {
	s := OpenSSOSession{Type: "user", State: SessionStateInvalid}
	seen := 0
	num := func(bit int, value []byte, unit time.Duration, dst *time.Duration) error {
		n, ok := parseDecimal(value)
		if !ok {
			return r.errorf("a number attribute of <Session> is not a decimal number")
		}
		*dst = clampDuration(n, unit)
		seen |= bit
		return nil
	}
	err := r.attrs(func(name string, value []byte) error {
		switch name {
		case "sid":
			if len(value) == 0 || len(value) > maxNotifiedTicketLen || bytes.ContainsAny(value, " \t\r\n") {
				return r.errorf("sid is empty, too long or holds white space")
			}
			s.Ticket, seen = Ticket(value), seen|attrSID
		case "stype":
			s.Type = string(value)
		case "cid":
			s.ClientID, seen = string(value), seen|attrCID
		case "cdomain":
			s.ClientDomain, seen = string(value), seen|attrCDomain
		case "state":
			s.State = string(value)
		case "maxtime":
			return num(attrMaxTime, value, time.Minute, &s.MaxTime)
		case "maxidle":
			return num(attrMaxIdle, value, time.Minute, &s.MaxIdle)
		case "maxcaching":
			return num(attrMaxCaching, value, time.Minute, &s.MaxCaching)
		case "timeidle":
			return num(attrTimeIdle, value, time.Second, &s.TimeIdle)
		case "timeleft":
			return num(attrTimeLeft, value, time.Second, &s.TimeLeft)
		}
		return nil
	})
	if err != nil {
		return s, err
	}
	if seen != attrsRequired {
		return s, r.errorf("<Session> lacks one of sid, cid, cdomain, maxtime, maxidle, maxcaching, timeidle, timeleft")
	}
	var names map[string]struct{}
	err = r.children(func() error {
		if !r.is("Property") {
			return r.errorf("unexpected element <%s> in <Session>", r.tag())
		}
		if len(s.Properties) == MaxSessionProperties {
			return r.errorf("more than %d properties", MaxSessionProperties)
		}
		v, err := r.attrValues("name", "value")
		if err != nil {
			return err
		}
		p := SessionProperty{Name: v[0], Value: v[1]}
		if names == nil {
			names = make(map[string]struct{})
		}
		if _, dup := names[p.Name]; dup {
			return r.errorf("property %.40q given twice", p.Name)
		}
		names[p.Name] = struct{}{}
		s.Properties = append(s.Properties, p)
		return r.empty()
	})
	return s, err
}

// clampDuration is n units, clamped to time.Duration's range.
func clampDuration(n int64, unit time.Duration) time.Duration {
	switch {
	case n > int64(math.MaxInt64/unit):
		return math.MaxInt64
	case n < int64(math.MinInt64/unit):
		return math.MinInt64
	}
	return time.Duration(n) * unit
}
