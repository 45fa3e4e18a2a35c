package spawner

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// A handler leads a new process group in superd's session, with no
// controlling terminal.
//
// Not a session of its own: with Linux's autogroup scheduling
// (kernel.sched_autogroup_enabled, on by default), every new session is a
// scheduling group of its own that weighs as much as all of superd, so a
// hundred busy handlers would each get as much CPU as superd and all its
// other handlers together, and superd's accept loop and the rest of the
// system would wait behind them. In superd's session the handlers are
// scheduled with superd, as one service (superd under systemd is a
// session of its own). The handler leads its own group, so a timeout,
// Signal and TerminateAll reach it and its children and nobody else; it
// cannot start a session (a group leader may not call setsid), and the
// processes it starts that do are escapees, as before.
//
// What a shared session gives up: a process of the session may move into
// another group of it (setpgid), so a handler can put itself or its
// children into another handler's group. It then receives that group's
// signals and keeps that handler lingering, holding its instance slot,
// until the group is empty or that handler's timeout kills the group.
//
// When superd has a controlling terminal (run from a shell), the session
// has it too: the clone child gives it up with TIOCNOTTY (a process that
// does not lead its session detaches only itself). The ForkExec paths
// cannot (syscall.SysProcAttr.Noctty acts on fd 0, the connection by
// then), so there a handler starts its own session, as it always did.

// openCtty opens superd's controlling terminal, or returns -1 when it
// has none.
func openCtty() int {
	fd, err := unix.Open("/dev/tty", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

// groupAttr is the new process group (or, with a controlling terminal,
// session) for a handler started through syscall.ForkExec.
func (s *Spawner) groupAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	if s.tty >= 0 {
		return &syscall.SysProcAttr{Setsid: true, Credential: cred}
	}
	return &syscall.SysProcAttr{Setpgid: true, Credential: cred}
}
