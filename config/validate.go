package config

import (
	"fmt"
	"os"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/superd-dev/superd/listener"
)

// listenAt is one listen entry of an enabled service, for the clash check.
type listenAt struct {
	service string
	addr    listener.Addr
	rng     hcl.Range
}

// service checks the rules between attributes of a merged service and
// builds the Service, resolving users and checking the files it uses.
func (l *loader) service(r rawService) (Service, []listenAt) {
	d := &decoder{diags: &l.diags, what: fmt.Sprintf("service %q", r.name)}
	s := Service{Name: r.name, Pos: posString(r.blockRng), Protocol: defaultProtocol, Mode: defaultMode}
	if r.protocol.OK {
		s.Protocol = r.protocol.V
	}
	stream := s.Protocol != "udp"
	var listens []listenAt
	if !r.listen.Set {
		d.errf(r.nameRng, "listen", "is required")
	}
	for _, a := range r.listen.V {
		s.Listen = append(s.Listen, a.V)
		listens = append(listens, listenAt{service: r.name, addr: a.V, rng: a.Rng})
	}
	if r.mode.OK {
		s.Mode = r.mode.V
	}
	s.Disabled = r.disabled.V
	wait := s.Mode == "wait"

	builtin := r.builtin.Set
	switch {
	case r.command.Set && builtin:
		d.errf(r.builtin.Rng, "builtin", "cannot be used with command: give one of them")
	case !r.command.Set && !builtin:
		d.errf(r.nameRng, "command", "one of command or builtin is required")
	}
	if builtin {
		s.Builtin = r.builtin.V
		l.builtinRules(d, r)
	} else {
		l.commandSettings(&s, r)
	}

	if r.stderr.OK && r.stderr.V == "socket" && (wait || !stream) {
		d.errf(r.stderr.Rng, "stderr", `"socket" is only allowed for nowait tcp and unix services%s`, fromDefaults(r.stderr))
	}
	if wait && stream {
		why := fmt.Sprintf("cannot be enforced on a wait-mode %s service (its handler accepts connections itself)", s.Protocol)
		for _, x := range []struct {
			name string
			o    opt[bool]
		}{
			{"access.allow", setOnly(r.access.allow)},
			{"access.deny", setOnly(r.access.deny)},
			{"access.times", setOnly(r.access.times)},
			{"access.deny_message", setOnly(r.access.denyMessage)},
			{"limits.instances", setOnly(r.limits.instances)},
			{"limits.per_source", setOnly(r.limits.perSource)},
			{"limits.rate", setOnly(r.limits.rate)},
			{"limits.per_source_rate", setOnly(r.limits.perSourceRate)},
		} {
			if x.o.Set {
				d.errf(x.o.Rng, x.name, "%s", why)
			}
		}
	}

	s.Socket = l.socket(d, r, s.Protocol == "unix")
	s.Access = access(r.access)
	s.Limits = limits(r.limits, wait)
	l.resolveUser(d, &s, r)
	if !s.Disabled {
		l.checkFiles(d, &s, r)
	}
	return s, listens
}

// setOnly keeps whether an opt was set, and where.
func setOnly[T any](o opt[T]) opt[bool] {
	return opt[bool]{Set: o.Set, Rng: o.Rng}
}

// builtinRules refuses what a builtin may not have. The defaults never
// give these to a builtin, so each was set in the service itself.
func (l *loader) builtinRules(d *decoder, r rawService) {
	for _, x := range []struct {
		name string
		o    opt[bool]
	}{
		{"user", setOnly(r.user)},
		{"group", setOnly(r.group)},
		{"groups", setOnly(r.groups)},
		{"pass", setOnly(r.pass)},
		{"argv0", setOnly(r.argv0)},
		{"stderr", setOnly(r.stderr)},
		{"workdir", setOnly(r.workdir)},
		{"env", setOnly(r.env)},
		{"pass_env", setOnly(r.passEnv)},
		{"umask", setOnly(r.umask)},
		{"nice", setOnly(r.nice)},
		{"limits.memory", setOnly(r.limits.memory)},
		{"limits.cpu", setOnly(r.limits.cpu)},
		{"limits.files", setOnly(r.limits.files)},
		{"limits.processes", setOnly(r.limits.processes)},
	} {
		if x.o.Set {
			d.errf(x.o.Rng, x.name, "is not allowed with builtin (a builtin runs inside superd)")
		}
	}
	if r.mode.OK && r.mode.V != "nowait" {
		d.errf(r.mode.Rng, "mode", `must be "nowait" for a builtin`)
	}
}

