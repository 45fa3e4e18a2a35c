package spawner

import (
	"errors"
	"log/slog"
	"syscall"
	"time"
)

// HelperArg is the argv[1] that makes the superd binary call [HelperMain].
const HelperArg = "__superd_exec_helper"

// ErrClosed is returned by Start after TerminateAll or Close.
var ErrClosed = errors.New("spawner closed")

// Rlimit is one resource limit, set soft and hard, e.g.
// Rlimit{Resource: unix.RLIMIT_NOFILE, Cur: 1024, Max: 1024}.
type Rlimit struct {
	Resource int
	Cur, Max uint64
}

// Spec says how to start the handlers of one service. It is immutable once
// built (per service per (re)load) and shared by every spawn of it.
type Spec struct {
	Path string   // absolute path of the program (command[0])
	Argv []string // argv including argv[0]; nil means []string{Path}
	Dir  string   // working directory; "" means "/"
	Env  []string // the complete environment; Start adds only the LISTEN_* variables

	// Credential is the user to run as; nil runs as the caller's own user.
	// Groups is the complete supplementary list: empty clears the
	// caller's groups. Setting it needs CAP_SETUID and CAP_SETGID.
	Credential *syscall.Credential

	Umask   int  // file mode creation mask; -1 leaves the process's own
	Nice    int  // absolute nice value, used when SetNice is true
	SetNice bool // false leaves the process's own nice value

	Rlimits []Rlimit // set soft and hard in the handler; empty leaves the process's own

	// ListenFDName, when not empty, sets LISTEN_FDS=1, LISTEN_PID (the
	// handler's own pid) and LISTEN_FDNAMES=ListenFDName, for pass = "fd".
	ListenFDName string

	Timeout   time.Duration // wall time before SIGTERM to the process group; 0: none
	KillDelay time.Duration // SIGTERM to SIGKILL after Timeout; 0 means 5s
	Service   string        // the service name, for log records
}

// StderrMode says where a handler's fd 2 goes.
type StderrMode int

const (
	StderrNull StderrMode = iota // /dev/null
	StderrLog                    // a pipe read by the Spawner, each line a log record
	StderrFD                     // Files.StderrFD (stderr = "socket")
)

// Files is what a handler gets from its connection: its descriptor table
// and the variables that describe the connection. The descriptors are the
// caller's: Start does not close them, the caller closes its copies after
// Start returns.
type Files struct {
	Env            []string   // appended to Spec.Env (REMOTE_ADDR and the like)
	Stdin, Stdout  int        // become fd 0 and fd 1; -1 means /dev/null
	Extra          int        // becomes fd 3 if >= 0; -1: no fd 3
	Stderr         StderrMode // fd 2
	StderrFD       int        // the descriptor for StderrFD
	StdoutIsStderr bool       // fd 1 is fd 2's target (pass = "fd" with stderr = "log"); Stdout is ignored
}

// Exit describes a finished handler: its process group is empty. A
// handler whose leader exits while other processes of its group live on
// (a background child holding the connection) lingers until they are
// gone; its Timeout still applies to them.
type Exit struct {
	Pid      int                // the leader's (the group's id)
	Status   syscall.WaitStatus // the leader's wait status
	Duration time.Duration      // from Start until the group was found empty
	TimedOut bool               // the Spec's Timeout expired and the group was signalled
	Rusage   syscall.Rusage     // the leader's, from wait4 (not the rest of its group)
}

// Options configure a Spawner.
type Options struct {
	// HelperPath is the superd binary (os.Executable()), re-executed with
	// HelperArg for Specs with rlimits or a ListenFDName. "": such Specs
	// fail to start.
	HelperPath string
	// Logger receives stderr lines and escapee records; nil discards.
	Logger *slog.Logger
	// NoClone starts every handler through syscall.ForkExec (and the
	// exec helper) even where the clone path works.
	NoClone bool
}

// Stats is a snapshot of a Spawner's counters.
type Stats struct {
	Started       uint64 // handlers started
	StartErrors   uint64 // Start calls that failed
	Running       int    // handlers whose group is not yet empty or whose onExit has not returned
	TimedOut      uint64 // handlers signalled because of their Timeout
	Escaped       uint64 // reaped processes that were not handlers, nor of a lingering handler's group (e.g. setsid'd away)
	StderrLines   uint64 // stderr lines logged
	StderrDropped uint64 // stderr lines over the rate bound
}
