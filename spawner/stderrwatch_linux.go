package spawner

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// How handler stderr is read.
//
// Each handler with Stderr = StderrLog writes into a pipe of its own;
// superd keeps the read end (non-blocking) and also a copy of the write
// end. All read ends are in one epoll set, waited on by one goroutine
// (stderrWatch.run), which wakes only when a handler actually writes.
// Because superd holds a write end, a handler's exit does not make its
// pipe hang up: the common handler that writes nothing to stderr costs a
// pipe and an epoll_ctl, but no wake-up of superd at all. When the
// handler has finished (its process group is empty), stderrStream.finish
// closes superd's write end and drains what is left before the exit is
// reported; when that meets end-of-file, as it does unless a process that
// escaped the group still holds the pipe, the stream is closed there and
// then. A pipe not at end-of-file yet is usually held only by a handler
// being started (a new child has a copy of every descriptor of superd's
// until it executes): it is read again at the next reaps, for up to
// heldWindow, before the watcher takes it back and keeps reading it
// until end-of-file.

// stderrStream is one handler's stderr pipe.
type stderrStream struct {
	w *stderrWatch

	mu     sync.Mutex
	rd, wr int  // -1 once closed
	inSet  bool // rd is in the epoll set
	done   bool
	until  time.Time // on the retry list: when it goes back to the watcher
	l      stderrLog
}

// stderrWatch owns the epoll set of the stderr read ends and the
// goroutine that reads them.
type stderrWatch struct {
	log  *slog.Logger
	epfd int
	evfd int // written by stop

	mu      sync.Mutex
	streams map[int32]*stderrStream // by read end; the stream closes it only after removing it here
	held    []*stderrStream         // finished, not at end-of-file yet: re-read by retry

	bufs  sync.Pool     // *[stderrReadSize]byte, for finish (the watcher has its own)
	wakes atomic.Uint64 // pipes the watcher was woken for, for tests
}

func newStderrWatch(log *slog.Logger) (*stderrWatch, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("stderr epoll: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("stderr eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}); err != nil {
		unix.Close(evfd)
		unix.Close(epfd)
		return nil, fmt.Errorf("stderr epoll: %w", err)
	}
	w := &stderrWatch{log: log, epfd: epfd, evfd: evfd, streams: make(map[int32]*stderrStream)}
	w.bufs.New = func() any { return new([stderrReadSize]byte) }
	return w, nil
}

// newPipe makes a stderr pipe: the read end non-blocking, the write end
// (for the handler) blocking, both close-on-exec.
func newPipe() (rd, wr int, err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return -1, -1, fmt.Errorf("stderr pipe: %w", err)
	}
	// The read end only: the write end becomes the handler's fd 2, and
	// O_NONBLOCK belongs to the open file both ends' copies share. A
	// fresh read end has no other status flags to keep.
	if _, err := unix.FcntlInt(uintptr(fds[0]), unix.F_SETFL, unix.O_NONBLOCK); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return -1, -1, fmt.Errorf("stderr pipe: %w", err)
	}
	return fds[0], fds[1], nil
}

// add starts watching the pipe rd/wr of a started handler; the stream
// owns both ends from now on. On error both are closed and the handler's
// stderr goes unread (a handler writing much to it blocks).
func (w *stderrWatch) add(s *Spawner, rd, wr int, service string, pid int) (*stderrStream, error) {
	st := &stderrStream{w: w, rd: rd, wr: wr, inSet: true, l: stderrLog{s: s, log: w.log, service: service, pid: pid}}
	w.mu.Lock()
	w.streams[int32(rd)] = st
	w.mu.Unlock()
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, rd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(rd)}); err != nil {
		st.mu.Lock()
		st.closeLocked()
		st.mu.Unlock()
		return nil, fmt.Errorf("stderr epoll_ctl: %w", err)
	}
	return st, nil
}

// run reads the pipes that have something to read until stop.
func (w *stderrWatch) run() {
	var (
		evs [32]unix.EpollEvent
		buf [stderrReadSize]byte
	)
	for {
		n, err := unix.EpollWait(w.epfd, evs[:], -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			w.log.Error("stderr epoll_wait", "error", err)
			return
		}
		for _, ev := range evs[:n] {
			if ev.Fd == int32(w.evfd) {
				return
			}
			w.mu.Lock()
			st := w.streams[ev.Fd]
			w.mu.Unlock()
			w.wakes.Add(1)
			if st != nil {
				st.mu.Lock()
				st.drainLocked(buf[:], 16)
				st.mu.Unlock()
			}
		}
	}
}

