package convert

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Xinetd translates xinetd.conf(5) files (xinetd.conf and, or, files of
// an xinetd.d directory) into superd HCL. A file reached through
// includedir or include that is also in srcs is read once.
func Xinetd(srcs []Source, o Options) Result {
	c := &conv{opts: o}
	p := &xparser{c: c, seen: map[string]bool{}}
	names := make([]string, 0, len(srcs))
	for _, s := range srcs {
		names = append(names, s.Name)
		p.parseFile(s.Name, s.Data, 0)
	}

	def := xattrs{}
	for _, e := range p.entries {
		if e.defaults {
			for _, a := range e.attrs {
				def.apply(a, nil)
			}
		}
	}
	defBody := &body{}
	for _, n := range def.ordered() {
		v := def[n]
		if c.common(defBody, n, v, scope{defaults: true}) {
			continue
		}
		switch n {
		case "bind", "interface", "v6only", "disabled", "enabled":
			// applied to each service below
		case "mdns":
			defBody.note("note: mdns left out: superd does not register services")
		default:
			c.lose(defBody, v.file, v.line, "%s is not translated in defaults", n)
		}
	}
	for i := range p.entries {
		if e := &p.entries[i]; !e.defaults && e.name != "" {
			c.xservice(e, def)
		}
	}
	return c.result([]string{"superd services converted from xinetd configuration: " + strings.Join(names, ", ")}, defBody)
}

// upperSet returns v's values upper-cased.
func upperSet(v *xval) []string {
	if v == nil {
		return nil
	}
	out := make([]string, len(v.vals))
	for i, s := range v.vals {
		out[i] = strings.ToUpper(s)
	}
	return out
}

// xservice translates one service section.
func (c *conv) xservice(e *xentry, def xattrs) {
	m := xattrs{}
	for _, a := range e.attrs {
		m.apply(a, def)
	}
	eff := func(n string) *xval {
		if v := m[n]; v != nil {
			return v
		}
		return def[n]
	}
	id := m["id"].first()
	if id == "" {
		id = e.name
	}
	what := fmt.Sprintf("service %s", e.name)
	if id != e.name {
		what = fmt.Sprintf("service %s (id %s)", e.name, id)
	}
	types, flags := upperSet(m["type"]), upperSet(m["flags"])

	switch {
	case slices.Contains(types, "RPC"):
		c.skip(e.file, e.line, what, "RPC services are not supported")
		return
	case slices.Contains(types, "TCPMUX"), slices.Contains(types, "TCPMUXPLUS"):
		c.skip(e.file, e.line, what, "TCPMUX services are not supported")
		return
	case slices.Contains(flags, "SENSOR"):
		c.skip(e.file, e.line, what, "SENSOR services are not supported")
		return
	case m["redirect"] != nil && m["server"] == nil && !slices.Contains(types, "INTERNAL"):
		c.skip(e.file, e.line, what, "redirect is not supported")
		return
	}

	proto, err := xproto(m["socket_type"].first(), m["protocol"].first())
	if err != nil {
		c.skip(e.file, e.line, what, "%v", err)
		return
	}

	b := &body{}
	var disable []string
	sc := scope{proto: proto, file: e.file, line: e.line, disable: &disable}

	builtin := ""
	var command []string
	argv0 := ""
	if slices.Contains(types, "INTERNAL") {
		switch e.name {
		case "echo", "discard", "daytime", "time", "chargen":
			builtin = e.name
		default:
			c.skip(e.file, e.line, what, "xinetd's internal service %q has no superd builtin", e.name)
			return
		}
		sc.builtin = true
	} else {
		server := m["server"].first()
		if server == "" {
			c.skip(e.file, e.line, what, "no server")
			return
		}
		if !path.IsAbs(server) {
			c.skip(e.file, e.line, what, "server %q is not an absolute path", server)
			return
		}
		args := m["server_args"]
		command = []string{server}
		if args != nil {
			command = append(command, args.vals...)
		}
		if slices.Contains(flags, "NAMEINARGS") {
			if args == nil || len(args.vals) == 0 {
				c.skip(e.file, e.line, what, "NAMEINARGS without server_args")
				return
			}
			argv0 = args.vals[0]
			command = append([]string{server}, args.vals[1:]...)
		}
	}

	// wait
	wait := proto == "udp"
	switch w := strings.ToLower(m["wait"].first()); {
	case w == "yes":
		wait = true
	case w == "no":
		wait = false
	case builtin != "":
	case w == "":
		c.lose(b, e.file, e.line, "wait is not set; taken as %s", yesNo(wait))
	default:
		c.lose(b, m["wait"].file, m["wait"].line, "wait = %q is not yes or no; taken as %s", w, yesNo(wait))
	}
	sc.wait = wait && builtin == ""

	// port and listen
	port, err := c.xport(e.name, proto, m["port"], slices.Contains(types, "UNLISTED"))
	if err != nil {
		c.skip(e.file, e.line, what, "%v", err)
		return
	}
	listen, lerr := xlisten(port, eff("bind"), eff("interface"), eff("v6only"), flags)
	if lerr != nil {
		bv := eff("bind")
		if bv == nil {
			bv = eff("interface")
		}
		c.lose(b, bv.file, bv.line, "bind: %v; listening on the wildcard address instead", lerr)
		disable = append(disable, "the bind address was not translated")
	}

	if builtin == "" && eff("user").first() == "" {
		c.lose(b, e.file, e.line, "no user: superd needs one when it runs as root")
	}
	b.setHandler(proto, listen, builtin, wait, command, argv0)
	// xinetd gives a server the user's supplementary groups only with
	// groups = yes (otherwise none); superd's default is the other way.
	if builtin == "" && eff("groups") == nil {
		b.set("groups", "false")
	}

	// A wait-mode udp service gets no access rules from superd's defaults:
	// copy xinetd's into the service.
	if sc.wait && proto == "udp" {
		for _, n := range []string{"only_from", "no_access", "access_times", "banner_fail"} {
			if m[n] == nil && def[n] != nil {
				m[n] = def[n]
			}
		}
	}

	for _, n := range m.ordered() {
		v := m[n]
		if c.common(b, n, v, sc) {
			continue
		}
		c.xserviceAttr(b, n, v, sc, flags)
	}

	if strings.EqualFold(m["disable"].first(), "yes") {
		b.set("disabled", "true")
	}
	if dl := def["disabled"]; dl != nil && slices.Contains(dl.vals, id) {
		b.note("note: disabled by the defaults' disabled list")
		b.set("disabled", "true")
	}
	if el := def["enabled"]; el != nil && len(el.vals) > 0 && !slices.Contains(el.vals, id) {
		b.note("note: disabled: not in the defaults' enabled list")
		b.set("disabled", "true")
	}
	if len(disable) > 0 {
		b.note("superd: disabled by convert until reviewed: %s", strings.Join(disable, "; "))
		b.set("disabled", "true")
	}

	alt := m["socket_type"].first()
	if alt == "" {
		alt = proto
	}
	c.addService(&svc{base: id, alt: alt, blk: &block{typ: "service", before: []string{fmt.Sprintf("%s:%d", e.file, e.line)}, body: *b}, file: e.file, line: e.line})
}

// xserviceAttr translates the attributes only a service has.
func (c *conv) xserviceAttr(b *body, n string, v *xval, sc scope, flags []string) {
	switch n {
	case "id", "type", "socket_type", "protocol", "wait", "server", "server_args", "port",
		"bind", "interface", "v6only", "disable":
		// handled by xservice
	case "flags":
		for _, f := range flags {
			switch f {
			case "IPV4", "IPV6", "NAMEINARGS", "NOLIBWRAP", "REUSE":
				// handled, or nothing to do: superd has no libwrap
			case "KEEPALIVE", "NODELAY":
				if sc.proto != "tcp" {
					b.note("note: flag %s has no effect on %s", f, sc.proto)
					continue
				}
				b.sub("socket").set(strings.ToLower(f), "true")
			case "NORETRY":
				b.note("note: flag NORETRY left out: superd never retries a failed spawn")
			default:
				c.lose(b, v.file, v.line, "flag %s is not supported", f)
			}
		}
	case "redirect":
		c.lose(b, v.file, v.line, "redirect %s left out: superd starts the server, it does not forward connections", strings.Join(v.vals, " "))
	case "mdns":
		b.note("note: mdns left out: superd does not register services")
	case "deny_time":
		b.note("note: deny_time left out: it applies to SENSOR services only")
	case "libwrap":
		c.lose(b, v.file, v.line, "libwrap (TCP wrappers) is not supported")
	case "rpc_version", "rpc_number":
		c.lose(b, v.file, v.line, "%s: RPC services are not supported", n)
	case "include", "includedir":
		c.lose(b, v.file, v.line, "%s inside a service is not allowed", n)
	default:
		c.lose(b, v.file, v.line, "unknown attribute %s", n)
	}
}

// xproto derives tcp/udp from socket_type and protocol.
func xproto(socketType, protocol string) (string, error) {
	var fromType string
	switch strings.ToLower(socketType) {
	case "stream":
		fromType = "tcp"
	case "dgram":
		fromType = "udp"
	case "":
	default:
		return "", fmt.Errorf("socket_type %s is not supported", socketType)
	}
	p := strings.ToLower(protocol)
	switch p {
	case "":
		if fromType == "" {
			return "", fmt.Errorf("no socket_type")
		}
		return fromType, nil
	case "tcp", "udp":
		if fromType != "" && fromType != p {
			return "", fmt.Errorf("socket_type %s with protocol %s", socketType, protocol)
		}
		return p, nil
	}
	return "", fmt.Errorf("protocol %s is not supported", protocol)
}

// xport finds the service's port: the port attribute, else /etc/services.
func (c *conv) xport(name, proto string, v *xval, unlisted bool) (int, error) {
	if s := v.first(); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 65535 {
			return 0, fmt.Errorf("port %q is not a port number", s)
		}
		return n, nil
	}
	if unlisted {
		return 0, fmt.Errorf("UNLISTED service without a port")
	}
	if c.opts.Services != nil {
		if n, ok := c.opts.Services.LookupPort(name, proto); ok && n > 0 {
			return n, nil
		}
	}
	return 0, fmt.Errorf("no port: %s/%s is not in the services list", name, proto)
}

// xlisten builds the listen entry. On an untranslatable bind address it
// returns the wildcard entry and an error.
func xlisten(port int, bind, iface, v6only *xval, flags []string) (string, error) {
	host := bind.first()
	if host == "" {
		host = iface.first()
	}
	v6o := strings.EqualFold(v6only.first(), "yes")
	family := "4"
	switch {
	case slices.Contains(flags, "IPV6") && v6o:
		family = "6"
	case slices.Contains(flags, "IPV6"):
		family = "46"
	case slices.Contains(flags, "IPV4"):
	case host != "":
		if a, err := netip.ParseAddr(host); err == nil && a.Is6() && !a.Is4In6() {
			family = "6"
			if a.IsUnspecified() && !v6o {
				family = "46"
			}
		}
	}
	addr, err := listenAddr(host, port, family)
	if err != nil {
		wild, _ := listenAddr("", port, family)
		return wild, err
	}
	return addr, nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func modeName(wait bool) string {
	if wait {
		return "wait"
	}
	return "nowait"
}
