package convert

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Inetd translates an inetd.conf(5) file into superd HCL. It reads the
// line forms of the BSD and Debian (openbsd-inetd) inetds:
//
//	service socktype proto wait[.max] user[:group|.group] server [argv0 args...]
//	addr:service ...        a service on one address
//	addr:                   the address of the lines that follow ("*:" resets)
//	#<off># ...             a line disabled by update-inetd(8): disabled = true
//
// proto is tcp, udp (IPv4), tcp6, udp6 (IPv6 only), tcp46, udp46 (both)
// or unix (service is then a socket path); wait.N and nowait.N become
// rate = "N/m"; FreeBSD's nowait/C/R/P become instances, per_source_rate
// and per_source. rpc/ and tcpmux/ entries are left out with warnings.
func Inetd(src Source, o Options) Result {
	c := &conv{opts: o}
	host := "" // from an "addr:" line
	for i, raw := range strings.Split(string(src.Data), "\n") {
		ln := i + 1
		line := strings.TrimSpace(raw)
		disabled := false
		if rest, ok := strings.CutPrefix(line, "#<off>#"); ok {
			line, disabled = strings.TrimSpace(rest), true
			if f := strings.Fields(line); len(f) < 6 {
				continue // a comment after all
			}
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) == 1 && strings.HasSuffix(f[0], ":") {
			host = strings.TrimSuffix(f[0], ":")
			if host == "*" {
				host = ""
			}
			continue
		}
		if len(f) < 6 {
			c.skip(src.Name, ln, fmt.Sprintf("line %q", line), "an inetd line has at least 6 fields")
			continue
		}
		c.inetdLine(src.Name, ln, f, host, disabled)
	}
	return c.result([]string{"superd services converted from inetd configuration: " + src.Name}, nil)
}

func (c *conv) inetdLine(file string, ln int, f []string, host string, disabled bool) {
	service, socktype, proto, waitf, user, server := f[0], f[1], f[2], f[3], f[4], f[5]
	args := f[6:]
	what := "service " + service
	if i := strings.LastIndexByte(service, ':'); i >= 0 && !strings.HasPrefix(proto, "unix") {
		host, service = service[:i], service[i+1:]
		if host == "*" {
			host = ""
		}
		what = "service " + service
	}
	switch {
	case strings.HasPrefix(proto, "rpc/"):
		c.skip(file, ln, what, "RPC services are not supported")
		return
	case strings.HasPrefix(service, "tcpmux/"):
		c.skip(file, ln, what, "TCPMUX services are not supported")
		return
	}

	b := &body{}
	var disable []string

	var network, family string
	switch proto {
	case "tcp", "udp":
		network, family = proto, "4"
	case "tcp4", "udp4":
		network, family = proto[:3], "4"
	case "tcp6", "udp6":
		network, family = proto[:3], "6"
	case "tcp46", "udp46":
		network, family = proto[:3], "46"
	case "unix":
		network = "unix"
	default:
		c.skip(file, ln, what, "protocol %s is not supported", proto)
		return
	}
	switch {
	case socktype == "stream" && network == "udp", socktype == "dgram" && network != "udp":
		c.skip(file, ln, what, "socket type %s with protocol %s is not supported", socktype, proto)
		return
	case socktype != "stream" && socktype != "dgram":
		c.skip(file, ln, what, "socket type %s is not supported", socktype)
		return
	}

	// builtin or command
	builtin := ""
	var command []string
	argv0 := ""
	if server == "internal" {
		switch service {
		case "echo", "discard", "daytime", "time", "chargen":
			builtin = service
		default:
			c.skip(file, ln, what, "inetd's internal service %q has no superd builtin", service)
			return
		}
		if network == "unix" {
			c.skip(file, ln, what, "builtins on unix sockets are not supported")
			return
		}
	} else {
		if !path.IsAbs(server) {
			c.skip(file, ln, what, "server %q is not an absolute path", server)
			return
		}
		command = []string{server}
		if len(args) > 0 {
			command = append(command, args[1:]...)
			if args[0] != server {
				argv0 = args[0]
			}
		}
	}

	// listen
	var listen, label string
	if network == "unix" {
		if !path.IsAbs(service) || len(service) > 107 {
			c.skip(file, ln, what, "unix socket path %q is not absolute or longer than 107 bytes", service)
			return
		}
		listen, label = service, path.Base(service)
	} else {
		port, err := strconv.Atoi(service)
		if err != nil {
			p, ok := 0, false
			if c.opts.Services != nil {
				p, ok = c.opts.Services.LookupPort(service, network)
			}
			if !ok || p < 1 {
				c.skip(file, ln, what, "no port: %s/%s is not in the services list", service, network)
				return
			}
			port = p
		} else if port < 1 || port > 65535 {
			c.skip(file, ln, what, "port %s is out of range", service)
			return
		}
		label = service
		listen, err = listenAddr(host, port, family)
		if err != nil {
			c.lose(b, file, ln, "address: %v; listening on the wildcard address instead", err)
			disable = append(disable, "the address was not translated")
			listen, _ = listenAddr("", port, family)
		}
	}

	// wait[.max] or FreeBSD's wait/max-child/max-per-ip-per-minute/max-child-per-ip
	wait, limits, err := inetdWait(waitf)
	if err != nil {
		c.skip(file, ln, what, "%v", err)
		return
	}

	b.setHandler(network, listen, builtin, wait, command, argv0)
	if builtin == "" {
		u, g := inetdUser(user)
		if strings.Contains(user, "/") {
			b.note("note: login class of %q left out", user)
		}
		if u != "" {
			b.set("user", quote(u))
		}
		if g != "" {
			b.set("group", quote(g))
		}
	}
	tcpWait := wait && network != "udp" && builtin == ""
	for _, l := range limits {
		switch {
		case tcpWait && l.key != "instances":
			c.lose(b, file, ln, "%s cannot be enforced on a wait-mode %s service", l.key, network)
		case wait && builtin == "" && l.key == "instances":
			b.note("note: %s left out: a wait-mode service runs one handler at a time", l.key)
		default:
			b.sub("limits").set(l.key, l.expr)
		}
	}
	if disabled {
		b.set("disabled", "true")
	}
	if len(disable) > 0 {
		b.note("superd: disabled by convert until reviewed: %s", strings.Join(disable, "; "))
		b.set("disabled", "true")
	}
	c.addService(&svc{base: label, alt: socktype, blk: &block{typ: "service", before: []string{fmt.Sprintf("%s:%d", file, ln)}, body: *b}, file: file, line: ln})
}

