// Package spawner starts handler programs and reaps them.
//
// A [Spawner] owns everything about a handler after the connection is
// accepted: the descriptor table (fd 0, 1, 2 and optionally 3), the
// environment, the credentials, umask, nice value and resource limits, the
// new process group (in superd's session, without its controlling
// terminal: group_linux.go says why), the optional wall-clock timeout, the
// stderr-to-log pipe and, last, the wait4 that reaps it. The process that
// uses a Spawner is a child subreaper, so every descendant of a handler is
// reaped here. A handler whose leader exits while other processes of its
// process group live on (`sleep 3600 & exit 0`) lingers: it is still
// running for Running, its Timeout and Signal reach the group, and its
// onExit comes when the group is empty. Processes that left the group
// (setsid, setpgid) are not waited for; they are logged as escapees.
//
// Handlers start through the clone path where it works: one
// clone3(CLONE_VM|CLONE_CHILD_CLEARTID|CLONE_CLEAR_SIGHAND) whose child
// runs a list of system calls prepared by Start (new process group, no
// controlling terminal, descriptor table, rlimits, umask, nice, signal
// dispositions, capabilities, credentials, working directory, empty
// signal mask, LISTEN_PID written in place) and ends in execve. The child shares superd's memory until the
// execve, so it is a loop in assembly (amd64) on a small stack of its own
// that never calls, pushes or returns; Start waits on a futex for the
// kernel to clear a word when the child executes or exits. A failed step
// writes its index and errno into the shared memory and exits 253, and
// Start returns the error. [Spawner.Launch] does not wait: it returns once
// the child exists, and the child's verdict (when it executed, or which
// step failed and why) is read later from the same memory, by the next
// Launch, Reap or Sync or by the reaper, and reported through onExec
// before any onExit. An accept loop so goes straight back to accept while
// its last handler executes, as a fork-per-connection C server does.
// Handlers get superd's start-up RLIMIT_NOFILE: when the Go runtime has
// raised it, New reads the start-up value once from a traced child of
// syscall.ForkExec, stopped at its execve.
//
// Where clone3 is refused (a seccomp filter, Linux before 5.5, another
// architecture, [Options.NoClone]) there are three ways, chosen per [Spec]
// so that the common case stays cheap:
//
//   - plain: syscall.ForkExec with a new process group and the
//     credentials; used when the Spec asks for nothing that is per thread
//     or per process.
//   - locked thread: for a umask other than the process's or a nice value,
//     a goroutine locks its OS thread, sets the thread's umask (after
//     unshare(CLONE_FS)) and nice value, forks from there and exits
//     locked, so the runtime discards the thread.
//   - helper: for resource limits and for LISTEN_PID (which must be the
//     handler's own pid), the superd binary is re-executed with argv[1] ==
//     [HelperArg]; [HelperMain] applies the limits, umask and nice value,
//     drops the credentials and executes the handler in place.
//
// Usage:
//
//	func main() {
//		if len(os.Args) > 1 && os.Args[1] == spawner.HelperArg {
//			spawner.HelperMain(os.Args) // never returns
//		}
//		exe, _ := os.Executable()
//		sp, err := spawner.New(spawner.Options{HelperPath: exe, Logger: logger})
//		...
//		h, err := sp.Start(spec, spawner.Files{Stdin: conn, Stdout: conn, Extra: -1, Stderr: spawner.StderrLog},
//			remote, func(e spawner.Exit) { /* log, release the ticket */ })
//		unix.Close(conn) // the caller's copy
//		...
//		sp.TerminateAll(grace, killDelay)
//		sp.Close()
//	}
//
// One Spawner per process: it reaps with wait4(-1), so nothing else in the
// process may start child processes (os/exec's Wait would race with it),
// and the process must not call signal.Ignore after New (an ignored
// signal would be inherited by handlers).
package spawner
