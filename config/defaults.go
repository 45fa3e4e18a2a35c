package config

// Built-in defaults (SPEC §2 "Defaults").
const (
	defaultProtocol     = "tcp"
	defaultMode         = "nowait"
	defaultPass         = "stdio"
	defaultStderr       = "log"
	defaultWorkdir      = "/"
	defaultUmask        = 0o022
	defaultBacklog      = 4096
	defaultUnixMode     = 0o666
	defaultInstances    = 64
	defaultSourceBits4  = 32
	defaultSourceBits6  = 64
	defaultShutdownWait = "10s"
	defaultKillDelay    = "5s"
)

// or returns s if it is set, else d (marked as coming from the defaults
// block) if use is true and d is set.
func or[T any](s, d opt[T], use bool) opt[T] {
	if s.Set || !use || !d.Set {
		return s
	}
	d.Def = true
	return d
}

// mergeDefaults merges the defaults {} block d into the service s, per
// attribute: whatever s sets, even to [] or 0, wins whole. The defaults
// never give a builtin what it may not have (user, group, command
// settings, rlimits, mode), never give a wait-mode service anything from
// access {} or limits {} (its handler is a long-running server: limits
// meant for a handler per connection, such as a timeout or RLIMIT_CPU,
// would kill it, and superd cannot enforce access or connection limits on
// a handler that accepts for itself), and never give a socket that is not
// a unix socket a file mode or owner.
func mergeDefaults(s, d rawService) rawService {
	m := s
	cmd := !s.builtin.Set
	m.mode = or(s.mode, d.mode, cmd)
	wait := m.mode.OK && m.mode.V == "wait"
	unix := s.protocol.OK && s.protocol.V == "unix"

	m.pass = or(s.pass, d.pass, cmd)
	m.argv0 = or(s.argv0, d.argv0, cmd)
	m.user = or(s.user, d.user, cmd)
	m.group = or(s.group, d.group, cmd)
	m.groups = or(s.groups, d.groups, cmd)
	m.workdir = or(s.workdir, d.workdir, cmd)
	m.env = or(s.env, d.env, cmd)
	m.passEnv = or(s.passEnv, d.passEnv, cmd)
	m.umask = or(s.umask, d.umask, cmd)
	m.nice = or(s.nice, d.nice, cmd)
	m.stderr = or(s.stderr, d.stderr, cmd)
	m.disabled = or(s.disabled, d.disabled, true)

	m.socket.backlog = or(s.socket.backlog, d.socket.backlog, true)
	m.socket.keepalive = or(s.socket.keepalive, d.socket.keepalive, true)
	m.socket.nodelay = or(s.socket.nodelay, d.socket.nodelay, true)
	m.socket.freebind = or(s.socket.freebind, d.socket.freebind, true)
	m.socket.mode = or(s.socket.mode, d.socket.mode, unix)
	m.socket.owner = or(s.socket.owner, d.socket.owner, unix)
	m.socket.group = or(s.socket.group, d.socket.group, unix)

	m.access.allow = or(s.access.allow, d.access.allow, !wait)
	m.access.deny = or(s.access.deny, d.access.deny, !wait)
	m.access.times = or(s.access.times, d.access.times, !wait)
	m.access.denyMessage = or(s.access.denyMessage, d.access.denyMessage, !wait)

	m.limits.instances = or(s.limits.instances, d.limits.instances, !wait)
	m.limits.perSource = or(s.limits.perSource, d.limits.perSource, !wait)
	m.limits.rate = or(s.limits.rate, d.limits.rate, !wait)
	m.limits.perSourceRate = or(s.limits.perSourceRate, d.limits.perSourceRate, !wait)
	m.limits.sourcePrefix = or(s.limits.sourcePrefix, d.limits.sourcePrefix, !wait)
	m.limits.maxLoad = or(s.limits.maxLoad, d.limits.maxLoad, !wait)
	m.limits.timeout = or(s.limits.timeout, d.limits.timeout, !wait)
	m.limits.memory = or(s.limits.memory, d.limits.memory, cmd && !wait)
	m.limits.cpu = or(s.limits.cpu, d.limits.cpu, cmd && !wait)
	m.limits.files = or(s.limits.files, d.limits.files, cmd && !wait)
	m.limits.processes = or(s.limits.processes, d.limits.processes, cmd && !wait)
	return m
}

// fromDefaults is appended to messages about a value the defaults block
// gave.
func fromDefaults[T any](o opt[T]) string {
	if o.Def {
		return " (set in defaults)"
	}
	return ""
}
