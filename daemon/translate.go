package daemon

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/superd-dev/superd/acl"
	"github.com/superd-dev/superd/config"
	"github.com/superd-dev/superd/listener"
	"github.com/superd-dev/superd/spawner"
)

// This file is the one place that reads how a service file becomes running
// parts: listener.Options, acl.Policy and spawner.Spec.

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// processUmask is the umask superd sets for itself at start (cmd/superd);
// a handler asking for the same needs no per-thread change.
const processUmask = 0o022

// environ holds what translate needs from superd's own process.
type environ struct {
	lookupEnv func(string) (string, bool)
	nice      int  // superd's own nice value
	root      bool // superd can chown (unix socket owner)
}

func currentEnviron() environ {
	nice := 0
	// getpriority(2) returns 20-nice as the raw syscall value.
	if p, err := unix.Getpriority(unix.PRIO_PROCESS, 0); err == nil {
		nice = 20 - p
	}
	return environ{lookupEnv: os.LookupEnv, nice: nice, root: os.Geteuid() == 0}
}

func translate(cfg *config.Config, svc config.Service, env environ) *state {
	st := &state{
		protocol:  svc.Protocol,
		mode:      svc.Mode,
		loc:       cfg.Location,
		wait:      svc.Mode == "wait",
		passFD:    svc.Pass == "fd",
		builtin:   svc.Builtin,
		timeout:   svc.Limits.Timeout,
		killDelay: cfg.Daemon.KillDelay,
		denyMsg:   []byte(svc.Access.DenyMessage),
	}
	switch svc.Protocol {
	case "udp":
		st.proto = "UDP"
	case "unix":
		st.proto = "UNIX"
	default:
		st.proto = "TCP"
	}
	st.listen = listener.Options{
		Backlog:   svc.Socket.Backlog,
		Keepalive: svc.Socket.Keepalive,
		NoDelay:   svc.Socket.NoDelay,
		FreeBind:  svc.Socket.FreeBind,
		UnixMode:  svc.Socket.Mode,
		UnixUID:   svc.Socket.UID,
		UnixGID:   svc.Socket.GID,
	}
	if !env.root {
		// Only root can give a socket file away; an unprivileged superd
		// leaves it owned by itself.
		st.listen.UnixUID, st.listen.UnixGID = -1, -1
	}
	st.policy = acl.Policy{
		Allow:         svc.Access.Allow,
		Deny:          svc.Access.Deny,
		Times:         svc.Access.Times,
		Location:      cfg.Location,
		Instances:     svc.Limits.Instances,
		PerSource:     svc.Limits.PerSource,
		SourceBits4:   svc.Limits.SourcePrefix4,
		SourceBits6:   svc.Limits.SourcePrefix6,
		Rate:          svc.Limits.Rate,
		PerSourceRate: svc.Limits.PerSourceRate,
		MaxLoad:       svc.Limits.MaxLoad,
	}
	// A wait-mode TCP/Unix handler accepts for itself: superd sees no
	// client, and config rejects access rules there.
	st.checkACL = !st.wait || svc.Protocol == "udp"
	if svc.Builtin != "" {
		return st
	}
	switch svc.Stderr {
	case "null":
		st.stderr = spawner.StderrNull
	case "socket":
		st.stderr = spawner.StderrFD
	default:
		st.stderr = spawner.StderrLog
	}
	st.envBase = baseEnv(svc, st.proto, env)
	spec := &spawner.Spec{
		Path:      svc.Command[0],
		Argv:      append([]string(nil), svc.Command...),
		Dir:       svc.Workdir,
		Env:       st.envBase,
		Umask:     -1,
		Timeout:   svc.Limits.Timeout,
		KillDelay: cfg.Daemon.KillDelay,
		Service:   svc.Name,
	}
	if svc.Argv0 != "" {
		spec.Argv[0] = svc.Argv0
	}
	if spec.Dir == "" {
		spec.Dir = "/"
	}
	if svc.HasUser {
		groups := append([]uint32{}, svc.Groups...)
		spec.Credential = &syscall.Credential{Uid: svc.UID, Gid: svc.GID, Groups: groups}
	}
	if svc.Umask != processUmask {
		spec.Umask = svc.Umask
	}
	if svc.Nice != env.nice {
		spec.Nice, spec.SetNice = svc.Nice, true
	}
	add := func(res int, v uint64) {
		if v != 0 {
			spec.Rlimits = append(spec.Rlimits, spawner.Rlimit{Resource: res, Cur: v, Max: v})
		}
	}
	add(unix.RLIMIT_AS, svc.Limits.Memory)
	add(unix.RLIMIT_CPU, svc.Limits.CPU)
	add(unix.RLIMIT_NOFILE, svc.Limits.Files)
	add(unix.RLIMIT_NPROC, svc.Limits.Processes)
	if st.passFD {
		spec.ListenFDName = svc.Name
	}
	st.spec = spec
	return st
}

// baseEnv builds the handler environment shared by every connection of a
// service, from nothing: PATH, the user's HOME/USER/LOGNAME/SHELL,
// SUPERD_SERVICE, PROTO, then pass_env, then env (later ones replace
// earlier ones of the same name).
func baseEnv(svc config.Service, proto string, env environ) []string {
	type kv struct{ k, v string }
	vars := []kv{
		{"PATH", defaultPath},
		{"HOME", svc.Home},
		{"USER", svc.User},
		{"LOGNAME", svc.User},
		{"SHELL", svc.Shell},
		{"SUPERD_SERVICE", svc.Name},
		{"PROTO", proto},
	}
	set := func(k, v string) {
		for i := range vars {
			if vars[i].k == k {
				vars[i].v = v
				return
			}
		}
		vars = append(vars, kv{k, v})
	}
	for _, name := range svc.PassEnv {
		if v, ok := env.lookupEnv(name); ok {
			set(name, v)
		}
	}
	for _, e := range svc.Env {
		set(e[0], e[1])
	}
	out := make([]string, 0, len(vars))
	for _, e := range vars {
		if e.v == "" && (e.k == "HOME" || e.k == "USER" || e.k == "LOGNAME" || e.k == "SHELL") {
			continue
		}
		out = append(out, e.k+"="+e.v)
	}
	return out
}

// socketKey identifies a socket that a reload may keep: same service,
// protocol, mode, address and binding options.
func socketKey(name string, st *state, a listener.Addr) string {
	o := st.listen
	return fmt.Sprintf("%s|%s|%s|%s|%d|%t|%t|%t|%o|%d|%d", name, st.mode, a.Network, a.String(),
		o.Backlog, o.Keepalive, o.NoDelay, o.FreeBind, o.UnixMode, o.UnixUID, o.UnixGID)
}
