package listener

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Watcher waits for many idle sockets at once, so that an idle socket
// needs no goroutine of its own: a goroutine parked in Accept costs its
// stack (a few KiB) for as long as the socket stays quiet.
//
// A Watcher is one epoll instance of its own plus an eventfd that stops
// it, and one goroutine, the caller of Run, blocked in epoll_wait(2) as an
// ordinary system call. A socket armed with Socket.WatchOnce is reported
// once, when it is or becomes readable: Run calls the socket's callback,
// and the socket is not watched again until it is armed again. The
// epoll registration is level-triggered and one-shot, so a connection
// that arrives between an accept that found none and the arming is
// reported at once.
type Watcher struct {
	epfd int // epoll instance; closed by Close
	evfd int // eventfd; readable once Close wants Run to return

	// mu guards the fields below, and the epoll instance: epoll_ctl runs
	// with it held, so that it never meets a closed epfd. Lock order:
	// Socket.watchMu, then Watcher.mu.
	mu      sync.Mutex
	socks   map[uint64]*Socket // sockets armed at least once, by watch id
	lastID  uint64             // the last watch id given out; 0 is stopID
	running bool               // Run has started
	dead    bool               // Run has returned or Close was called: arming fails
	closed  bool               // Close was called
	done    chan struct{}      // closed when Run returns
}

// stopID is the epoll data of the eventfd; sockets get ids from 1 up, and
// never one that an earlier socket had, so an event already read for a
// socket closed since is not taken for one that reuses its fd number.
const stopID = 0

var errWatcherClosed = errors.New("watcher closed")

// NewWatcher makes a Watcher. Its owner calls Run on a goroutine of its
// own, and Close when done with it.
func NewWatcher() (*Watcher, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("new watcher: %w", os.NewSyscallError("epoll_create1", err))
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("new watcher: %w", os.NewSyscallError("eventfd", err))
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setEventID(&ev, stopID)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(evfd)
		unix.Close(epfd)
		return nil, fmt.Errorf("new watcher: %w", os.NewSyscallError("epoll_ctl", err))
	}
	return &Watcher{
		epfd:  epfd,
		evfd:  evfd,
		socks: make(map[uint64]*Socket),
		done:  make(chan struct{}),
	}, nil
}

// Run waits for armed sockets and calls their callbacks, on the calling
// goroutine, until Close. It returns nil after Close (at once if Close came
// first), or an error if epoll_wait fails; then every armed socket's
// callback is called, and arming fails from then on, so that no armed
// socket is forgotten. Run may be called once.
func (w *Watcher) Run() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	if w.running || w.dead {
		w.mu.Unlock()
		return fmt.Errorf("watcher run: %w", errWatcherClosed)
	}
	w.running = true
	w.mu.Unlock()
	defer close(w.done)

	var evs [64]unix.EpollEvent
	for {
		n, err := unix.EpollWait(w.epfd, evs[:], -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			w.fail()
			return fmt.Errorf("watcher: %w", os.NewSyscallError("epoll_wait", err))
		}
		for i := range evs[:n] {
			id := eventID(&evs[i])
			if id == stopID {
				return nil
			}
			w.mu.Lock()
			s := w.socks[id]
			w.mu.Unlock()
			if s != nil {
				s.fire(id)
			}
		}
	}
}

// fail stops arming and calls back every armed socket, after epoll_wait
// failed.
func (w *Watcher) fail() {
	w.mu.Lock()
	w.dead = true
	socks := make(map[uint64]*Socket, len(w.socks))
	for id, s := range w.socks {
		socks[id] = s
	}
	w.mu.Unlock()
	for id, s := range socks {
		s.fire(id)
	}
}

// Close stops Run, waiting for it to return (so no callback runs once
// Close has returned), and closes the Watcher's descriptors. Sockets armed
// on it are not closed, and are never called back; arming them fails from
// then on. Close must not be called from a callback. A second Close
// returns an error.
func (w *Watcher) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return fmt.Errorf("watcher close: %w", errWatcherClosed)
	}
	w.closed, w.dead = true, true
	running := w.running
	w.mu.Unlock()
	if running {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		for {
			_, err := unix.Write(w.evfd, one[:])
			if err != unix.EINTR {
				// EAGAIN: the counter is full, readable already.
				break
			}
		}
		<-w.done
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	clear(w.socks)
	err := unix.Close(w.epfd)
	if e := unix.Close(w.evfd); err == nil {
		err = e
	}
	if err != nil {
		return fmt.Errorf("watcher close: %w", os.NewSyscallError("close", err))
	}
	return nil
}

// armLocked registers s (EPOLL_CTL_ADD the first time, with a new id) or
// re-arms it (EPOLL_CTL_MOD) for one EPOLLIN report. s.watchMu is held.
func (w *Watcher) armLocked(s *Socket) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dead {
		return errWatcherClosed
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT}
	if s.watcher == w {
		setEventID(&ev, s.watchID)
		if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_MOD, s.fd, &ev); err != nil {
			return os.NewSyscallError("epoll_ctl", err)
		}
		return nil
	}
	id := w.lastID + 1
	setEventID(&ev, id)
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, s.fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	w.lastID = id
	w.socks[id] = s
	s.watcher, s.watchID = w, id
	return nil
}

// removeLocked deregisters s before its fd is closed. s.watchMu is held.
func (w *Watcher) removeLocked(s *Socket) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.socks, s.watchID)
	if !w.closed {
		// Also after a failed epoll_wait: the epoll instance is still
		// open, and would keep the registration while any copy of the
		// socket's open file lives on.
		_ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, s.fd, nil)
	}
}

// WatchOnce arms s on w: once s is readable (a connection is waiting, or
// an error is pending), w's Run goroutine calls fn, once. Arm it again
// after each call to be told of the next connection. fn must be quick (it
// may start a goroutine) and must not call WatchOnce or Close of s itself:
// Close waits for a running fn, so that fn never runs after Close has
// returned. A socket may be armed on one Watcher only; re-arming replaces
// fn. After Close the error wraps net.ErrClosed.
func (s *Socket) WatchOnce(w *Watcher, fn func()) error {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.closed.Load() {
		return fmt.Errorf("watch %s %s: %w", s.addr.Network, s.addr, closedError{})
	}
	if s.watcher != nil && s.watcher != w {
		return fmt.Errorf("watch %s %s: armed on another watcher", s.addr.Network, s.addr)
	}
	s.watchFn = fn
	s.armed = true
	if err := w.armLocked(s); err != nil {
		s.armed = false
		return fmt.Errorf("watch %s %s: %w", s.addr.Network, s.addr, err)
	}
	return nil
}

// fire calls the callback of an event for watch id, unless s was closed,
// registered anew or already called back since it was armed.
func (s *Socket) fire(id uint64) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if !s.armed || s.watchID != id || s.closed.Load() {
		return
	}
	s.armed = false
	s.watchFn()
}

// unwatch deregisters s from its Watcher; Close calls it before the fd
// is closed, after s.closed is set.
func (s *Socket) unwatch() {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.watcher != nil {
		s.watcher.removeLocked(s)
	}
	s.watcher, s.watchID, s.watchFn, s.armed = nil, 0, nil, false
}

// setEventID and eventID keep a 64-bit id in epoll_event's data, which
// x/sys/unix splits into Fd and Pad.
func setEventID(ev *unix.EpollEvent, id uint64) {
	ev.Fd, ev.Pad = int32(uint32(id)), int32(uint32(id>>32))
}

func eventID(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}
