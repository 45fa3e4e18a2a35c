package convert

import (
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// xval is an attribute's value after applying =, += and -=.
type xval struct {
	vals []string
	file string
	line int
}

func (v *xval) first() string {
	if v == nil || len(v.vals) == 0 {
		return ""
	}
	return v.vals[0]
}

// xattrs are the resolved attributes of one section, by name.
type xattrs map[string]*xval

// listAttr reports the attributes xinetd treats as sets (+= and -= allowed).
func listAttr(name string) bool {
	switch name {
	case "only_from", "no_access", "log_on_success", "log_on_failure", "passenv", "env", "disabled", "enabled":
		return true
	}
	return false
}

// apply applies one attribute line to m. base gives the inherited value
// a service's first += or -= starts from (nil for defaults, where every
// list attribute is cumulative).
func (m xattrs) apply(a xattr, base xattrs) {
	cur := m[a.name]
	if cur == nil {
		cur = &xval{}
		if listAttr(a.name) && a.op != "=" && base[a.name] != nil {
			cur.vals = slices.Clone(base[a.name].vals)
		}
		m[a.name] = cur
	}
	cur.file, cur.line = a.file, a.line
	switch {
	case !listAttr(a.name) || (a.op == "=" && base != nil):
		cur.vals = slices.Clone(a.values)
	case a.op == "-=":
		cur.vals = slices.DeleteFunc(cur.vals, func(s string) bool { return slices.Contains(a.values, s) })
	default: // += anywhere, = in defaults (cumulative)
		cur.vals = append(cur.vals, a.values...)
	}
}

// scope says where attributes are translated to.
type scope struct {
	defaults bool
	builtin  bool
	wait     bool
	proto    string
	file     string // the section's position, for section-wide warnings
	line     int
	disable  *[]string // reasons the service must be disabled (services only)
}

func (s scope) mustDisable(reason string) {
	if s.disable != nil {
		*s.disable = append(*s.disable, reason)
	}
}

// commonOrder is the order attributes are translated in (then the rest,
// sorted), so the output does not depend on map order.
func commonOrder() []string {
	return []string{
		"user", "group", "groups", "umask", "nice", "env", "passenv",
		"only_from", "no_access", "access_times", "banner_fail", "banner", "banner_success",
		"instances", "per_source", "cps", "max_load",
		"rlimit_as", "rlimit_cpu", "rlimit_files", "rlimit_rss", "rlimit_data", "rlimit_stack",
		"log_type", "log_on_success", "log_on_failure",
	}
}

// ordered returns m's names in translation order.
func (m xattrs) ordered() []string {
	var names []string
	for _, n := range commonOrder() {
		if m[n] != nil {
			names = append(names, n)
		}
	}
	var rest []string
	for n := range m {
		if !slices.Contains(names, n) {
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	return append(names, rest...)
}

// common translates the attributes a defaults section and a service share.
// It returns whether name was one of them.
func (c *conv) common(b *body, name string, v *xval, sc scope) bool {
	val := v.first()
	lose := func(format string, args ...any) { c.lose(b, v.file, v.line, format, args...) }
	notBuiltin := func() bool {
		if sc.builtin {
			b.note("note: %s is not used by a builtin (it runs inside superd)", name)
			return false
		}
		return true
	}
	tcpWait := sc.wait && sc.proto == "tcp" && !sc.defaults
	switch name {
	case "user", "group":
		if notBuiltin() && val != "" {
			b.set(name, quote(val))
		}
	case "groups":
		if notBuiltin() {
			switch strings.ToLower(val) {
			case "yes":
				b.set("groups", "true")
			case "no":
				b.set("groups", "false")
			default:
				lose("groups = %q is not yes or no", val)
			}
		}
	case "umask":
		if notBuiltin() {
			n, err := strconv.ParseUint(val, 8, 32)
			if err != nil || n > 0o777 {
				lose("umask = %q is not an octal mask", val)
				break
			}
			b.set("umask", quote(fmt.Sprintf("%04o", n)))
		}
	case "nice":
		if notBuiltin() {
			n, err := strconv.Atoi(val)
			if err != nil || n < -20 || n > 19 {
				lose("nice = %q is not in -20..19", val)
				break
			}
			b.set("nice", itoa(n))
		}
	case "env":
		if notBuiltin() {
			c.env(b, v)
		}
	case "passenv":
		if notBuiltin() {
			var names []string
			for _, n := range v.vals {
				if err := envName(n); err != nil {
					lose("passenv %s left out: %v", n, err)
					continue
				}
				if !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
			b.set("pass_env", list(names))
		}
	case "only_from", "no_access", "access_times", "banner_fail":
		if tcpWait {
			if name == "access_times" {
				lose("access_times cannot be enforced on a wait-mode tcp service")
			} else {
				b.note("note: %s left out: superd cannot check clients of a wait-mode tcp service (xinetd does not either, without INTERCEPT)", name)
			}
			break
		}
		c.access(b, name, v, sc)
	case "banner", "banner_success":
		lose("%s (a file sent to every client) is not supported", name)
	case "instances", "per_source":
		if sc.wait && !sc.defaults {
			b.note("note: %s left out: a wait-mode service runs one handler at a time", name)
			break
		}
		n, ok := count(val)
		if !ok {
			lose("%s = %q is not a number or UNLIMITED", name, val)
			break
		}
		b.sub("limits").set(name, itoa(n))
	case "cps":
		if sc.wait && !sc.defaults {
			b.note("note: cps left out: a wait-mode service runs one handler at a time")
			break
		}
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || len(v.vals) > 2 {
			lose("cps = %q is not a rate", strings.Join(v.vals, " "))
			break
		}
		b.sub("limits").set("rate", quote(fmt.Sprintf("%d/s", n)))
		if len(v.vals) == 2 {
			b.note("note: cps: superd refuses the connections over %d/s instead of pausing the service for %s s", n, v.vals[1])
		}
	case "max_load":
		f, err := strconv.ParseFloat(val, 64)
		if err != nil || f < 0 || f > 1e6 {
			lose("max_load = %q is not a load average", val)
			break
		}
		if f > 0 {
			b.sub("limits").set("max_load", strconv.FormatFloat(f, 'f', -1, 64))
		}
	case "rlimit_as", "rlimit_cpu", "rlimit_files":
		if notBuiltin() {
			c.rlimit(b, name, v)
		}
	case "rlimit_rss":
		if notBuiltin() {
			b.note("note: rlimit_rss left out: Linux ignores RLIMIT_RSS")
		}
	case "rlimit_data", "rlimit_stack":
		if notBuiltin() {
			lose("%s is not supported (superd sets memory = RLIMIT_AS, cpu, files, processes)", name)
		}
	case "log_type", "log_on_success", "log_on_failure":
		for _, f := range v.vals {
			if strings.EqualFold(f, "USERID") {
				lose("%s USERID: ident (RFC 1413) lookups are not supported", name)
				return true
			}
		}
		b.note("note: %s left out: superd logs every handler exit and refusal itself", name)
	default:
		return false
	}
	return true
}

// count parses a number or UNLIMITED (0).
func count(s string) (int, bool) {
	if strings.EqualFold(s, "UNLIMITED") {
		return 0, true
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0 && n <= 1<<30
}

func (c *conv) env(b *body, v *xval) {
	type kv struct{ k, v string }
	var vars []kv
	for _, s := range v.vals {
		k, val, ok := strings.Cut(s, "=")
		if !ok {
			c.lose(b, v.file, v.line, "env %q is not NAME=value", s)
			continue
		}
		if err := envName(k); err != nil {
			c.lose(b, v.file, v.line, "env %s left out: %v", k, err)
			continue
		}
		if i := slices.IndexFunc(vars, func(e kv) bool { return e.k == k }); i >= 0 {
			vars[i].v = val
			continue
		}
		vars = append(vars, kv{k, val})
	}
	parts := make([]string, len(vars))
	for i, e := range vars {
		parts[i] = e.k + " = " + quote(e.v)
	}
	if len(parts) == 0 {
		b.set("env", "{}")
		return
	}
	b.set("env", "{ "+strings.Join(parts, ", ")+" }")
}

// access translates only_from, no_access, access_times and banner_fail.
func (c *conv) access(b *body, name string, v *xval, sc scope) {
	acc := b.sub("access")
	lose := func(format string, args ...any) { c.lose(b, v.file, v.line, format, args...) }
	switch name {
	case "only_from":
		if len(v.vals) == 0 {
			acc.set("allow", "[]")
			acc.set("deny", list(everyone()))
			b.note("note: only_from is empty: nobody may connect")
			return
		}
		ps, names, notes := accessList(v.vals)
		for _, n := range notes {
			b.note("note: %s", n)
		}
		if len(names) > 0 {
			lose("only_from: names cannot be matched without DNS, left out: %s", strings.Join(names, " "))
		}
		if len(ps) == 0 {
			acc.set("allow", "[]")
			acc.set("deny", list(everyone()))
			b.note("note: no address of only_from is left: nobody may connect")
			return
		}
		acc.set("allow", list(ps))
	case "no_access":
		if a, ok := acc.get("allow"); ok && a == "[]" {
			return // only_from denies everyone already
		}
		ps, names, notes := accessList(v.vals)
		for _, n := range notes {
			b.note("note: %s", n)
		}
		if len(names) > 0 {
			lose("no_access: names cannot be matched without DNS, left out: %s", strings.Join(names, " "))
			sc.mustDisable("no_access names were left out")
		}
		acc.set("deny", list(ps))
	case "access_times":
		var ws []string
		for _, s := range v.vals {
			w, err := timeWindow(s)
			if err != nil {
				lose("access_times: %v", err)
				continue
			}
			ws = append(ws, w)
		}
		if len(ws) == 0 && len(v.vals) > 0 {
			sc.mustDisable("no access_times window is left")
		}
		acc.set("times", list(ws))
	case "banner_fail":
		msg, err := c.readBanner(v.first())
		if err != nil {
			lose("banner_fail: %v", err)
			return
		}
		acc.set("deny_message", quote(msg))
	}
}

// readBanner reads a banner_fail file through Options.FS.
func (c *conv) readBanner(file string) (string, error) {
	if c.opts.FS == nil {
		return "", fmt.Errorf("%s: no file system to read it from", file)
	}
	data, err := fs.ReadFile(c.opts.FS, fsPath(file))
	switch {
	case err != nil:
		return "", fsErr(file, err)
	case len(data) > 512:
		return "", fmt.Errorf("%s: %d bytes, superd sends at most 512", file, len(data))
	case !utf8.Valid(data):
		return "", fmt.Errorf("%s: not UTF-8 text", file)
	}
	return string(data), nil
}

// rlimit translates rlimit_as, rlimit_cpu and rlimit_files.
func (c *conv) rlimit(b *body, name string, v *xval) {
	val := v.first()
	if strings.EqualFold(val, "UNLIMITED") {
		b.note("note: %s = UNLIMITED left out: the handler keeps superd's own limit", name)
		return
	}
	switch name {
	case "rlimit_as":
		n, ok := size(val)
		if !ok {
			c.lose(b, v.file, v.line, "rlimit_as = %q is not a size", val)
			return
		}
		b.sub("limits").set("memory", quote(sizeString(n)))
	case "rlimit_cpu":
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil {
			c.lose(b, v.file, v.line, "rlimit_cpu = %q is not a number of seconds", val)
			return
		}
		b.sub("limits").set("cpu", quote(fmt.Sprintf("%ds", n)))
	case "rlimit_files":
		n, err := strconv.ParseUint(val, 10, 31)
		if err != nil {
			c.lose(b, v.file, v.line, "rlimit_files = %q is not a number", val)
			return
		}
		b.sub("limits").set("files", strconv.FormatUint(n, 10))
	}
}

// size parses xinetd's sizes: bytes, or K or M suffixed.
func size(s string) (uint64, bool) {
	mult := uint64(1)
	switch {
	case strings.HasSuffix(s, "K"), strings.HasSuffix(s, "k"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "G"), strings.HasSuffix(s, "g"):
		mult, s = 1<<30, s[:len(s)-1]
	}
	n, err := strconv.ParseUint(s, 10, 40)
	if err != nil || n == 0 {
		return 0, false
	}
	return n * mult, true
}

// sizeString formats bytes in superd's units, rounding up to whole KiB.
func sizeString(n uint64) string {
	switch {
	case n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	default:
		return fmt.Sprintf("%dKiB", (n+1023)>>10)
	}
}
