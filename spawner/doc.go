// Package spawner starts handler programs and reaps them.
//
// A [Spawner] owns everything about a handler after the connection is
// accepted: the descriptor table (fd 0, 1, 2 and optionally 3), the
// environment, the credentials, umask, nice value and resource limits, the
// new session and process group, the optional wall-clock timeout, the
// stderr-to-log pipe and, last, the wait4 that reaps it. The process that
// uses a Spawner is a child subreaper, so every descendant of a handler is
// reaped here. A handler whose leader exits while other processes of its
// process group live on (`sleep 3600 & exit 0`) lingers: it is still
// running for Running, its Timeout and Signal reach the group, and its
// onExit comes when the group is empty. Processes that left the group's
// session (setsid) are not waited for; they are logged as escapees.
//
// There are three ways to start a handler, chosen per [Spec] so that the
// common case stays cheap:
//
//   - plain: syscall.ForkExec with a new session and the credentials; used
//     when the Spec asks for nothing that is per thread or per process.
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