// commandSettings fills in what only a command service has.
func (l *loader) commandSettings(s *Service, r rawService) {
	for _, c := range r.command.V {
		s.Command = append(s.Command, c.V)
	}
	s.Argv0 = r.argv0.V
	s.Pass = defaultPass
	if r.pass.OK {
		s.Pass = r.pass.V
	}
	s.Workdir = defaultWorkdir
	if r.workdir.OK {
		s.Workdir = r.workdir.V
	}
	for _, e := range r.env.V {
		s.Env = append(s.Env, [2]string{e.Name, e.Value})
	}
	sort.Slice(s.Env, func(i, j int) bool { return s.Env[i][0] < s.Env[j][0] })
	for _, e := range r.passEnv.V {
		s.PassEnv = append(s.PassEnv, e.V)
	}
	s.Umask = defaultUmask
	if r.umask.OK {
		s.Umask = r.umask.V
	}
	s.Nice = r.nice.V
	s.Stderr = defaultStderr
	if r.stderr.OK {
		s.Stderr = r.stderr.V
	}
}

// socket builds the socket settings; mode, owner and group are for unix
// sockets only.
func (l *loader) socket(d *decoder, r rawService, unix bool) Socket {
	rs := r.socket
	so := Socket{Backlog: defaultBacklog, UID: -1, GID: -1}
	if rs.backlog.OK {
		so.Backlog = rs.backlog.V
	}
	so.Keepalive, so.NoDelay, so.FreeBind = rs.keepalive.V, rs.nodelay.V, rs.freebind.V
	if !unix {
		for _, x := range []struct {
			name string
			o    opt[bool]
		}{{"socket.mode", setOnly(rs.mode)}, {"socket.owner", setOnly(rs.owner)}, {"socket.group", setOnly(rs.group)}} {
			if x.o.Set {
				d.errf(x.o.Rng, x.name, "only applies to unix sockets")
			}
		}
		return so
	}
	so.Mode = os.FileMode(defaultUnixMode)
	if rs.mode.OK {
		so.Mode = os.FileMode(rs.mode.V)
	}
	if !l.o.Root {
		// Only root can give a file away: leave the socket as created.
		if rs.owner.Set || rs.group.Set {
			rng := rs.owner.Rng
			if !rs.owner.Set {
				rng = rs.group.Rng
			}
			l.warnf(rng, "service %q: socket owner and group ignored: superd does not run as root", r.name)
		}
		return so
	}
	so.Owner, so.Group, so.UID, so.GID = "root", "root", 0, 0
	if rs.owner.OK {
		a, err := l.users.lookupUser(rs.owner.V)
		if err != nil {
			d.errf(rs.owner.Rng, "socket.owner", "%v%s", err, fromDefaults(rs.owner))
		} else {
			so.Owner, so.UID = a.name, int(a.uid)
		}
	}
	if rs.group.OK {
		gid, name, err := lookupGroup(rs.group.V)
		if err != nil {
			d.errf(rs.group.Rng, "socket.group", "%v%s", err, fromDefaults(rs.group))
		} else {
			so.Group, so.GID = name, int(gid)
		}
	}
	return so
}

func access(ra rawAccess) Access {
	var a Access
	for _, p := range ra.allow.V {
		a.Allow = append(a.Allow, p.V)
	}
	for _, p := range ra.deny.V {
		a.Deny = append(a.Deny, p.V)
	}
	for _, w := range ra.times.V {
		a.Times = append(a.Times, w.V)
	}
	a.DenyMessage = ra.denyMessage.V
	return a
}

// limits builds the limits; a wait-mode service has no instance limit
// unless it sets one (UDP).
func limits(rl rawLimits, wait bool) Limits {
	lm := Limits{Instances: defaultInstances, SourcePrefix4: defaultSourceBits4, SourcePrefix6: defaultSourceBits6}
	if wait {
		lm.Instances = 0
	}
	if rl.instances.OK {
		lm.Instances = rl.instances.V
	}
	lm.PerSource = rl.perSource.V
	if rl.sourcePrefix.OK {
		lm.SourcePrefix4, lm.SourcePrefix6 = rl.sourcePrefix.V[0], rl.sourcePrefix.V[1]
	}
	lm.Rate = rl.rate.V
	lm.PerSourceRate = rl.perSourceRate.V
	lm.MaxLoad = rl.maxLoad.V
	lm.Timeout = rl.timeout.V
	lm.Memory = rl.memory.V
	lm.CPU = rl.cpu.V
	lm.Files = rl.files.V
	lm.Processes = rl.processes.V
	return lm
}

func (l *loader) warnf(rng hcl.Range, format string, args ...any) {
	l.warnings = append(l.warnings, warning{rng: rng, msg: fmt.Sprintf(format, args...)})
}

