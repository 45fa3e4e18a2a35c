package listener

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// How Accept waits.
//
// An idle socket waits in the runtime poller: no thread, no wake-up. But a
// wake-up through the poller is a hand-off between threads (the one in
// epoll_wait, then the one that runs the accepting goroutine), and on the
// way to every fork that costs more than the accept itself. So while a
// socket is busy (it had a connection within hotWindow), one goroutine
// waits for the next connection in poll(2) on its own thread instead: the
// kernel wakes that thread, which accepts and forks at once, as a
// single-threaded accept loop does. Once the socket has been quiet for
// hotWindow the waiter goes back to the poller, or, in AcceptOrIdle,
// returns ErrIdle so that its caller can leave the socket to a Watcher
// and end. At most one goroutine per socket waits this way; the others
// wait in the poller as before.
const (
	hotWindow = 200 * time.Millisecond
	// hotSlice bounds one poll(2), in milliseconds: how long a Close may
	// wait before the descriptor is released (the runtime defers the
	// close(2) until the waiter returns).
	hotSlice = 10
)

// markBusy records that the socket has just returned a connection.
func (s *Socket) markBusy() {
	s.lastConn.Store(int64(time.Since(s.born)))
}

// busy reports whether the socket returned a connection within hotWindow.
func (s *Socket) busy() bool {
	return time.Duration(int64(time.Since(s.born))-s.lastConn.Load()) < hotWindow
}

// hotWait waits in poll(2) on fd, from within a poller callback (the
// runtime keeps fd open meanwhile), while the socket stays busy and open.
// It reports whether fd became readable; false sends the caller back to
// the poller: the socket went quiet or closed, or another goroutine is
// waiting this way already.
func (s *Socket) hotWait(fd uintptr) bool {
	if !s.busy() || s.closed.Load() || !s.hot.CompareAndSwap(false, true) {
		return false
	}
	defer s.hot.Store(false)
	pfd := unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	for s.busy() && !s.closed.Load() {
		n, _, e := unix.Syscall(unix.SYS_POLL, uintptr(unsafe.Pointer(&pfd)), 1, hotSlice)
		if e == 0 && n > 0 {
			return true
		}
		if e != 0 && e != unix.EINTR {
			return false
		}
	}
	return false
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