// inetdWait parses wait, nowait, wait.N, nowait.N and FreeBSD's
// nowait/C/R/P (max children, per-source connections a minute, children
// per source).
func inetdWait(s string) (bool, []attr, error) {
	bad := fmt.Errorf("wait field %q is not wait or nowait[.max]", s)
	mode, rest, _ := strings.Cut(s, ".")
	var parts []string
	if rest == "" {
		var slash string
		mode, slash, _ = strings.Cut(s, "/")
		if slash != "" {
			parts = strings.Split(slash, "/")
		}
	}
	var wait bool
	switch mode {
	case "wait":
		wait = true
	case "nowait":
	default:
		return false, nil, bad
	}
	num := func(p string) (int, error) {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 1<<30 {
			return 0, bad
		}
		return n, nil
	}
	var out []attr
	if rest != "" {
		n, err := num(rest)
		if err != nil {
			return false, nil, err
		}
		if n > 0 {
			out = append(out, attr{"rate", quote(fmt.Sprintf("%d/m", n))})
		}
		return wait, out, nil
	}
	if len(parts) > 3 {
		return false, nil, bad
	}
	keys := []string{"instances", "per_source_rate", "per_source"}
	for i, p := range parts {
		n, err := num(p)
		if err != nil {
			return false, nil, err
		}
		switch {
		case n == 0:
		case keys[i] == "per_source_rate":
			out = append(out, attr{keys[i], quote(fmt.Sprintf("%d/m", n))})
		default:
			out = append(out, attr{keys[i], itoa(n)})
		}
	}
	return wait, out, nil
}

// inetdUser splits user, user:group, user.group and FreeBSD's
// user/login-class (the class is dropped).
func inetdUser(s string) (user, group string) {
	s, _, _ = strings.Cut(s, "/")
	if u, g, ok := strings.Cut(s, ":"); ok {
		return u, g
	}
	if u, g, ok := strings.Cut(s, "."); ok {
		return u, g
	}
	return s, ""
}
