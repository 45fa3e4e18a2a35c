package config

import (
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/superd-dev/superd/acl"
	"github.com/superd-dev/superd/listener"
	"github.com/zclconf/go-cty/cty"
)

var (
	serviceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	envName     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

var builtins = []string{"echo", "discard", "daytime", "time", "chargen"}

// maxDenyMessage is the longest deny_message, in bytes.
const maxDenyMessage = 512

// rawService is a service {} or defaults {} block as written: every
// attribute decoded and checked on its own, and whether it was set.
type rawService struct {
	name     string
	blockRng hcl.Range // the block's type keyword
	nameRng  hcl.Range // its label

	protocol opt[string]
	listen   opt[[]item[listener.Addr]]
	mode     opt[string]
	pass     opt[string]
	command  opt[[]item[string]]
	argv0    opt[string]
	builtin  opt[string]
	user     opt[string]
	group    opt[string]
	groups   opt[bool]
	workdir  opt[string]
	env      opt[[]envVar]
	passEnv  opt[[]item[string]]
	umask    opt[int]
	nice     opt[int]
	stderr   opt[string]
	disabled opt[bool]

	socket rawSocket
	access rawAccess
	limits rawLimits
}

type rawSocket struct {
	backlog                      opt[int]
	keepalive, nodelay, freebind opt[bool]
	mode                         opt[int]
	owner, group                 opt[string]
}

type rawAccess struct {
	allow, deny opt[[]item[netip.Prefix]]
	times       opt[[]item[acl.Window]]
	denyMessage opt[string]
}

type rawLimits struct {
	instances, perSource opt[int]
	sourcePrefix         opt[[2]int]
	rate, perSourceRate  opt[acl.Rate]
	maxLoad              opt[float64]
	timeout              opt[time.Duration]
	memory, cpu          opt[uint64]
	files, processes     opt[uint64]
}

// decodeService decodes the body of a service {} block or, with
// isDefaults, of the defaults {} block.
func decodeService(diags *diagList, blk *hclsyntax.Block, isDefaults bool) rawService {
	r := rawService{blockRng: blk.TypeRange, nameRng: blk.TypeRange}
	d := &decoder{diags: diags, what: "defaults"}
	var forbidden []string
	if isDefaults {
		forbidden = notInDefaults
	} else {
		r.name = blk.Labels[0]
		r.nameRng = blk.LabelRanges[0]
		d.what = fmt.Sprintf("service %q", r.name)
	}
	attrs, blocks := d.body(blk.Body, "", serviceAttrs, serviceBlocks, forbidden)

	r.protocol = d.enum(attrs["protocol"], "protocol", "tcp", "udp", "unix")
	if a := attrs["listen"]; a != nil {
		proto := "tcp"
		if r.protocol.Set {
			proto = r.protocol.V
		}
		if r.protocol.Set && !r.protocol.OK {
			// Do not parse the addresses against a protocol that is wrong.
			r.listen = strList(d, a, "listen", func(string) (listener.Addr, error) { return listener.Addr{}, nil })
			r.listen.OK = false
		} else {
			r.listen = strList(d, a, "listen", func(s string) (listener.Addr, error) {
				return listener.ParseAddr(proto, s)
			})
		}
		if r.listen.OK && len(r.listen.V) == 0 {
			d.errf(r.listen.Rng, "listen", "must hold at least one address")
			r.listen.OK = false
		}
	}
	r.mode = d.enum(attrs["mode"], "mode", "nowait", "wait")
	r.pass = d.enum(attrs["pass"], "pass", "stdio", "fd")
	r.command = strList[string](d, attrs["command"], "command", nil)
	if r.command.OK {
		switch {
		case len(r.command.V) == 0:
			d.errf(r.command.Rng, "command", "must not be empty")
			r.command.OK = false
		case !filepath.IsAbs(r.command.V[0].V):
			d.errf(r.command.V[0].Rng, "command[0]", "must be an absolute path, not %q", r.command.V[0].V)
			r.command.OK = false
		}
	}
	r.argv0 = d.str(attrs["argv0"], "argv0")
	if r.argv0.OK && r.argv0.V == "" {
		d.errf(r.argv0.Rng, "argv0", "must not be empty")
		r.argv0.OK = false
	}
	r.builtin = d.enum(attrs["builtin"], "builtin", builtins...)
	r.user = d.idName(attrs["user"], "user")
	r.group = d.idName(attrs["group"], "group")
	r.groups = d.boolean(attrs["groups"], "groups")
	r.workdir = d.str(attrs["workdir"], "workdir")
	if r.workdir.OK && !filepath.IsAbs(r.workdir.V) {
		d.errf(r.workdir.Rng, "workdir", "must be an absolute path, not %q", r.workdir.V)
		r.workdir.OK = false
	}
	r.env = d.strMap(attrs["env"], "env")
	if r.env.Set {
		// The entries that decoded, also when others did not: every
		// error found, not only the first.
		seen := make(map[string]bool)
		for _, e := range r.env.V {
			if err := checkEnvName(e.Name); err != nil {
				d.errf(e.Rng, "env", "%v", err)
				r.env.OK = false
			}
			if seen[e.Name] {
				d.errf(e.Rng, "env", "%s is set twice", e.Name)
				r.env.OK = false
			}
			seen[e.Name] = true
		}
	}
	r.passEnv = strList(d, attrs["pass_env"], "pass_env", func(s string) (string, error) {
		return s, checkEnvName(s)
	})
	if r.passEnv.OK {
		seen := make(map[string]bool)
		for _, e := range r.passEnv.V {
			if seen[e.V] {
				d.errf(e.Rng, "pass_env", "%s is listed twice", e.V)
				r.passEnv.OK = false
			}
			seen[e.V] = true
		}
	}
	r.umask = d.octal(attrs["umask"], "umask", "0022")
	r.nice = d.integer(attrs["nice"], "nice", -20, 19)
	r.stderr = d.enum(attrs["stderr"], "stderr", "log", "socket", "null")
	r.disabled = d.boolean(attrs["disabled"], "disabled")

	if b := blocks["socket"]; b != nil {
		r.socket = decodeSocket(d, b.Body)
	}
	if b := blocks["access"]; b != nil {
		r.access = decodeAccess(d, b.Body)
	}
	if b := blocks["limits"]; b != nil {
		r.limits = decodeLimits(d, b.Body)
	}
	return r
}

func decodeSocket(d *decoder, b *hclsyntax.Body) rawSocket {
	attrs, _ := d.body(b, "socket.", socketAttrs, nil, nil)
	var s rawSocket
	s.backlog = d.integer(attrs["backlog"], "socket.backlog", 1, math.MaxInt32)
	s.keepalive = d.boolean(attrs["keepalive"], "socket.keepalive")
	s.nodelay = d.boolean(attrs["nodelay"], "socket.nodelay")
	s.freebind = d.boolean(attrs["freebind"], "socket.freebind")
	s.mode = d.octal(attrs["mode"], "socket.mode", "0666")
	s.owner = d.idName(attrs["owner"], "socket.owner")
	s.group = d.idName(attrs["group"], "socket.group")
	return s
}

func decodeAccess(d *decoder, b *hclsyntax.Body) rawAccess {
	attrs, _ := d.body(b, "access.", accessAttrs, nil, nil)
	var a rawAccess
	a.allow = strList(d, attrs["allow"], "access.allow", acl.ParsePrefix)
	a.deny = strList(d, attrs["deny"], "access.deny", acl.ParsePrefix)
	a.times = strList(d, attrs["times"], "access.times", acl.ParseWindow)
	a.denyMessage = d.rawStr(attrs["deny_message"], "access.deny_message")
	if a.denyMessage.OK && len(a.denyMessage.V) > maxDenyMessage {
		d.errf(a.denyMessage.Rng, "access.deny_message", "is %d bytes long, at most %d are allowed", len(a.denyMessage.V), maxDenyMessage)
		a.denyMessage.OK = false
	}
	return a
}

func decodeLimits(d *decoder, b *hclsyntax.Body) rawLimits {
	attrs, _ := d.body(b, "limits.", limitsAttrs, nil, nil)
	var l rawLimits
	l.instances = d.integer(attrs["instances"], "limits.instances", 0, math.MaxInt32)
	l.perSource = d.integer(attrs["per_source"], "limits.per_source", 0, math.MaxInt32)
	if a := attrs["source_prefix"]; a != nil {
		p := d.intList(a, "limits.source_prefix")
		l.sourcePrefix = opt[[2]int]{Set: true, Rng: p.Rng}
		switch {
		case !p.OK:
		case len(p.V) != 2:
			d.errf(p.Rng, "limits.source_prefix", "must be [IPv4 bits, IPv6 bits], such as [32, 64]")
		default:
			ok := true
			if p.V[0].V < 1 || p.V[0].V > 32 {
				d.errf(p.V[0].Rng, "limits.source_prefix[0]", "must be an IPv4 prefix length from 1 to 32, not %d", p.V[0].V)
				ok = false
			}
			if p.V[1].V < 1 || p.V[1].V > 128 {
				d.errf(p.V[1].Rng, "limits.source_prefix[1]", "must be an IPv6 prefix length from 1 to 128, not %d", p.V[1].V)
				ok = false
			}
			if ok {
				l.sourcePrefix.V = [2]int{int(p.V[0].V), int(p.V[1].V)}
				l.sourcePrefix.OK = true
			}
		}
	}
	l.rate = parseStr(d, attrs["rate"], "limits.rate", acl.ParseRate)
	l.perSourceRate = parseStr(d, attrs["per_source_rate"], "limits.per_source_rate", acl.ParseRate)
	l.maxLoad = d.float(attrs["max_load"], "limits.max_load", 0)
	l.timeout = d.duration(attrs["timeout"], "limits.timeout", 0)
	l.memory = d.size(attrs["memory"], "limits.memory")
	if a := attrs["cpu"]; a != nil {
		t := d.duration(a, "limits.cpu", 1)
		l.cpu = opt[uint64]{Set: true, OK: t.OK, Rng: t.Rng}
		if t.OK {
			l.cpu.V = uint64((t.V + time.Second - 1) / time.Second) // whole seconds, rounded up
		}
	}
	l.files = d.count(attrs["files"], "limits.files")
	l.processes = d.count(attrs["processes"], "limits.processes")
	return l
}

// parseStr is a string converted by parse.
func parseStr[T any](d *decoder, a *hclsyntax.Attribute, name string, parse func(string) (T, error)) opt[T] {
	s := d.str(a, name)
	o := opt[T]{Set: s.Set, Rng: s.Rng}
	if !s.OK {
		return o
	}
	v, err := parse(s.V)
	if err != nil {
		d.errf(s.Rng, name, "%v", err)
		return o
	}
	o.V, o.OK = v, true
	return o
}

// duration is a Go duration string ("90s", "10m") of at least min.
func (d *decoder) duration(a *hclsyntax.Attribute, name string, min time.Duration) opt[time.Duration] {
	return parseStr(d, a, name, func(s string) (time.Duration, error) {
		t, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: want Go syntax such as \"90s\" or \"10m\"", s)
		}
		if t < min {
			if min == 0 {
				return 0, fmt.Errorf("duration %q must not be negative", s)
			}
			return 0, fmt.Errorf("duration %q must be at least %v", s, min)
		}
		return t, nil
	})
}

