package builtin

import (
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ErrStopped is returned by ServeStream when stop was closed.
var ErrStopped = errors.New("builtin session stopped")

// ServeStream serves one stream session of the builtin name on fd, a
// connected blocking TCP or Unix stream socket that ServeStream neither
// closes nor switches to non-blocking mode.
//
//   - echo copies what it reads back until the client's EOF;
//   - discard reads until EOF;
//   - daytime and time write their answer and return;
//   - chargen writes the pattern until the client goes.
//
// It returns nil when the session ended normally or the client went away
// (EOF, EPIPE, ECONNRESET); an error wrapping os.ErrDeadlineExceeded when
// deadline (zero: none) passed; ErrStopped when stop (nil: never) was
// closed; any other socket error, wrapped.
func ServeStream(name string, fd int, deadline time.Time, stop <-chan struct{}, loc *time.Location) error {
	if !Valid(name) {
		return fmt.Errorf("serve builtin %q: unknown builtin", name)
	}
	s, err := newSession(fd, deadline, stop)
	if err != nil {
		return fmt.Errorf("serve builtin %s: %w", name, err)
	}
	defer s.close()
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

// session is one stream session: the client's fd and, when stop is not
// nil, an eventfd that a watcher goroutine makes readable once stop closes.
type session struct {
	fd       int
	deadline time.Time
	stop     <-chan struct{}
	wake     int           // eventfd, -1 without stop
	done     chan struct{} // closed by close(): the watcher exits
	watcher  chan struct{} // closed by the watcher when it has exited
	pfd      [2]unix.PollFd
}

func newSession(fd int, deadline time.Time, stop <-chan struct{}) (*session, error) {
	s := &session{fd: fd, deadline: deadline, stop: stop, wake: -1}
	if stop == nil {
		return s, nil
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	s.wake = wake
	s.done = make(chan struct{})
	s.watcher = make(chan struct{})
	go func() { // owned by the session: close() waits for it
		defer close(s.watcher)
		select {
		case <-stop:
			var one = [8]byte{1}
			_, _ = unix.Write(wake, one[:])
		case <-s.done:
		}
	}()
	return s, nil
}

func (s *session) close() {
	if s.wake < 0 {
		return
	}
	close(s.done)
	<-s.watcher
	_ = unix.Close(s.wake)
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

// wait blocks until fd has one of events (or an error/hangup condition),
// the deadline passes, or stop closes.
func (s *session) wait(events int16) error {
	for {
		if s.stopped() {
			return ErrStopped
		}
		timeout := -1
		if !s.deadline.IsZero() {
			left := time.Until(s.deadline)
			if left <= 0 {
				return fmt.Errorf("session deadline: %w", os.ErrDeadlineExceeded)
			}
			ms := (left + time.Millisecond - 1) / time.Millisecond
			timeout = int(min(ms, math.MaxInt32))
		}
		s.pfd[0] = unix.PollFd{Fd: int32(s.fd), Events: events}
		n := 1
		if s.wake >= 0 {
			s.pfd[1] = unix.PollFd{Fd: int32(s.wake), Events: unix.POLLIN}
			n = 2
		}
		k, err := unix.Poll(s.pfd[:n], timeout)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("poll: %w", err)
		}
		if k == 0 {
			continue // timeout: the deadline check above decides
		}
		if n == 2 && s.pfd[1].Revents != 0 {
			return ErrStopped
		}
		if s.pfd[0].Revents&unix.POLLNVAL != 0 {
			return fmt.Errorf("poll: %w", unix.EBADF)
		}
		if s.pfd[0].Revents != 0 {
			return nil
		}
	}
}

// read reads what is available; 0 means EOF.
func (s *session) read(b []byte) (int, error) {
	for {
		if err := s.wait(unix.POLLIN); err != nil {
			return 0, err
		}
		n, _, err := unix.Recvfrom(s.fd, b, unix.MSG_DONTWAIT)
		switch err {
		case nil:
			return n, nil
		case unix.EAGAIN, unix.EINTR:
			continue
		}
		return 0, fmt.Errorf("recv: %w", err)
	}
}

// writeAll sends all of b.
func (s *session) writeAll(b []byte) error {
	for len(b) > 0 {
		if err := s.wait(unix.POLLOUT); err != nil {
			return err
		}
		n, err := unix.SendmsgN(s.fd, b, nil, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		switch err {
		case nil:
			b = b[n:]
			continue
		case unix.EAGAIN, unix.EINTR:
			continue
		}
		return fmt.Errorf("send: %w", err)
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
		if err := s.wait(unix.POLLOUT); err != nil {
			return err
		}
		n, err := unix.SendmsgN(s.fd, buf[off:off+chunk], nil, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		switch err {
		case nil:
			off = (off + n) % chargenCycle
			continue
		case unix.EAGAIN, unix.EINTR:
			continue
		}
		return fmt.Errorf("send: %w", err)
	}
}
