package cis_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/opencis/cisauth/cis"
)

const exampleNotification = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<NotificationSet vers="1.0" svcid="session" notid="1">
<Notification><![CDATA[<SessionNotification vers="1.0" notid="2">
<Session sid="AQIC5wM2LY4SfczntBbXvEAOuECbqMY3J4NW3byH6xwgkGE=@AAJTSQACMDE=#" stype="user" cid="uid=555000000001,ou=People,o=nhs" cdomain="o=nhs" maxtime="600" maxidle="600" maxcaching="3" timeidle="4" timeleft="35990" state="destroyed">
<Property name="UserId" value="555000000001"></Property>
</Session>
<Type>3</Type>
<Time>1764662400123</Time>
</SessionNotification>]]></Notification>
</NotificationSet>`

func ExampleParseNotificationSet() {
	set, err := cis.ParseNotificationSet([]byte(exampleNotification))
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range set.Events {
		uid, _ := e.Session.Properties.Get("UserId")
		fmt.Println(e.Type, e.Session.State, e.Ended(), uid, e.Time.UTC().Format("15:04:05.000"))
		fmt.Println(e.Session.Ticket) // redacted: printing never shows the ticket
	}
	// Output:
	// logout destroyed true 555000000001 08:00:00.123
	// [ticket redacted]
}

func ExampleNewNotificationHandler() {
	// A notification is a hint, never proof: queue the ticket for a check
	// with CIS (RoleAssertion or GetSession) and let a worker do it; drop
	// the hint when the queue is full (the periodic revalidation remains).
	recheck := make(chan cis.Ticket, 100)
	h, err := cis.NewNotificationHandler(cis.NotificationHandlerConfig{
		OnEvents: func(_ context.Context, events []cis.SessionEvent) {
			for _, e := range events {
				select {
				case recheck <- e.Session.Ticket:
				default:
				}
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/cis/notify", h) // the URL registered with AddSessionListener

	// What CIS does when the session ends:
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/cis/notify", strings.NewReader(exampleNotification)))
	fmt.Printf("%d %q, %d ticket(s) to check\n", w.Code, w.Body.String(), len(recheck))
	// Output: 200 "OK\r\n", 1 ticket(s) to check
}

func ExampleAddSessionListenerRequest() {
	ticket := cis.Ticket("AQIC5wM2LY4SfczntBbXvEAOuECbqMY3J4NW3byH6xwgkGE=@AAJTSQACMDE=#")
	body, err := cis.AddSessionListenerRequest(ticket, "https://app.example.nhs.uk/cis/notify")
	if err != nil {
		log.Fatal(err)
	}
	_ = body // POST it to the session service, Content-Type text/xml;charset=UTF-8

	// … and read its answer:
	answer := `<ResponseSet vers="1.0" svcid="session" reqid="1"><Response><![CDATA[<SessionResponse vers="1.0" reqid="0"><AddSessionListener><Exception>AQIC5wM2LY4SfczntBbXvEAOuECbqMY3J4NW3byH6xwgkGE=@AAJTSQACMDE=# Invalid session ID.</Exception></AddSessionListener></SessionResponse>]]></Response></ResponseSet>`
	err = cis.ParseAddSessionListenerResponse([]byte(answer))
	fmt.Println(errors.Is(err, cis.ErrSessionInvalid), err)
	// Output: true cis: AddSessionListener: cis: SSO session invalid
}
