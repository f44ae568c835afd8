package cis

import (
	"context"
	"errors"
	"log/slog"
)

// SessionListenerClient registers session listeners (OpenSSO
// AddSessionListener) at the session service its NamingClient finds.
//
// SessionServiceClient has the same AddSessionListener beside GetSession;
// this smaller type stays for the callers that need nothing else.
type SessionListenerClient struct {
	naming *NamingClient
}

// NewSessionListenerClient returns a client that sends through naming's
// HTTP client (TLS verified against the environment's anchors) to the
// session service naming finds.
func NewSessionListenerClient(naming *NamingClient) (*SessionListenerClient, error) {
	if naming == nil {
		return nil, errors.New("cis: session listener client: nil NamingClient")
	}
	return &SessionListenerClient{naming: naming}, nil
}

const addListenerOp = "session service AddSessionListener"

// AddSessionListener asks the session service to POST a NotificationSet
// to listenerURL when the SSO session of t ends or changes (see
// AddSessionListenerRequest for what listenerURL must be). Registering the
// same URL again changes nothing. A session the service does not know is
// an error wrapping ErrSessionInvalid; another refusal ErrListenerRefused;
// otherwise errors wrap ErrMalformed, ErrTooLarge, ErrTimeout, ErrTrust,
// ErrUnavailable or ErrMaintenance. No error or log record holds the
// ticket.
func (c *SessionListenerClient) AddSessionListener(ctx context.Context, t Ticket, listenerURL string) error {
	return addSessionListener(ctx, c.naming, t, listenerURL)
}

// addSessionListener registers listenerURL for t's session at the session
// service naming finds: SessionListenerClient's and SessionServiceClient's
// AddSessionListener.
func addSessionListener(ctx context.Context, naming *NamingClient, t Ticket, listenerURL string) error {
	body, err := AddSessionListenerRequest(t, listenerURL)
	if err != nil {
		return err
	}
	answer, err := naming.post(ctx, naming.SessionServiceURL(ctx), body, addListenerOp, maxSessionResponseSize)
	if err != nil {
		return err
	}
	if err := ParseAddSessionListenerResponse(answer); err != nil {
		return err
	}
	naming.log.LogAttrs(ctx, slog.LevelDebug, "session listener registered")
	return nil
}
