package listener

import (
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// How Accept waits.
//
// A quiet socket waits in the runtime poller (Accept) or on a Watcher
// (AcceptOrIdle): no thread, no wake-up. But a wake-up through the poller
// is a hand-off between threads (the one in epoll_wait, then the one that
// runs the accepting goroutine), and on the way to every fork that costs
// more than the accept itself. So a listening socket is blocking, with a
// receive timeout of hotSlice, and its acceptors block in accept4 itself
// on their own threads, as in a pre-forked server: the kernel wakes
// exactly one of them per connection, which accepts and forks at once.
// When accept4 times out, an acceptor checks whether the socket is closed
// and whether it has been quiet for hotWindow; only then does it go back
// to the poller, or, in AcceptOrIdle, return ErrIdle so that its caller
// can leave the socket to a Watcher and end.
const (
	hotWindow = 200 * time.Millisecond
	// hotSlice is the receive timeout of a listening socket: how long an
	// acceptor may stay blocked in accept4, and so how long a Close may
	// wait before the descriptor is released (the runtime defers the
	// close(2) until the acceptors have returned). Under 10 ms: the
	// runtime takes the P back from any system call that lasts longer.
	hotSlice = 8 * time.Millisecond
)

// acceptMode makes the socket blocking with a receive timeout of hotSlice,
// unless it is so already (SetBlocking undoes it, for wait mode).
func (s *Socket) acceptMode() error {
	if s.acceptReady.Load() {
		return nil
	}
	var serr error
	err := s.rc.Control(func(fd uintptr) {
		if serr = unix.SetNonblock(int(fd), false); serr != nil {
			serr = os.NewSyscallError("fcntl", serr)
			return
		}
		tv := unix.NsecToTimeval(int64(hotSlice))
		if serr = unix.SetsockoptTimeval(int(fd), unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); serr != nil {
			serr = os.NewSyscallError("setsockopt SO_RCVTIMEO", serr)
		}
	})
	if err != nil {
		return s.opError("accept", err)
	}
	if serr != nil {
		return fmt.Errorf("accept %s %s: %w", s.addr.Network, s.addr, serr)
	}
	s.acceptReady.Store(true)
	return nil
}

// markBusy records that the socket has just returned a connection.
func (s *Socket) markBusy() {
	s.lastConn.Store(int64(time.Since(s.born)))
}

// busy reports whether the socket returned a connection within hotWindow.
func (s *Socket) busy() bool {
	return time.Duration(int64(time.Since(s.born))-s.lastConn.Load()) < hotWindow
}

// Pending reports whether a connection (or datagram) is waiting on the
// socket right now, without waiting or taking it: one poll(2) with a zero
// timeout. False once the socket is closed.
func (s *Socket) Pending() bool {
	ready := false
	_ = s.rc.Control(func(fd uintptr) {
		pfd := unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
		n, _, e := unix.Syscall(unix.SYS_POLL, uintptr(unsafe.Pointer(&pfd)), 1, 0)
		ready = e == 0 && n > 0 && pfd.Revents&unix.POLLIN != 0
	})
	return ready
}