// stop makes run return.
func (w *stderrWatch) stop() {
	one := [8]byte{1}
	unix.Write(w.evfd, one[:])
}

// closeAll closes every stream (their remaining lines unread) and the
// watch's own descriptors; run has returned.
func (w *stderrWatch) closeAll() {
	w.mu.Lock()
	sts := slices.Collect(maps.Values(w.streams))
	w.mu.Unlock()
	for _, st := range sts {
		st.mu.Lock()
		st.closeLocked()
		st.mu.Unlock()
	}
	unix.Close(w.evfd)
	unix.Close(w.epfd)
}

// open reports how many streams are open, for tests.
func (w *stderrWatch) open() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.streams)
}

// finish is called once the handler has finished: it closes superd's
// write end and logs what is left; at end-of-file the stream is closed,
// otherwise (a process outside the handler's group still holds the pipe)
// the watcher goes on reading it.
func (st *stderrStream) finish() {
	b := st.w.bufs.Get().(*[stderrReadSize]byte)
	defer st.w.bufs.Put(b)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done {
		return
	}
	// Out of the epoll set first: closing the last write end would make
	// the pipe hang up and wake the watcher for nothing.
	st.leaveSetLocked()
	if st.wr >= 0 {
		unix.Close(st.wr)
		st.wr = -1
	}
	st.drainLocked(b[:], -1)
	if !st.done {
		// Still held: mostly by a handler being started, which has a copy
		// of every descriptor of superd's until it executes. retry reads
		// it again soon; if a process outside the group holds it longer,
		// it goes back to the watcher.
		st.until = time.Now().Add(heldWindow)
		st.w.mu.Lock()
		st.w.held = append(st.w.held, st)
		st.w.mu.Unlock()
	}
}

// heldWindow is how long a finished handler's pipe that is not at
// end-of-file is re-read by retry before the watcher takes it back.
const heldWindow = 50 * time.Millisecond

// retrying reports whether finished pipes wait to be read again.
func (w *stderrWatch) retrying() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.held) > 0
}

// retry reads the held pipes again (the reaper and inline reaps call it):
// at end-of-file they close; past their window they go back to the
// watcher.
func (w *stderrWatch) retry(now time.Time) {
	w.mu.Lock()
	if len(w.held) == 0 {
		w.mu.Unlock()
		return
	}
	held := w.held
	w.held = nil
	w.mu.Unlock()
	b := w.bufs.Get().(*[stderrReadSize]byte)
	defer w.bufs.Put(b)
	var keep []*stderrStream
	for _, st := range held {
		st.mu.Lock()
		st.drainLocked(b[:], -1)
		switch {
		case st.done:
		case now.Before(st.until):
			keep = append(keep, st)
		default:
			if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, st.rd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(st.rd)}); err != nil {
				w.log.Warn("stderr epoll_ctl", "service", st.l.service, "pid", st.l.pid, "error", err)
				st.closeLocked()
			} else {
				st.inSet = true
			}
		}
		st.mu.Unlock()
	}
	if len(keep) > 0 {
		w.mu.Lock()
		w.held = append(w.held, keep...)
		w.mu.Unlock()
	}
}

// leaveSetLocked takes rd out of the epoll set.
func (st *stderrStream) leaveSetLocked() {
	if st.inSet {
		unix.EpollCtl(st.w.epfd, unix.EPOLL_CTL_DEL, st.rd, nil)
		st.inSet = false
	}
}

// drainLocked reads up to max chunks (all there is if max < 0) into the
// log; at end-of-file or on an error it closes the stream.
func (st *stderrStream) drainLocked(buf []byte, max int) {
	for i := 0; !st.done && (max < 0 || i < max); i++ {
		n, err := unix.Read(st.rd, buf)
		switch {
		case n > 0:
			st.l.write(buf[:n])
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			return
		default: // end-of-file, or a read error
			if err != nil {
				st.w.log.Warn("read stderr", "service", st.l.service, "pid", st.l.pid, "error", err)
			}
			st.closeLocked()
		}
	}
}

// closeLocked ends the stream: the pending partial line and the dropped
// count are logged, both ends closed.
func (st *stderrStream) closeLocked() {
	if st.done {
		return
	}
	st.done = true
	st.w.mu.Lock()
	delete(st.w.streams, int32(st.rd))
	st.w.mu.Unlock()
	st.leaveSetLocked()
	unix.Close(st.rd)
	if st.wr >= 0 {
		unix.Close(st.wr)
	}
	st.rd, st.wr = -1, -1
	if len(st.l.line) > 0 || st.l.truncated {
		st.l.emit()
	}
	st.l.flushDropped()
}
