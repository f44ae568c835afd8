// Package agent is the workstation login helper behind cis-agent: an open
// Identity Agent for Linux and macOS. It follows the smartcard readers
// (pcsc.Monitor); when a card goes in it asks the person for the PIN (on
// the terminal without echo, or on a small web page on loopback), logs in
// to GAS with the card (package cis), selects a role, keeps the SSO session
// alive while the card is in, and hands the ticket to local applications
// and allowed browser pages through the local Ticket API. When the card is
// pulled the session ends (normal mode), is locked until the same card and
// PIN come back (session-lock mode), or carries on under re-authentication
// timers (mobility mode).
//
// The pieces, one idea per file: the card login (card.go) and the logout on
// removal (removal.go), which internal/e2e reuses; the daemon's state
// machine (agent.go, flow.go, modes.go, keepalive.go); questions to the
// person (prompts.go) and their two faces (terminal.go, webui.go); the
// events pushed to listeners (events.go); the Ticket API and who may call
// it (server.go, api.go, access.go, peer_*.go); plain-words messages
// (messages.go); configuration from YAML, environment and flags
// (config.go) and from Identity Agent registry files (regimport.go); the
// one-shot login and logout of the command line (oneshot.go).
//
// It is not the CIS protocol (package cis) nor the card layer (package
// pcsc), and it holds no server-side code: it uses cgo through pcsc.
package agent
