package agent

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// tcpPeerKnown: on Linux the owner of a loopback TCP peer is looked up.
const tcpPeerKnown = true

// unixPeer reads the peer's credentials (SO_PEERCRED).
func unixPeer(c *net.UnixConn) peer {
	return unixPeerWith(c, func(fd int) (int, int, error) {
		cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			return -1, 0, err
		}
		return int(cred.Uid), int(cred.Pid), nil
	})
}

// tcpPeer finds the user owning the other end of a loopback TCP
// connection: that socket is on this machine, and /proc/net/tcp (or tcp6)
// lists it with its uid — the line whose local address is our peer's and
// whose remote address is ours.
func tcpPeer(c *net.TCPConn) peer {
	p := peer{uid: -1}
	local, err1 := netip.ParseAddrPort(c.LocalAddr().String())
	remote, err2 := netip.ParseAddrPort(c.RemoteAddr().String())
	if err1 != nil || err2 != nil {
		p.err = errors.New("unreadable connection addresses")
		return p
	}
	if !remote.Addr().IsLoopback() {
		p.err = errors.New("peer not on loopback")
		return p
	}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		uid, found, err := findSocketOwner(f, remote, local)
		f.Close()
		if err != nil {
			p.err = fmt.Errorf("%s: %w", table, err)
			return p
		}
		if found {
			p.uid = uid
			return p
		}
	}
	p.err = errors.New("the peer's socket is not in /proc/net/tcp{,6}")
	return p
}

// findSocketOwner scans a /proc/net/tcp table for the socket whose local
// address is local and remote address remote, and returns its uid.
func findSocketOwner(f *os.File, local, remote netip.AddrPort) (uid int, found bool, err error) {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	first := true
	for sc.Scan() {
		if first { // the header line
			first = false
			continue
		}
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 8 {
			continue
		}
		l, ok1 := parseProcAddr(fields[1])
		r, ok2 := parseProcAddr(fields[2])
		if !ok1 || !ok2 || !sameEndpoint(l, local) || !sameEndpoint(r, remote) {
			continue
		}
		n, err := strconv.Atoi(string(fields[7]))
		if err != nil || n < 0 {
			return 0, false, fmt.Errorf("uid column %q", fields[7])
		}
		return n, true, nil
	}
	return 0, false, sc.Err()
}

// sameEndpoint compares addresses with IPv4-mapped IPv6 unmapped.
func sameEndpoint(a, b netip.AddrPort) bool {
	return a.Port() == b.Port() && a.Addr().Unmap() == b.Addr().Unmap()
}

// parseProcAddr reads "0100007F:1F90" (IPv4) or a 32-digit IPv6 address
// and a port: the address as the kernel prints it, each 32-bit word in
// host byte order (little-endian on the machines this runs on).
func parseProcAddr(b []byte) (netip.AddrPort, bool) {
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(string(b[i+1:]), 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	raw, err := hex.DecodeString(string(b[:i]))
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, false
	}
	for w := 0; w < len(raw); w += 4 { // each word back to network order
		raw[w], raw[w+1], raw[w+2], raw[w+3] = raw[w+3], raw[w+2], raw[w+1], raw[w]
	}
	addr, ok := netip.AddrFromSlice(raw)
	if !ok {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(addr, uint16(port)), true
}