// resolveUser fills in the handler's user (SPEC §2 "Users").
func (l *loader) resolveUser(d *decoder, s *Service, r rawService) {
	if s.Builtin != "" || r.builtin.Set {
		return // a builtin runs in superd (a bad builtin has its own error)
	}
	if !l.o.Root {
		if r.user.Set || r.group.Set {
			rng := r.user.Rng
			if !r.user.Set {
				rng = r.group.Rng
			}
			l.warnf(rng, "service %q: user and group ignored: superd does not run as root, handlers run as uid %d", r.name, l.o.UID)
		}
		// The names must still exist: the same files must pass on a
		// root install.
		if r.user.OK && !s.Disabled {
			if _, err := l.users.lookupUser(r.user.V); err != nil {
				d.errf(r.user.Rng, "user", "%v%s", err, fromDefaults(r.user))
			}
		}
		if r.group.OK && !s.Disabled {
			if _, _, err := lookupGroup(r.group.V); err != nil {
				d.errf(r.group.Rng, "group", "%v%s", err, fromDefaults(r.group))
			}
		}
		a := l.users.self(l.o.UID)
		s.User, s.UID, s.GID, s.Home, s.Shell = a.name, a.uid, a.gid, a.home, a.shell
		s.Group = groupName(a.gid)
		return
	}
	if !r.user.Set {
		d.errf(r.nameRng, "user", "is required when superd runs as root (it may be \"root\")")
		return
	}
	if !r.user.OK || s.Disabled {
		return
	}
	a, err := l.users.lookupUser(r.user.V)
	if err != nil {
		d.errf(r.user.Rng, "user", "%v%s", err, fromDefaults(r.user))
		if r.group.OK { // every error found, not only the first
			if _, _, err := lookupGroup(r.group.V); err != nil {
				d.errf(r.group.Rng, "group", "%v%s", err, fromDefaults(r.group))
			}
		}
		return
	}
	s.HasUser = true
	s.User, s.UID, s.GID, s.Home, s.Shell = a.name, a.uid, a.gid, a.home, a.shell
	s.Group = groupName(a.gid)
	if a.uid == 0 {
		l.warnf(r.user.Rng, "service %q: handlers run as root", r.name)
	}
	if r.group.Set {
		if !r.group.OK {
			return
		}
		gid, name, err := lookupGroup(r.group.V)
		if err != nil {
			d.errf(r.group.Rng, "group", "%v%s", err, fromDefaults(r.group))
			return
		}
		s.GID, s.Group = gid, name
	}
	if r.groups.Set && !r.groups.V {
		return
	}
	groups, err := supplementary(a, s.GID)
	if err != nil {
		d.errf(r.user.Rng, "user", "%v", err)
		return
	}
	s.Groups = groups
}

// checkFiles applies the permission rules to command[0] and to the
// directories of unix socket paths, and checks command[0] can be run.
func (l *loader) checkFiles(d *decoder, s *Service, r rawService) {
	if r.command.OK && len(s.Command) > 0 {
		uid, gid, groups := s.UID, s.GID, s.Groups
		if !s.HasUser {
			uid, gid = uint32(l.o.UID), uint32(os.Getgid())
			groups = ownGroups()
		}
		problems, err := l.perms.checkExecutable(s.Command[0], uid, gid, groups)
		rng := r.command.V[0].Rng
		for _, p := range dedup(problems) {
			d.errf(rng, "command[0]", "%s", p)
		}
		if err != nil {
			d.errf(rng, "command[0]", "%v", err)
		}
	}
	if s.Protocol == "unix" {
		for _, a := range r.listen.V {
			problems, err := l.perms.checkSocketDir(a.V.Path)
			for _, p := range dedup(problems) {
				d.errf(a.Rng, "listen", "%s", p)
			}
			if err != nil {
				d.errf(a.Rng, "listen", "%v", err)
			}
		}
	}
}

func ownGroups() []uint32 {
	gs, _ := os.Getgroups()
	out := make([]uint32, 0, len(gs))
	for _, g := range gs {
		out = append(out, uint32(g))
	}
	return out
}

func dedup(list []string) []string {
	seen := make(map[string]bool)
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// clashes reports addresses of enabled services that cover each other
// (and a metrics_listen that clashes with a TCP service).
func (l *loader) clashes(ls []listenAt, metrics metricsAddr) {
	idx := newClashIndex()
	for j, x := range ls {
		if i := idx.first(ls, x.addr); i >= 0 {
			l.diags.errorf(x.rng, "service %q: listen %q clashes with %q of service %q at %s",
				x.service, x.addr.String(), ls[i].addr.String(), ls[i].service, posString(ls[i].rng))
		}
		idx.add(j, x.addr)
	}
	if !metrics.ok {
		return
	}
	for _, x := range ls {
		if x.addr.Clashes(metrics.addr) {
			l.diags.errorf(metrics.rng, "daemon: metrics_listen %q clashes with %q of service %q at %s",
				metrics.addr.String(), x.addr.String(), x.service, posString(x.rng))
		}
	}
}