// octal is a permission mask written as an octal string: "022" or "0022".
func (d *decoder) octal(a *hclsyntax.Attribute, name, example string) opt[int] {
	return parseStr(d, a, name, func(s string) (int, error) {
		t := s
		if len(t) == 4 && t[0] == '0' {
			t = t[1:]
		}
		n, err := strconv.ParseUint(t, 8, 16)
		if len(t) != 3 || err != nil {
			return 0, fmt.Errorf("invalid mode %q: want an octal string such as %q", s, example)
		}
		return int(n), nil
	})
}

// size is a number of bytes (a whole number, or a string with an optional
// KiB, MiB or GiB suffix), at least 1.
func (d *decoder) size(a *hclsyntax.Attribute, name string) opt[uint64] {
	o, v, ok := start[uint64](d, a, name)
	if !ok {
		return o
	}
	if v.Type() == cty.Number {
		n, ok := d.asInt(v, o.Rng, name, 1, math.MaxInt64)
		o.V, o.OK = uint64(n), ok
		return o
	}
	s, ok := d.asString(v, o.Rng, name, false)
	if !ok {
		return o
	}
	n, err := parseSize(s)
	if err != nil {
		d.errf(o.Rng, name, "%v", err)
		return o
	}
	o.V, o.OK = n, true
	return o
}

