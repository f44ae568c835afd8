package cissim

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// ownHosts are the names and addresses the simulator answers to as itself:
// loopback addresses, localhost, Config.Hostnames and the host of
// Config.BaseURL. The admin API checks a request's Host against them, so
// that a web page whose own name an attacker rebinds to 127.0.0.1 (DNS
// rebinding) cannot reach it from a browser on this machine.
type ownHosts struct {
	names map[string]bool     // lower case, without a trailing dot
	ips   map[netip.Addr]bool // non-loopback addresses named as hosts
}

// newOwnHosts collects hostnames and the host of baseURL (if not empty,
// already checked by New). A hostname must be a DNS name or an IP address,
// without a port.
func newOwnHosts(hostnames []string, baseURL string) (ownHosts, error) {
	h := ownHosts{names: map[string]bool{"localhost": true}, ips: map[netip.Addr]bool{}}
	for _, n := range hostnames {
		if !h.add(n) {
			return ownHosts{}, fmt.Errorf("cissim: Hostnames: %q is not a host name or IP address", n)
		}
	}
	if baseURL != "" {
		if u, err := url.Parse(baseURL); err == nil {
			h.add(u.Hostname())
		}
	}
	return h, nil
}

// add records a host name or IP address and reports whether it is one.
func (h ownHosts) add(name string) bool {
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")); err == nil {
		h.ips[a.Unmap()] = true
		return true
	}
	n := strings.TrimSuffix(strings.ToLower(name), ".")
	if n == "" || len(n) > 253 || strings.ContainsFunc(n, func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '.' || r == '_')
	}) {
		return false
	}
	h.names[n] = true
	return true
}

// allows reports whether host, a request's Host (name or address, with or
// without a port), names the simulator.
func (h ownHosts) allows(host string) bool {
	name := host
	if n, port, err := net.SplitHostPort(host); err == nil {
		if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return false
		}
		name = n
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		name = host[1 : len(host)-1]
	}
	if a, err := netip.ParseAddr(name); err == nil {
		a = a.Unmap()
		return a.IsLoopback() || h.ips[a]
	}
	return h.names[strings.TrimSuffix(strings.ToLower(name), ".")]
}
