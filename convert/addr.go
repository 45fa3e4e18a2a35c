package convert

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// everyone is what xinetd's 0.0.0.0 (and an empty rule set) admits.
func everyone() []string { return []string{"0.0.0.0/0", "::/0"} }

// accessList converts xinetd address rules to superd prefixes. names
// holds what cannot be expressed (host, domain and network names);
// localhost is the one name with a fixed meaning and becomes the loopback
// addresses (noted in notes).
func accessList(vals []string) (prefixes, names, notes []string) {
	seen := map[string]bool{}
	add := func(ps ...string) {
		for _, p := range ps {
			if !seen[p] {
				seen[p] = true
				prefixes = append(prefixes, p)
			}
		}
	}
	for _, v := range vals {
		ps, err := xinetdAddr(v)
		switch {
		case err == nil:
			add(ps...)
		case strings.EqualFold(v, "localhost"):
			add("127.0.0.1/32", "::1/128")
			notes = append(notes, "localhost taken as 127.0.0.1 and ::1")
		default:
			names = append(names, v)
		}
	}
	return prefixes, names, notes
}

// xinetdAddr converts one only_from/no_access value.
func xinetdAddr(v string) ([]string, error) {
	if i := strings.IndexByte(v, '{'); i >= 0 {
		return factorized(v, i)
	}
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, err
		}
		return []string{prefixString(p)}, nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return nil, err
	}
	if a.Zone() != "" {
		return nil, fmt.Errorf("zone in %q", v)
	}
	if a.Is4() {
		b := a.As4()
		if b == [4]byte{} {
			return everyone(), nil
		}
		bits := 32
		for i := 3; i > 0 && b[i] == 0; i-- {
			bits -= 8 // xinetd: trailing zero components are wildcards
		}
		return []string{prefixString(netip.PrefixFrom(a, bits))}, nil
	}
	return []string{prefixString(netip.PrefixFrom(a, 128))}, nil
}

// prefixString masks p and unmaps v4-mapped prefixes (superd rejects them).
func prefixString(p netip.Prefix) string {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	p = p.Masked()
	if p.Bits() == 0 {
		if p.Addr().Is4() {
			return "0.0.0.0/0"
		}
		return "::/0"
	}
	return p.String()
}

// factorized expands "a.b.c.{x,y}" and "a.b.{x,y}" to CIDRs.
func factorized(v string, brace int) ([]string, error) {
	head, tail := v[:brace], v[brace:]
	if !strings.HasSuffix(tail, "}") || !strings.HasSuffix(head, ".") {
		return nil, fmt.Errorf("bad factorized address %q", v)
	}
	var base []byte
	for _, s := range strings.Split(strings.TrimSuffix(head, "."), ".") {
		n, err := octet(s)
		if err != nil {
			return nil, fmt.Errorf("bad factorized address %q", v)
		}
		base = append(base, n)
	}
	if len(base) == 0 || len(base) > 3 {
		return nil, fmt.Errorf("bad factorized address %q", v)
	}
	var out []string
	for _, s := range strings.Split(tail[1:len(tail)-1], ",") {
		n, err := octet(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("bad factorized address %q", v)
		}
		var b [4]byte
		copy(b[:], append(base, n))
		out = append(out, prefixString(netip.PrefixFrom(netip.AddrFrom4(b), 8*(len(base)+1))))
	}
	return out, nil
}

func octet(s string) (byte, error) {
	n, err := strconv.ParseUint(s, 10, 8)
	return byte(n), err
}

// timeWindow converts xinetd's "H:MM-H:MM" (24:00 allowed as an end) to
// superd's "HH:MM-HH:MM".
func timeWindow(v string) (string, error) {
	from, to, ok := strings.Cut(v, "-")
	if !ok {
		return "", fmt.Errorf("bad time interval %q", v)
	}
	a, err := clock(from)
	if err != nil {
		return "", err
	}
	b, err := clock(to)
	if err != nil {
		return "", err
	}
	if a == 24*60 {
		return "", fmt.Errorf("bad time interval %q", v)
	}
	b = min(b, 24*60-1)
	if a == b {
		return "", fmt.Errorf("time interval %q has equal ends", v)
	}
	return fmt.Sprintf("%02d:%02d-%02d:%02d", a/60, a%60, b/60, b%60), nil
}

func clock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || hh == 24 && mm != 0 || len(m) != 2 {
		return 0, fmt.Errorf("bad time %q", s)
	}
	return hh*60 + mm, nil
}

// listenAddr formats a listen entry for host (an IP literal, "" for the
// wildcard) and port; family is "4", "6" (v6 only) or "46" (dual stack).
func listenAddr(host string, port int, family string) (string, error) {
	if host == "" || host == "*" {
		switch family {
		case "4":
			return fmt.Sprintf("0.0.0.0:%d", port), nil
		case "6":
			return fmt.Sprintf("[::]:%d", port), nil
		default:
			return fmt.Sprintf(":%d", port), nil
		}
	}
	h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	a, err := netip.ParseAddr(h)
	if err != nil {
		return "", fmt.Errorf("address %q is not an IP address", host)
	}
	a = a.Unmap()
	switch {
	case a.Is4() && family == "6":
		return "", fmt.Errorf("IPv4 address %s on an IPv6-only service", a)
	case a.Is6() && family == "4":
		return "", fmt.Errorf("IPv6 address %s on an IPv4-only service", a)
	case a.Is6() && a.IsUnspecified() && family == "46":
		return fmt.Sprintf(":%d", port), nil
	}
	return netip.AddrPortFrom(a, uint16(port)).String(), nil
}

// envName reports whether name is a variable superd lets a service set.
func envName(name string) error {
	if name == "" {
		return fmt.Errorf("empty variable name")
	}
	for i, ch := range name {
		if !(ch == '_' || ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || i > 0 && ch >= '0' && ch <= '9') {
			return fmt.Errorf("bad variable name %q", name)
		}
	}
	for _, p := range []string{"LISTEN_", "WATCHDOG_", "SUPERD_", "REMOTE_", "LOCAL_", "TCP"} {
		if strings.HasPrefix(name, p) {
			return fmt.Errorf("variable %s is set by superd", name)
		}
	}
	if name == "NOTIFY_SOCKET" || name == "PROTO" {
		return fmt.Errorf("variable %s is set by superd", name)
	}
	return nil
}
