package listener

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strconv"
	"strings"
)

// MaxUnixPath is the longest Unix socket path ParseAddr accepts, in bytes
// (sun_path holds 108 bytes including the terminating NUL).
const MaxUnixPath = 107

// Addr is a parsed `listen` entry.
type Addr struct {
	Network   string     // "tcp", "udp" or "unix"
	IP        netip.Addr // with zone if any; zero (invalid) when DualStack or Unix
	Port      uint16     // 0: the kernel picks one
	DualStack bool       // ":port": one AF_INET6 socket with IPV6_V6ONLY=0, or 0.0.0.0 if IPv6 is off
	Path      string     // unix: absolute path, <= 107 bytes
}

// ParseAddr parses a `listen` entry of the given network (SPEC §2
// "Addresses"): "1.2.3.4:79", "[::1]:79" (IPv6 only), ":79" (dual-stack),
// "[fe80::1%eth0]:79" (with a zone) for tcp and udp; an absolute path of
// at most 107 bytes for unix. The port is numeric, 0..65535 (0: the kernel
// picks one). Host names are rejected: nothing is ever resolved.
func ParseAddr(network, s string) (Addr, error) {
	var a Addr
	var err error
	switch network {
	case "tcp", "udp":
		a, err = parseInet(s)
	case "unix":
		a, err = parseUnix(s)
	default:
		return Addr{}, fmt.Errorf("parse address %q: unknown protocol %q (want tcp, udp or unix)", s, network)
	}
	if err != nil {
		return Addr{}, fmt.Errorf("parse %s address %q: %w", network, s, err)
	}
	a.Network = network
	return a, nil
}

func parseUnix(s string) (Addr, error) {
	switch {
	case s == "":
		return Addr{}, errors.New("empty path")
	case !strings.HasPrefix(s, "/"):
		if strings.Contains(s, ":") {
			return Addr{}, errors.New("not an absolute path (protocol unix takes a socket path, not host:port)")
		}
		return Addr{}, errors.New("not an absolute path")
	case len(s) > MaxUnixPath:
		return Addr{}, fmt.Errorf("path is %d bytes long, at most %d fit in a unix socket address", len(s), MaxUnixPath)
	case strings.IndexByte(s, 0) >= 0:
		return Addr{}, errors.New("path contains a NUL byte")
	case s == "/" || strings.HasSuffix(s, "/"):
		return Addr{}, errors.New("path names a directory (ends in /)")
	case path.Clean(s) != s:
		return Addr{}, fmt.Errorf("path is not clean (write %q)", path.Clean(s))
	}
	return Addr{Path: s}, nil
}

func parseInet(s string) (Addr, error) {
	if s == "" {
		return Addr{}, errors.New("empty address (want host:port or :port)")
	}
	if strings.HasPrefix(s, "/") {
		return Addr{}, errors.New("a path is only valid with protocol unix")
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return Addr{}, errors.New("address contains white space")
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return Addr{}, errors.New("missing port (want host:port or :port)")
	}
	host, portStr := s[:i], s[i+1:]
	port, err := parsePort(portStr)
	if err != nil {
		return Addr{}, err
	}
	if host == "" {
		return Addr{Port: port, DualStack: true}, nil
	}
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") {
			return Addr{}, errors.New("missing ] after IPv6 address")
		}
		inner := host[1 : len(host)-1]
		ip, err := netip.ParseAddr(inner)
		if err != nil {
			return Addr{}, fmt.Errorf("bad IPv6 address %q: %w", inner, unwrapParseError(err))
		}
		if ip.Is4() {
			return Addr{}, fmt.Errorf("IPv4 address %s in brackets (write %s:%d)", ip, ip, port)
		}
		if ip.Is4In6() {
			return Addr{}, fmt.Errorf("IPv4-mapped address %s (write %s:%d, or :%d for dual-stack)", ip, ip.Unmap(), port, port)
		}
		if z := ip.Zone(); z != "" {
			if !ip.IsLinkLocalUnicast() && !ip.IsLinkLocalMulticast() && !ip.IsInterfaceLocalMulticast() {
				return Addr{}, fmt.Errorf("zone %q on %s: a zone is only meaningful for link-local addresses", z, ip.WithZone(""))
			}
			if err := checkZone(z); err != nil {
				return Addr{}, err
			}
		}
		return Addr{IP: ip, Port: port}, nil
	}
	if strings.ContainsAny(host, "[]") {
		return Addr{}, errors.New("misplaced brackets (want [IPv6]:port)")
	}
	if strings.Contains(host, "%") && !strings.Contains(host, ":") {
		return Addr{}, fmt.Errorf("zone on %q: zones are for IPv6 link-local addresses, written [fe80::1%%eth0]:port", host)
	}
	if strings.Contains(host, ":") {
		return Addr{}, fmt.Errorf("IPv6 address %q must be in brackets (write [%s]:%s)", host, host, portStr)
	}
	if host == "*" {
		return Addr{}, fmt.Errorf("wildcard host * (write :%d for every address)", port)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if looksLikeName(host) {
			return Addr{}, fmt.Errorf("host %q is not an IP address (superd never resolves names)", host)
		}
		return Addr{}, fmt.Errorf("bad IPv4 address %q: %w", host, unwrapParseError(err))
	}
	return Addr{IP: ip, Port: port}, nil
}

