package config

import (
	"net/netip"
	"os"
	"time"

	"github.com/superd-dev/superd/acl"
	"github.com/superd-dev/superd/listener"
)

// Options tell Load about the superd that will run the configuration.
type Options struct {
	// Root reports that superd can switch users (it runs as root, with
	// CAP_SETUID and CAP_SETGID). Then every service with a command needs
	// a user. When false, user and group are ignored with a warning per
	// service: handlers run as superd's own user.
	Root bool

	// UID is superd's own uid. Files and directories that superd reads or
	// executes must be owned by root or by this uid. The zero value is
	// root.
	UID int

	// LookupEnv reads superd's environment (for TZ). Nil means
	// os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Config is a loaded and validated configuration. Load returns a new one
// each time and never keeps a reference to it, so it can be shared and
// read by any number of goroutines; nobody should modify it.
type Config struct {
	Dir      string    // absolute path of the configuration directory
	Files    []string  // absolute paths of the files read, in the order read
	Daemon   Daemon    // the daemon {} block, or its defaults
	Services []Service // in file order, then declaration order; disabled ones included
	Warnings []string  // "FILE:LINE:COL: message": user = "root", user ignored when not root, ...

	// Location is the local time zone for access times and the daytime
	// builtin: TZ from the environment, else /etc/localtime, else UTC;
	// read afresh by every Load.
	Location *time.Location
}

// Daemon holds the settings of the daemon {} block.
type Daemon struct {
	MetricsListen string        // "host:port" of the Prometheus endpoint; "" disables it
	LogFormat     string        // "text" or "json"
	LogLevel      string        // "debug", "info", "warn" or "error"
	ShutdownGrace time.Duration // how long handlers get after SIGTERM before they are signalled
	KillDelay     time.Duration // SIGTERM to SIGKILL, for timeouts and shutdown; always > 0
}

// Service is one service "NAME" {} block, merged with the defaults {}
// block and the built-in defaults. Fields that do not apply hold their
// zero values (for a builtin: Command, Pass, Stderr, Workdir, Env, ...).
type Service struct {
	Name     string          // the block label
	Pos      string          // "FILE:LINE:COL" of the service block
	Protocol string          // "tcp", "udp" or "unix"
	Listen   []listener.Addr // at least one; no two enabled services clash
	Mode     string          // "nowait" or "wait"
	Pass     string          // "stdio" or "fd"; "" for a builtin
	Command  []string        // argv, Command[0] an absolute path; nil for a builtin
	Argv0    string          // argv[0] to pass instead of Command[0]; "" = Command[0]
	Builtin  string          // "echo", "discard", "daytime", "time", "chargen"; "" for a command

	// The handler's user. HasUser: superd switches to UID, GID and Groups
	// (superd runs as root and the service has a command). Otherwise
	// handlers run as superd's own user, whose uid, gid, name, home and
	// shell these fields then hold (they are empty for a builtin).
	User    string   // user name
	Group   string   // group name (or number if it has no name)
	UID     uint32   //
	GID     uint32   // the group, by default the user's primary group
	Groups  []uint32 // supplementary groups (sorted); nil: none (groups = false, or !HasUser)
	HasUser bool     //
	Home    string   // from the user database; "/" if unknown
	Shell   string   // from the user database; "/bin/sh" if unknown

	Workdir string      // absolute; "/" by default
	Env     [][2]string // env = {...}: name and value, sorted by name
	PassEnv []string    // pass_env: names to copy from superd's environment, in order
	Umask   int         // 0o022 by default
	Nice    int         // absolute nice value, -20..19; 0 by default
	Stderr  string      // "log", "socket" or "null"; "" for a builtin

	Disabled bool // parsed and checked, never bound

	Socket Socket
	Access Access
	Limits Limits
}

// Socket holds the socket {} block.
type Socket struct {
	Backlog   int  // listen(2) backlog; 4096 by default
	Keepalive bool // SO_KEEPALIVE
	NoDelay   bool // TCP_NODELAY
	FreeBind  bool // IP_FREEBIND

	// Unix sockets only (zero Mode and -1 ids otherwise).
	Mode  os.FileMode // 0666 by default
	Owner string      // user name; "root" by default; "" if left alone
	Group string      // group name; "root" by default; "" if left alone
	UID   int         // -1: leave the owner alone (not root, or not a unix socket)
	GID   int         // -1: leave the group alone
}

// Access holds the access {} block. Empty lists allow everyone, always.
type Access struct {
	Allow       []netip.Prefix
	Deny        []netip.Prefix
	Times       []acl.Window // local time windows; empty: always
	DenyMessage string       // written to refused TCP/unix clients; at most 512 bytes
}

// Limits holds the limits {} block. Zero means off or not set, except
// for the source prefixes.
type Limits struct {
	Instances     int           // concurrent handlers; 0 = unlimited; 64 by default (0 for wait mode)
	PerSource     int           // concurrent handlers per client; 0 = unlimited
	SourcePrefix4 int           // IPv4 prefix length that makes one client; 32 by default
	SourcePrefix6 int           // IPv6 prefix length that makes one client; 64 by default
	Rate          acl.Rate      // new connections per service
	PerSourceRate acl.Rate      // new connections per client
	MaxLoad       float64       // refuse while the 1-minute load average >= this; 0 = off
	Timeout       time.Duration // wall time of a handler; 0 = none
	Memory        uint64        // RLIMIT_AS in bytes; 0 = not set
	CPU           uint64        // RLIMIT_CPU in seconds; 0 = not set
	Files         uint64        // RLIMIT_NOFILE; 0 = not set
	Processes     uint64        // RLIMIT_NPROC; 0 = not set
}

// Enabled returns copies of the services that are not disabled, in order.
func (c *Config) Enabled() []Service {
	var out []Service
	for _, s := range c.Services {
		if !s.Disabled {
			out = append(out, s.Clone())
		}
	}
	return out
}

// Argv returns the argv the handler gets: Command with Argv0, if set, in
// place of Command[0]. Nil for a builtin.
func (s Service) Argv() []string {
	if len(s.Command) == 0 {
		return nil
	}
	argv := append([]string(nil), s.Command...)
	if s.Argv0 != "" {
		argv[0] = s.Argv0
	}
	return argv
}

// Clone returns a deep copy of s that shares no slice with it.
func (s Service) Clone() Service {
	s.Listen = cloneSlice(s.Listen)
	s.Command = cloneSlice(s.Command)
	s.Groups = cloneSlice(s.Groups)
	s.Env = cloneSlice(s.Env)
	s.PassEnv = cloneSlice(s.PassEnv)
	s.Access.Allow = cloneSlice(s.Access.Allow)
	s.Access.Deny = cloneSlice(s.Access.Deny)
	s.Access.Times = cloneSlice(s.Access.Times)
	return s
}

func cloneSlice[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append(make([]T, 0, len(s)), s...)
}
