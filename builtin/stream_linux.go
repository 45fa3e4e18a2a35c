package builtin

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrStopped is returned by ServeStream when stop was closed.
var ErrStopped = errors.New("builtin session stopped")

// ServeStream serves one stream session of the builtin name on fd, a
// connected TCP or Unix stream socket. ServeStream owns fd from the
// call on: it switches it to non-blocking mode, waits for it in the
// runtime's network poller (a waiting session holds no OS thread) and
// closes it before returning, on every path, errors included.
//
//   - echo copies what it reads back until the client's EOF;
//   - discard reads until EOF;
//   - daytime and time write their answer and return;
//   - chargen writes the pattern until the client goes.
//
// It returns nil when the session ended normally or the client went away
// (EOF, EPIPE, ECONNRESET, ENOTCONN, ESHUTDOWN); an error wrapping
// os.ErrDeadlineExceeded when deadline (zero: none) passed; ErrStopped
// when stop (nil: never) was closed; any other socket error, wrapped.
func ServeStream(name string, fd int, deadline time.Time, stop <-chan struct{}, loc *time.Location) error {
	if !Valid(name) {
		unix.Close(fd)
		return fmt.Errorf("serve builtin %q: unknown builtin", name)
	}
	s, err := newSession(fd, deadline, stop)
	if err != nil {
		return fmt.Errorf("serve builtin %s: %w", name, err)
	}
	switch name {
	case Echo:
		err = s.echo()
	case Discard:
		err = s.discard()
	case Daytime:
		err = s.writeAll(appendDaytime(make([]byte, 0, 32), time.Now(), loc))
	case Time:
		err = s.writeAll(appendTime(make([]byte, 0, 4), time.Now()))
	case Chargen:
		err = s.chargen()
	}
	s.close()
	if err == nil || clientGone(err) {
		return nil
	}
	return fmt.Errorf("serve builtin %s: %w", name, err)
}

// clientGone reports errors that mean the peer closed or reset the connection.
func clientGone(err error) bool {
	return errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) ||
		errors.Is(err, unix.ENOTCONN) || errors.Is(err, unix.ESHUTDOWN)
}

// aLongTimeAgo is a deadline in the past: setting it wakes every wait.
var aLongTimeAgo = time.Unix(1, 0)

// session is one stream session. It owns the client's socket, held as an
// *os.File registered with the runtime poller: reads and writes run in
// rc's callbacks and wait there, on EAGAIN, without a thread. The
// deadline is the file's; when stop is not nil, a watcher goroutine
// moves the deadline into the past once stop closes, and a wait that
// ends by deadline then tells the two apart by looking at stop.
type session struct {
	f       *os.File
	rc      syscall.RawConn
	stop    <-chan struct{}
	done    chan struct{} // closed by close(): the watcher exits
	watcher chan struct{} // closed by the watcher when it has exited

	// The operation in progress, for the callbacks, which are made once
	// so that each read or write allocates nothing.
	buf   []byte
	n     int
	errno error
	recv  func(fd uintptr) bool
	send  func(fd uintptr) bool
}

// newSession takes fd over; on error it has closed it.
func newSession(fd int, deadline time.Time, stop <-chan struct{}) (*session, error) {
	// An accepted socket has no other status flag worth keeping, and
	// the session owns fd: one F_SETFL is enough.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, unix.O_NONBLOCK); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("set non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(fd), "builtin") // non-blocking: pollable
	rc, err := f.SyscallConn()
	if err == nil && !deadline.IsZero() {
		err = f.SetDeadline(deadline)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("poll socket: %w", err)
	}
	s := &session{f: f, rc: rc, stop: stop}
	s.recv = s.recvOnce
	s.send = s.sendOnce
	if stop == nil {
		return s, nil
	}
	s.done = make(chan struct{})
	s.watcher = make(chan struct{})
	go func() { // owned by the session: close() waits for it
		defer close(s.watcher)
		select {
		case <-stop:
			_ = f.SetDeadline(aLongTimeAgo)
		case <-s.done:
		}
	}()
	return s, nil
}

// close stops the watcher, then closes the socket. The session is over:
// an error from close(2) would change nothing of its outcome.
func (s *session) close() {
	if s.done != nil {
		close(s.done)
		<-s.watcher
	}
	_ = s.f.Close()
}

// stopped reports whether stop has been closed.
func (s *session) stopped() bool {
	if s.stop == nil {
		return false
	}
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// waitErr turns the error of a wait in the poller into the session's:
// a deadline that stop moved is ErrStopped.
func (s *session) waitErr(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if s.stopped() {
			return ErrStopped
		}
		return fmt.Errorf("session deadline: %w", err)
	}
	return fmt.Errorf("poll: %w", err)
}

// recvOnce is the read callback: false (wait) when nothing is there yet.
func (s *session) recvOnce(fd uintptr) bool {
	for {
		s.n, _, s.errno = unix.Recvfrom(int(fd), s.buf, unix.MSG_DONTWAIT)
		if s.errno != unix.EINTR {
			return s.errno != unix.EAGAIN
		}
	}
}

// sendOnce is the write callback: false (wait) when the socket is full.
func (s *session) sendOnce(fd uintptr) bool {
	for {
		s.n, s.errno = unix.SendmsgN(int(fd), s.buf, nil, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		if s.errno != unix.EINTR {
			return s.errno != unix.EAGAIN
		}
	}
}

// read reads what is available, waiting for it; 0 means EOF.
func (s *session) read(b []byte) (int, error) { return s.do(true, b) }

// write sends some of b, waiting for room; it returns how much.
func (s *session) write(b []byte) (int, error) { return s.do(false, b) }

// do receives into b (reading) or sends from it through the RawConn, which
// waits in the poller while the callback asks it to.
func (s *session) do(reading bool, b []byte) (int, error) {
	if s.stopped() {
		return 0, ErrStopped
	}
	s.buf = b
	var err error
	op := "recv"
	if reading {
		err = s.rc.Read(s.recv)
	} else {
		err = s.rc.Write(s.send)
		op = "send"
	}
	s.buf = nil
	if err != nil {
		return 0, s.waitErr(err)
	}
	if s.errno != nil {
		return 0, fmt.Errorf("%s: %w", op, s.errno)
	}
	return s.n, nil
}

// writeAll sends all of b.
func (s *session) writeAll(b []byte) error {
	for len(b) > 0 {
		n, err := s.write(b)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func (s *session) echo() error {
	buf := make([]byte, 16<<10)
	for {
		n, err := s.read(buf)
		if err != nil || n == 0 {
			return err
		}
		if err := s.writeAll(buf[:n]); err != nil {
			return err
		}
	}
}

func (s *session) discard() error {
	buf := make([]byte, 16<<10)
	for {
		n, err := s.read(buf)
		if err != nil || n == 0 {
			return err
		}
	}
}

// chargen sends the pattern until the client goes. The pattern is sent
// from a buffer holding one cycle and its first 4 KiB again, so each send
// can take a large contiguous slice starting at any offset.
func (s *session) chargen() error {
	cycle := chargenPattern()
	const chunk = 4096
	buf := append(cycle[:len(cycle):len(cycle)], cycle[:chunk]...)
	off := 0
	for {
		n, err := s.write(buf[off : off+chunk])
		if err != nil {
			return err
		}
		off = (off + n) % chargenCycle
	}
}
