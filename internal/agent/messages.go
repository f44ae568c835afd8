package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/pcsc"
)

// Messages the agent shows as it goes.
const (
	msgInsertCard = "Insert your smartcard"
	msgCheckingIn = "Checking your smartcard"
	msgLoggingIn  = "Logging in to CIS"
	msgLoggedOut  = "Logged out. Remove your card, or log in again"
	msgCardPulled = "Smartcard removed: logged out"
	msgLocked     = "Smartcard removed: session locked. Insert the same card and enter its PIN to carry on"
	msgCardOut    = "Smartcard removed: the session carries on (mobility)"
	msgEnded      = "Your CIS session has ended"
)

// tries says how many PIN tries are left, "" when the card does not say.
func tries(n int) string {
	switch {
	case n < 0:
		return ""
	case n == 1:
		return "1 try left"
	}
	return fmt.Sprintf("%d tries left", n)
}

// PINMessage says in plain words what a *pcsc.PINError means, using left
// (the card's count, -1 if unknown) when the error does not carry one:
// "PIN incorrect: 2 tries left".
func PINMessage(pe *pcsc.PINError, left int) string {
	if pe.Retries >= 0 {
		left = pe.Retries
	}
	switch {
	case pe.Locked && errors.Is(pe.Err, pcsc.ErrPINIncorrect):
		return "PIN incorrect: the card is now locked. Ask your registration authority (RA) to unlock it"
	case pe.Locked:
		return "This card's PIN is locked. Ask your registration authority (RA) to unlock it"
	case errors.Is(pe.Err, pcsc.ErrFinalTry) && !errors.Is(pe.Err, pcsc.ErrPINIncorrect):
		return "PIN not sent: this is the card's final try, and a wrong PIN locks it. Confirm to use it"
	case pe.FinalTry:
		return "PIN incorrect: 1 try left. A wrong PIN now locks the card"
	}
	if t := tries(left); t != "" {
		return "PIN incorrect: " + t
	}
	return "PIN incorrect"
}

// Describe says what err means for the person at the workstation, in plain
// words; env names the CIS environment and now places a maintenance slot's
// end.
func Describe(err error, env cis.Environment, now time.Time) string {
	name := "CIS " + env.Name
	var (
		pe *pcsc.PINError
		me *cis.MaintenanceError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &pe):
		return PINMessage(pe, -1)
	case errors.As(err, &me):
		return maintenanceMessage(name, me, now)
	case errors.Is(err, pcsc.ErrPINInvalid):
		return "That PIN has the wrong length or characters for this card; no try was used"
	case errors.Is(err, pcsc.ErrCardRemoved):
		return "The smartcard was removed"
	case errors.Is(err, pcsc.ErrNoToken), errors.Is(err, pcsc.ErrNoReader):
		return "No usable smartcard in the reader"
	case errors.Is(err, pcsc.ErrNoKey):
		return "This card holds no NHS authentication key"
	case errors.Is(err, pcsc.ErrNoUID), errors.Is(err, cis.ErrNotUserCertificate):
		return "This card's certificate is not an NHS smartcard certificate"
	case errors.Is(err, pcsc.ErrNoService):
		return "The smartcard service (pcscd) is not running"
	case errors.Is(err, pcsc.ErrModule):
		return "The smartcard software (PKCS#11 module) could not be loaded"
	case errors.Is(err, cis.ErrValidationFailed):
		return name + " did not accept this card. Ask your registration authority (RA) to check it"
	case errors.Is(err, cis.ErrInvalidRequest):
		return name + " refused the login request as malformed"
	case errors.Is(err, cis.ErrSessionInvalid):
		return msgEnded
	case errors.Is(err, cis.ErrUnknownRole):
		return "That role is not one of yours"
	case errors.Is(err, cis.ErrTrust):
		return name + "'s certificate is not trusted: the agent did not connect"
	case errors.Is(err, cis.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return name + " did not answer in time. Try again"
	case errors.Is(err, cis.ErrUnavailable):
		return name + " cannot be reached. Check the network and try again"
	case errors.Is(err, cis.ErrMalformed), errors.Is(err, cis.ErrTooLarge):
		return name + " sent an answer the agent cannot read"
	case errors.Is(err, ErrCancelled), errors.Is(err, context.Canceled):
		return "Login cancelled"
	}
	return "Login failed: " + err.Error()
}

// describe is Describe with the agent's environment and clock.
func (a *Agent) describe(err error) string { return Describe(err, a.cfg.Env, a.cfg.Now()) }

// maintenanceMessage: "CIS dev is in its weekly maintenance slot until
// 06:00", in UK time (the day is added when the end is more than a day
// away).
func maintenanceMessage(name string, me *cis.MaintenanceError, now time.Time) string {
	until := ""
	if !me.Ends.IsZero() {
		end := me.Ends
		if loc, err := time.LoadLocation(cis.London); err == nil {
			end = end.In(loc)
		}
		if end.Sub(now) < 24*time.Hour {
			until = " until " + end.Format("15:04")
		} else {
			until = " until " + end.Format("Mon 15:04")
		}
	}
	if me.Slot != "" {
		return name + " is in its weekly maintenance slot" + until
	}
	return name + " is down for maintenance" + until
}
