package spawner

import (
	"syscall"
	"time"
	"unsafe"
)

// earlyExit is a child reaped before Start registered it, or never
// registered at all (an escapee: a double-forked grandchild reparented to
// the subreaper, or a child whose exec failed).
type earlyExit struct {
	status syscall.WaitStatus
	rusage syscall.Rusage
	at     time.Time
}

// exitEvent is one finished handler waiting for its onExit.
type exitEvent struct {
	h    *Handler
	exit Exit
}

// siginfoChld is the start of the kernel's siginfo_t for SIGCHLD, as
// waitid fills it.
type siginfoChld struct {
	signo, errno, code, _ int32
	pid                   int32
	uid                   uint32
	status                int32
	_                     [100]byte
}

// reaper reaps every child on SIGCHLD and expires unclaimed early exits.
func (s *Spawner) reaper() {
	defer s.wg.Done()
	expiry := time.NewTimer(time.Hour)
	expiry.Stop()
	armed := false
	for {
		s.reapAll()
		if next, ok := s.nextExpiry(); ok {
			expiry.Reset(time.Until(next))
			armed = true
		} else if armed {
			expiry.Stop()
			armed = false
		}
		select {
		case <-s.quit:
			expiry.Stop()
			return
		case <-s.sigCh:
		case <-expiry.C:
			armed = false
			s.expireEarly(time.Now())
		}
	}
}

// peekExited returns the pid of an exited child without reaping it, 0 if
// none has exited.
func peekExited() int {
	var info siginfoChld
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, 0 /* P_ALL */, 0, uintptr(unsafe.Pointer(&info)),
			syscall.WEXITED|syscall.WNOHANG|0x01000000 /* WNOWAIT */, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 { // ECHILD: no children
			return 0
		}
		return int(info.pid)
	}
}

// reapAll reaps every child that has exited. For a registered handler it
// first marks it done (without reaping, so its pid cannot be reused), so
// that no timer or Signal can reach another process's group.
func (s *Spawner) reapAll() {
	for {
		pid := peekExited()
		if pid <= 0 {
			return
		}
		s.mu.Lock()
		h := s.handlers[pid]
		s.mu.Unlock()
		if h != nil {
			h.markDone()
		}
		var (
			ws syscall.WaitStatus
			ru syscall.Rusage
		)
		wpid, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, &ru)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || wpid != pid {
			// Someone else reaped it (ForkExec's wait for a failed exec).
			continue
		}
		now := time.Now()
		s.mu.Lock()
		h = s.handlers[pid]
		if h != nil {
			delete(s.handlers, pid)
			s.queue = append(s.queue, exitEvent{h: h, exit: Exit{Pid: pid, Status: ws, Duration: now.Sub(h.start), Rusage: ru}})
		} else {
			s.early[pid] = earlyExit{status: ws, rusage: ru, at: now}
		}
		s.mu.Unlock()
		if h != nil {
			h.markDone()
			s.kick()
		}
	}
}

// kick wakes the dispatcher.
func (s *Spawner) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// nextExpiry is when the oldest early exit becomes an escapee.
func (s *Spawner) nextExpiry() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	for _, e := range s.early {
		if next.IsZero() || e.at.Before(next) {
			next = e.at
		}
	}
	return next.Add(s.escapeAfter), !next.IsZero()
}

// expireEarly logs and drops the early exits nobody registered in time.
func (s *Spawner) expireEarly(now time.Time) {
	var gone []int
	s.mu.Lock()
	for pid, e := range s.early {
		if now.Sub(e.at) < s.escapeAfter {
			continue
		}
		delete(s.early, pid)
		// A child whose exec failed exits 253 (syscall.ForkExec); ForkExec
		// returned an error for it and no pid, so it is not an escapee.
		if e.status.Exited() && e.status.ExitStatus() == 253 && s.failedForks.Load() > 0 {
			s.failedForks.Add(-1)
			continue
		}
		gone = append(gone, pid)
	}
	s.mu.Unlock()
	for _, pid := range gone {
		s.escaped.Add(1)
		s.log.Info("reaped escaped process", "pid", pid)
	}
}

// dispatcher calls onExit for each reaped handler, off the reaper.
func (s *Spawner) dispatcher() {
	defer s.wg.Done()
	for {
		select {
		case <-s.quit:
			return
		case <-s.wake:
		}
		for {
			s.mu.Lock()
			batch := s.queue
			s.queue = nil
			s.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			for _, ev := range batch {
				ev.exit.TimedOut = ev.h.wasTimedOut()
				if ev.h.onExit != nil {
					ev.h.onExit(ev.exit)
				}
				s.finished()
			}
		}
	}
}

// finished counts one handler out of Running.
func (s *Spawner) finished() {
	s.mu.Lock()
	s.running--
	if s.running == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
	s.mu.Unlock()
}
