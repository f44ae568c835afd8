package agent

import (
	"errors"
	"net"

	"golang.org/x/sys/unix"
)

// tcpPeerKnown: macOS has no /proc/net/tcp; the owner of a loopback TCP
// peer is not looked up (the secret file and the origin list guard TCP).
const tcpPeerKnown = false

// unixPeer reads the peer's credentials (LOCAL_PEERCRED, LOCAL_PEERPID).
func unixPeer(c *net.UnixConn) peer {
	return unixPeerWith(c, func(fd int) (int, int, error) {
		cred, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
		if err != nil {
			return -1, 0, err
		}
		pid, _ := unix.GetsockoptInt(fd, unix.SOL_LOCAL, unix.LOCAL_PEERPID)
		return int(cred.Uid), pid, nil
	})
}

// tcpPeer cannot name the owner of a TCP peer on macOS.
func tcpPeer(*net.TCPConn) peer {
	return peer{uid: -1, err: errors.New("peer lookup not supported on macOS")}
}
