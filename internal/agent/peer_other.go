//go:build !linux && !darwin

package agent

import (
	"errors"
	"net"
)

// tcpPeerKnown: the owner of a TCP peer is not looked up here.
const tcpPeerKnown = false

var errNoPeerCred = errors.New("peer credentials not supported on this system")

// unixPeer cannot read peer credentials on this system: unix-socket
// callers are refused.
func unixPeer(*net.UnixConn) peer { return peer{uid: -1, unix: true, err: errNoPeerCred} }

// tcpPeer cannot name the owner of a TCP peer on this system.
func tcpPeer(*net.TCPConn) peer { return peer{uid: -1, err: errNoPeerCred} }