// checkZone accepts an interface name (at most 15 bytes, as IFNAMSIZ
// allows, no '/', ':', '%', brackets, white space or control characters)
// or an interface index.
func checkZone(z string) error {
	if len(z) > 15 {
		return fmt.Errorf("zone %q is longer than an interface name (15 bytes)", z)
	}
	if z == "." || z == ".." {
		return fmt.Errorf("zone %q is not an interface name", z)
	}
	for i := 0; i < len(z); i++ {
		if c := z[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("/:%[]", c) >= 0 {
			return fmt.Errorf("zone %q is not an interface name", z)
		}
	}
	return nil
}

func parsePort(p string) (uint16, error) {
	if p == "" {
		return 0, errors.New("missing port (want host:port or :port)")
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return 0, fmt.Errorf("port %q is not a number (service names are not resolved)", p)
		}
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %s out of range 0-65535", p)
	}
	return uint16(n), nil
}

// looksLikeName reports whether host is plausibly a DNS name rather than a
// mistyped address: it has a letter and is not a dotted-quad with junk.
func looksLikeName(host string) bool {
	for i := 0; i < len(host); i++ {
		c := host[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			return true
		}
	}
	return false
}

// unwrapParseError trims netip's own repetition of the input from its
// error message, which the caller already quotes.
func unwrapParseError(err error) error {
	msg := err.Error()
	if i := strings.LastIndex(msg, "): "); i >= 0 {
		return errors.New(msg[i+3:])
	}
	return err
}

// String returns the canonical form: "127.0.0.1:79", "[::1]:79",
// "[fe80::1%eth0]:79", ":79" for dual-stack, or the path for unix.
func (a Addr) String() string {
	switch {
	case a.Network == "unix" || a.Path != "":
		return a.Path
	case a.DualStack:
		return ":" + strconv.Itoa(int(a.Port))
	case !a.IP.IsValid():
		return ""
	}
	return netip.AddrPortFrom(a.IP, a.Port).String()
}

// Clashes reports whether a and b cannot both be bound by different
// services: the same network and one address covers the other (":79" vs
// "127.0.0.1:79", "0.0.0.0:79" vs "127.0.0.1:79", "[::]:79" vs "[::1]:79",
// equal addresses, equal unix paths). Port 0 never clashes. Link-local
// addresses with different non-empty zones do not clash.
func (a Addr) Clashes(b Addr) bool {
	if a.Network != b.Network {
		return false
	}
	if a.Network == "unix" {
		return a.Path != "" && a.Path == b.Path
	}
	if a.Port == 0 || b.Port == 0 || a.Port != b.Port {
		return false
	}
	if a.DualStack || b.DualStack {
		return true
	}
	if a.IP.Is4() != b.IP.Is4() {
		return false
	}
	if a.IP.IsUnspecified() || b.IP.IsUnspecified() {
		return true
	}
	if za, zb := a.IP.Zone(), b.IP.Zone(); za != "" && zb != "" && za != zb {
		return false
	}
	return a.IP.WithZone("") == b.IP.WithZone("")
}
