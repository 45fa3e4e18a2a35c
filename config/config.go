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
	Dir      string    `json:"dir"`      // absolute path of the configuration directory
	Files    []string  `json:"files"`    // absolute paths of the files read, in the order read
	Daemon   Daemon    `json:"daemon"`   // the daemon {} block, or its defaults
	Services []Service `json:"services"` // in file order, then declaration order; disabled ones included
	Warnings []string  `json:"warnings"` // "FILE:LINE:COL: message": user = "root", user ignored when not root, ...

	// Location is the local time zone for access times and the daytime
	// builtin: TZ from the environment, else /etc/localtime, else UTC;
	// read afresh by every Load.
	Location *time.Location `json:"location"`
}

// Daemon holds the settings of the daemon {} block.
type Daemon struct {
	MetricsListen string        `json:"metrics_listen"` // "host:port" of the Prometheus endpoint; "" disables it
	LogFormat     string        `json:"log_format"`     // "text" or "json"
	LogLevel      string        `json:"log_level"`      // "debug", "info", "warn" or "error"
	ShutdownGrace time.Duration `json:"shutdown_grace"` // how long handlers get after SIGTERM before they are signalled
	KillDelay     time.Duration `json:"kill_delay"`     // SIGTERM to SIGKILL, for timeouts and shutdown; always > 0
}

// Service is one service "NAME" {} block, merged with the defaults {}
// block and the built-in defaults. Fields that do not apply hold their
// zero values (for a builtin: Command, Pass, Stderr, Workdir, Env, ...).
type Service struct {
	Name     string          `json:"name"`              // the block label
	Pos      string          `json:"pos"`               // "FILE:LINE:COL" of the service block
	Protocol string          `json:"protocol"`          // "tcp", "udp" or "unix"
	Listen   []listener.Addr `json:"listen"`            // at least one; no two enabled services clash
	Mode     string          `json:"mode"`              // "nowait" or "wait"
	Pass     string          `json:"pass,omitempty"`    // "stdio" or "fd"; "" for a builtin
	Command  []string        `json:"command,omitempty"` // argv, Command[0] an absolute path; nil for a builtin
	Argv0    string          `json:"argv0,omitempty"`   // argv[0] to pass instead of Command[0]; "" = Command[0]
	Builtin  string          `json:"builtin,omitempty"` // "echo", "discard", "daytime", "time", "chargen"; "" for a command

	// The handler's user. HasUser: superd switches to UID, GID and Groups
	// (superd runs as root and the service has a command). Otherwise
	// handlers run as superd's own user, whose uid, gid, name, home and
	// shell these fields then hold (they are empty for a builtin).
	User    string   `json:"user,omitempty"`  // user name
	Group   string   `json:"group,omitempty"` // group name (or number if it has no name)
	UID     uint32   `json:"uid"`
	GID     uint32   `json:"gid"`    // the group, by default the user's primary group
	Groups  []uint32 `json:"groups"` // supplementary groups (sorted); nil: none (groups = false, or !HasUser)
	HasUser bool     `json:"has_user"`
	Home    string   `json:"home,omitempty"`  // from the user database; "/" if unknown
	Shell   string   `json:"shell,omitempty"` // from the user database; "/bin/sh" if unknown

	Workdir string      `json:"workdir,omitempty"` // absolute; "/" by default
	Env     [][2]string `json:"env"`               // env = {...}: name and value, sorted by name
	PassEnv []string    `json:"pass_env"`          // pass_env: names to copy from superd's environment, in order
	Umask   int         `json:"umask"`             // 0o022 by default
	Nice    int         `json:"nice"`              // absolute nice value, -20..19; 0 by default
	Stderr  string      `json:"stderr,omitempty"`  // "log", "socket" or "null"; "" for a builtin

	Disabled bool `json:"disabled"` // parsed and checked, never bound

	Socket Socket `json:"socket"`
	Access Access `json:"access"`
	Limits Limits `json:"limits"`
}

// Socket holds the socket {} block.
type Socket struct {
	Backlog   int  `json:"backlog"`   // listen(2) backlog; 4096 by default
	Keepalive bool `json:"keepalive"` // SO_KEEPALIVE
	NoDelay   bool `json:"nodelay"`   // TCP_NODELAY
	FreeBind  bool `json:"freebind"`  // IP_FREEBIND

	// Unix sockets only (zero Mode and -1 ids otherwise).
	Mode  os.FileMode `json:"mode,omitempty"`  // 0666 by default
	Owner string      `json:"owner,omitempty"` // user name; "root" by default; "" if left alone
	Group string      `json:"group,omitempty"` // group name; "root" by default; "" if left alone
	UID   int         `json:"uid"`             // -1: leave the owner alone (not root, or not a unix socket)
	GID   int         `json:"gid"`             // -1: leave the group alone
}

// Access holds the access {} block. Empty lists allow everyone, always.
type Access struct {
	Allow       []netip.Prefix `json:"allow"`
	Deny        []netip.Prefix `json:"deny"`
	Times       []acl.Window   `json:"times"`        // local time windows; empty: always
	DenyMessage string         `json:"deny_message"` // written to refused TCP/unix clients; at most 512 bytes
}

// Limits holds the limits {} block. Zero means off or not set, except
// for the source prefixes.
type Limits struct {
	Instances     int           `json:"instances"`       // concurrent handlers; 0 = unlimited; 64 by default (0 for wait mode)
	PerSource     int           `json:"per_source"`      // concurrent handlers per client; 0 = unlimited
	SourcePrefix4 int           `json:"source_prefix4"`  // IPv4 prefix length that makes one client; 32 by default
	SourcePrefix6 int           `json:"source_prefix6"`  // IPv6 prefix length that makes one client; 64 by default
	Rate          acl.Rate      `json:"rate"`            // new connections per service
	PerSourceRate acl.Rate      `json:"per_source_rate"` // new connections per client
	MaxLoad       float64       `json:"max_load"`        // refuse while the 1-minute load average >= this; 0 = off
	Timeout       time.Duration `json:"timeout"`         // wall time of a handler; 0 = none
	Memory        uint64        `json:"memory"`          // RLIMIT_AS in bytes; 0 = not set
	CPU           uint64        `json:"cpu"`             // RLIMIT_CPU in seconds; 0 = not set
	Files         uint64        `json:"files"`           // RLIMIT_NOFILE; 0 = not set
	Processes     uint64        `json:"processes"`       // RLIMIT_NPROC; 0 = not set
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