func parseSize(s string) (uint64, error) {
	num, mult := s, uint64(1)
	for _, u := range []struct {
		suffix string
		mult   uint64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	bad := fmt.Errorf("invalid size %q: want bytes, or a whole number with KiB, MiB or GiB, such as \"512MiB\"", s)
	if num == "" || strings.TrimLeft(num, "0123456789") != "" {
		return 0, bad
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n == 0 || n > math.MaxInt64/mult {
		if err == nil && n == 0 {
			return 0, fmt.Errorf("size %q must be at least 1 byte", s)
		}
		return 0, bad
	}
	return n * mult, nil
}

// count is a whole number >= 1 (files, processes).
func (d *decoder) count(a *hclsyntax.Attribute, name string) opt[uint64] {
	n := d.integer(a, name, 1, math.MaxInt32)
	return opt[uint64]{V: uint64(n.V), Set: n.Set, OK: n.OK, Rng: n.Rng}
}

// reservedEnv are the prefixes of the variables superd sets itself.
var reservedEnv = []string{"LISTEN_", "WATCHDOG_", "SUPERD_", "REMOTE_", "LOCAL_", "TCP"}

func checkEnvName(s string) error {
	if !envName.MatchString(s) {
		return fmt.Errorf("invalid variable name %q: want [A-Za-z_][A-Za-z0-9_]*", s)
	}
	if s == "NOTIFY_SOCKET" || s == "PROTO" {
		return fmt.Errorf("%s is set by superd", s)
	}
	for _, p := range reservedEnv {
		if strings.HasPrefix(s, p) {
			return fmt.Errorf("%s is set by superd (no %s* variable may be given)", s, p)
		}
	}
	return nil
}
