package acl

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ParsePrefix parses one `allow`/`deny` entry: an IP address (v4 or v6,
// taken as a /32 or /128) or a CIDR prefix. A CIDR whose address has bits
// set past the prefix length, such as 10.1.2.3/8, is accepted and masked
// (10.0.0.0/8), as users expect.
//
// Host names are rejected (superd never resolves names), and so are
// IPv4-mapped IPv6 addresses (::ffff:…; a client is unmapped before
// matching, so such a rule could never match: write the IPv4 form),
// zones (%eth0), prefix lengths out of range and the empty string. The
// error names the input.
func ParsePrefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, errors.New(`parse address "": empty, want an IP address or CIDR`)
	}
	if strings.IndexByte(s, '%') >= 0 {
		return netip.Prefix{}, fmt.Errorf("parse address %q: zones are not allowed in access rules", s)
	}
	addrPart, bitsPart, hasBits := strings.Cut(s, "/")
	addr, err := netip.ParseAddr(addrPart)
	if err != nil {
		if looksLikeHostName(addrPart) {
			return netip.Prefix{}, fmt.Errorf("parse address %q: host names are not allowed, want an IP address or CIDR", s)
		}
		return netip.Prefix{}, fmt.Errorf("parse address %q: %w", s, err)
	}
	bits := addr.BitLen()
	if hasBits {
		bits, err = parseBits(bitsPart, addr.BitLen())
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("parse address %q: %w", s, err)
		}
	}
	if addr.Is4In6() {
		if bits >= 96 {
			v4 := netip.PrefixFrom(addr.Unmap(), bits-96).Masked()
			if bits == 128 {
				return netip.Prefix{}, fmt.Errorf("parse address %q: IPv4-mapped IPv6 addresses are not allowed, write %s", s, v4.Addr())
			}
			return netip.Prefix{}, fmt.Errorf("parse address %q: IPv4-mapped IPv6 addresses are not allowed, write %s", s, v4)
		}
		return netip.Prefix{}, fmt.Errorf("parse address %q: IPv4-mapped IPv6 addresses are not allowed, write the IPv4 form", s)
	}
	return netip.PrefixFrom(addr, bits).Masked(), nil
}

// parseBits parses a prefix length: decimal digits only, 0..max.
func parseBits(s string, max int) (int, error) {
	if s == "" {
		return 0, errors.New("missing prefix length after /")
	}
	if len(s) > 3 {
		return 0, fmt.Errorf("prefix length %q out of range 0-%d", s, max)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("invalid prefix length %q", s)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("invalid prefix length %q", s)
	}
	if n > max {
		return 0, fmt.Errorf("prefix length %d out of range 0-%d", n, max)
	}
	return n, nil
}

// looksLikeHostName reports whether s, which did not parse as an IP
// address, is probably a host name rather than a mistyped address: it has
// a letter, no colon, and only the bytes a DNS name has.
func looksLikeHostName(s string) bool {
	letter := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			letter = true
		case c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return letter
}
