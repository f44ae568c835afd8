package vcard

import (
	"net"
	"syscall"
)

// quickAck sets TCP_QUICKACK on c, which Linux clears again after a while:
// call it before every read. Debian 12's vpcd sends a frame's length and body
// in two send() calls, so without it Nagle on vpcd's side and delayed ACK on
// ours stall every APDU for about 40 ms.
func quickAck(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
