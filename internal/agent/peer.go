package agent

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// peer is who is at the other end of a connection to the Ticket API, as
// far as the operating system says.
type peer struct {
	// uid is the user the connecting process runs as; -1 if unknown.
	uid int
	// pid is the connecting process (unix sockets), 0 if unknown.
	pid int
	// unix: the connection came through the unix socket.
	unix bool
	// err says why uid is unknown.
	err error
}

// describe names the peer for logs and questions: "curl (pid 4242)".
func (p peer) describe() string {
	via := "TCP"
	if p.unix {
		via = "the unix socket"
	}
	if p.pid > 0 {
		if comm, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/comm"); err == nil {
			return fmt.Sprintf("%s (pid %d) over %s", strings.TrimSpace(string(comm)), p.pid, via)
		}
		return fmt.Sprintf("pid %d over %s", p.pid, via)
	}
	return "a process over " + via
}

// unixPeerWith reads a unix connection's peer with creds, a system call
// on the socket's descriptor.
func unixPeerWith(c *net.UnixConn, creds func(fd int) (uid, pid int, err error)) peer {
	p := peer{uid: -1, unix: true}
	raw, err := c.SyscallConn()
	if err != nil {
		p.err = err
		return p
	}
	uid, pid := -1, 0
	cerr := raw.Control(func(fd uintptr) { uid, pid, err = creds(int(fd)) })
	if cerr != nil {
		err = cerr
	}
	if err != nil {
		p.err = fmt.Errorf("peer credentials: %w", err)
		return p
	}
	p.uid, p.pid = uid, pid
	return p
}

type peerKey struct{}

// connPeer finds the peer of c (an accepted connection) and stores it in
// ctx: http.Server.ConnContext.
func connPeer(ctx context.Context, c net.Conn) context.Context {
	var p peer
	switch c := c.(type) {
	case *net.UnixConn:
		p = unixPeer(c)
	case *net.TCPConn:
		p = tcpPeer(c)
	default:
		p = peer{uid: -1, err: fmt.Errorf("connection of type %T", c)}
	}
	return context.WithValue(ctx, peerKey{}, p)
}

// peerOf returns the peer connPeer stored for the request's connection.
func peerOf(ctx context.Context) peer {
	if p, ok := ctx.Value(peerKey{}).(peer); ok {
		return p
	}
	return peer{uid: -1, err: fmt.Errorf("no peer recorded")}
}
