package spawner

import (
	"os/signal"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// earlyExit is a child reaped before Start registered it, or never
// registered at all (an escapee: a double-forked grandchild reparented to
// the subreaper, or a child whose exec failed).
type earlyExit struct {
	status syscall.WaitStatus
	rusage syscall.Rusage
	at     time.Time // reaped
	// alive: it led a process group that still had members when it was
	// reaped, and no reap has emptied that group since (guarded by
	// reapMu as well as mu). Start turns such an entry into a lingering
	// handler. end is when the group was found empty.
	alive bool
	end   time.Time
}

// exitEvent is one finished handler waiting for its onExit, or (exec) a
// launched one's verdict waiting for its onExec.
type exitEvent struct {
	h    *Handler
	exit Exit
	exec bool
	at   time.Time // exec: when the handler called execve
	err  error     // exec: why it did not start
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

// lingerCheck is how often the groups of lingering handlers are re-checked
// besides each reap (see groupAliveLocked for why).
const lingerCheck = time.Second

// How exits are noticed.
//
// When idle, the reaper waits for SIGCHLD. But that signal, delivered
// through the runtime to the reaper, wakes two threads for every handler
// that exits, and under load those wake-ups cost more than the fork. So a
// caller that starts handlers often (an accept loop under load) calls
// Reap after each Start, reaping on its own goroutine what has exited
// meanwhile; while such calls keep coming (within inlineWindow of each
// other), the reaper stops listening for SIGCHLD and only polls, every
// pollReap, for the exits nobody reaped inline (the last handlers of a
// burst). When the calls stop it listens for SIGCHLD again, reaping once
// right after, so no exit waits longer than pollReap to be seen.
const (
	inlineWindow = 200 * time.Millisecond
	pollReap     = 10 * time.Millisecond
)

// Reap reaps the children that have exited and calls their onExit, on
// the calling goroutine, and puts the reaper into its polling mode for
// inlineWindow (see above). It never blocks for long: a wait4 per
// exited child and one waitid.
func (s *Spawner) Reap() {
	s.lastInline.Store(int64(time.Since(s.born)))
	s.reapAll()
	s.deliver()
}

// inlineReaping reports whether Reap was called within inlineWindow.
func (s *Spawner) inlineReaping() bool {
	return time.Duration(int64(time.Since(s.born))-s.lastInline.Load()) < inlineWindow
}

// reaper reaps every child on SIGCHLD (or, while callers reap inline,
// every pollReap), expires unclaimed early exits and, while handlers
// linger, re-checks their groups now and then.
func (s *Spawner) reaper() {
	defer s.wg.Done()
	expiry := time.NewTimer(time.Hour)
	expiry.Stop()
	armed := false
	recheck := time.NewTicker(lingerCheck)
	recheck.Stop()
	ticking := false
	poll := time.NewTicker(pollReap)
	poll.Stop()
	// Launch verdicts and stderr pipes still held after their handler
	// finished want another look soon; while callers reap inline, poll
	// gives it, otherwise this timer.
	later := time.NewTimer(time.Hour)
	later.Stop()
	laterArmed := false
	notifying := true // New called signal.Notify
	for {
		switch inline := s.inlineReaping(); {
		case inline && notifying:
			signal.Stop(s.sigCh)
			poll.Reset(pollReap)
			notifying = false
		case !inline && !notifying:
			signal.Notify(s.sigCh, syscall.SIGCHLD)
			poll.Stop()
			notifying = true // and reap below: nothing exited meanwhile is missed
		}
		s.reapAll()
		s.deliver()
		if next, ok := s.nextExpiry(); ok {
			expiry.Reset(time.Until(next))
			armed = true
		} else if armed {
			expiry.Stop()
			armed = false
		}
		s.reapMu.Lock()
		tracked := s.tracked
		s.reapMu.Unlock()
		if tracked > 0 && !ticking {
			recheck.Reset(lingerCheck)
			ticking = true
		} else if tracked == 0 && ticking {
			recheck.Stop()
			ticking = false
		}
		if want := notifying && (s.hasPending() || s.stderr.retrying()); want && !laterArmed {
			later.Reset(pollExec)
			laterArmed = true
		} else if !want && laterArmed {
			later.Stop()
			laterArmed = false
		}
		select {
		case <-s.quit:
			expiry.Stop()
			recheck.Stop()
			poll.Stop()
			later.Stop()
			return
		case <-s.execWake:
		case <-later.C:
			laterArmed = false
		case <-s.sigCh:
			s.sigWakes.Add(1)
		case <-poll.C:
		case <-expiry.C:
			armed = false
			s.expireEarly(time.Now())
		case <-recheck.C:
			s.recheckGroups()
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

// reapAll reaps every child that has exited. One at a time: when it
// returns, every child that had exited before it was called has been
// reaped and its exit queued, also one another goroutine was reaping.
func (s *Spawner) reapAll() {
	s.reapAllMu.Lock()
	defer s.reapAllMu.Unlock()
	s.sweep()
	for {
		pid := peekExited()
		if pid <= 0 {
			break
		}
		s.reapOne(pid)
	}
	s.stderr.retry(time.Now())
}

// Lingering handlers and process group reuse.
//
// A handler is the leader of its own process group (group_linux.go).
// When the leader has been reaped but the group still has members (a
// background child holding the connection), the handler lingers: it keeps
// its place in handlers (and so in Running), its timer keeps running, and
// Signal, the timeout and TerminateAll signal the group. It finishes when
// the group is empty.
//
// Sending kill(-pgid, sig) after the leader is gone is safe only while the
// group is not empty: a pid number stays allocated while any process,
// zombie included, has it as its pid, process group or session, so pgid
// cannot name anyone else's group until its last member has been reaped.
// The members are the handler's descendants and whatever else of superd's
// session moved into the group (setpgid): superd being a child subreaper,
// a member that descends from superd and whose parent is gone is our child
// and its zombie is reaped here, by reapOne, and only here. So reapOne
// holds reapMu from the wait4 until it has re-checked the group of what it
// reaped (a member's pgid is read with getpgid while it is still an
// unreaped zombie) and finished the handler if the group is now empty; and
// every kill of a handler's group is sent with reapMu held, after checking
// that the handler is not finished. A kill therefore only ever reaches a
// group known to be non-empty, i.e. still the handler's.
//
// A group can still empty without a reap of ours: when its last member
// leaves it (setsid, or setpgid to another group of the session), or is
// reaped by its own parent after that parent left the group. Such a group
// is noticed empty by the next kill (ESRCH finishes the handler) or by
// recheckGroups, every lingerCheck. pgid could in principle be reused
// before then; that takes the kernel's pid counter wrapping round pid_max
// within that second.

// reapOne reaps pid (an exited child) and does the bookkeeping: a
// registered handler finishes or lingers, a member of a tracked group
// re-checks it, anything else is kept as an early exit.
func (s *Spawner) reapOne(pid int) {
	s.reapMu.Lock()
	defer s.reapMu.Unlock()
	pgid := pid
	if s.tracked > 0 {
		// Some group is being watched: was pid one of its members? Not
		// needed for a registered handler (it leads its own group).
		s.mu.Lock()
		_, leader := s.handlers[pid]
		s.mu.Unlock()
		if !leader {
			s.pgidLookups++
			if g, err := unix.Getpgid(pid); err == nil {
				pgid = g
			}
		}
	}
	var (
		ws syscall.WaitStatus
		ru syscall.Rusage
	)
	for {
		wpid, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, &ru)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || wpid != pid {
			// Someone else reaped it (ForkExec's wait for a failed exec).
			return
		}
		break
	}
	now := time.Now()
	if pgid != pid {
		s.reapedMemberLocked(pid, pgid, ws, ru, now)
		return
	}
	// pid led a group (a handler, or a process that made its own group).
	alive := s.groupAliveLocked(pid)
	s.mu.Lock()
	h := s.handlers[pid]
	if h == nil {
		s.early[pid] = earlyExit{status: ws, rusage: ru, at: now, alive: alive, end: now}
		if alive {
			s.tracked++
		}
		s.mu.Unlock()
		return
	}
	if h.job != nil {
		// A launch whose verdict nobody has read: it goes first.
		defer s.clone.jobs.Put(s.confirmLocked(h))
	}
	s.mu.Unlock()
	h.status, h.rusage = ws, ru
	if alive {
		h.state = stateLingering
		s.lingering[pid] = h
		s.tracked++
		return
	}
	s.finishQuietLocked(h, now)
}

// reapedMemberLocked handles the reaped pid whose process group was pgid
// (another process's): if that group is tracked, it is the group's own
// process and the group is re-checked; otherwise pid is kept as an early
// exit (an escapee if nobody claims it). reapMu is held.
func (s *Spawner) reapedMemberLocked(pid, pgid int, ws syscall.WaitStatus, ru syscall.Rusage, now time.Time) {
	s.mu.Lock()
	h := s.lingering[pgid]
	e, early := s.early[pgid]
	if h == nil && !(early && e.alive) {
		s.early[pid] = earlyExit{status: ws, rusage: ru, at: now, end: now}
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	if s.groupAliveLocked(pgid) {
		return
	}
	if h != nil {
		s.finishQuietLocked(h, now)
		return
	}
	s.endEarly(pgid, now)
}

// endEarly records that the group of an early exit (a leader reaped before
// Start claimed it) has emptied.
func (s *Spawner) endEarly(pgid int, now time.Time) {
	s.mu.Lock()
	if e, ok := s.early[pgid]; ok && e.alive {
		e.alive, e.end = false, now
		s.early[pgid] = e
		s.tracked--
	}
	s.mu.Unlock()
}

// groupAliveLocked reports whether process group pgid has members (zombies
// count: they are members until reaped). reapMu is held.
func (s *Spawner) groupAliveLocked(pgid int) bool {
	s.groupProbes++
	return unix.Kill(-pgid, 0) != unix.ESRCH // EPERM: there are members
}

// finishLocked ends h, whose leader has been reaped and whose group is
// empty: it leaves handlers and its exit is queued for onExit. reapMu is
// held.
func (s *Spawner) finishLocked(h *Handler, end time.Time) {
	s.finishQuietLocked(h, end)
	s.kick()
}

// finishQuietLocked is finishLocked without waking the dispatcher: for the
// reaper, which delivers the queue itself right after reaping, saving a
// goroutine wake-up per handler. reapMu is held.
func (s *Spawner) finishQuietLocked(h *Handler, end time.Time) {
	s.mu.Lock()
	if h.state == stateLingering {
		delete(s.lingering, h.pid)
		s.tracked--
	}
	h.state = stateDone
	delete(s.handlers, h.pid)
	s.dropFreshLocked(h)
	s.queue = append(s.queue, exitEvent{h: h, exit: Exit{Pid: h.pid, Status: h.status, Duration: end.Sub(h.start), Rusage: h.rusage}})
	s.mu.Unlock()
	h.stopTimer()
}

// recheckGroups finishes the lingering handlers (and clears the tracked
// early exits) whose groups emptied without a reap of ours.
func (s *Spawner) recheckGroups() {
	s.reapMu.Lock()
	defer s.reapMu.Unlock()
	now := time.Now()
	s.mu.Lock()
	hs := make([]*Handler, 0, len(s.lingering))
	for _, h := range s.lingering {
		hs = append(hs, h)
	}
	var pids []int
	for pid, e := range s.early {
		if e.alive {
			pids = append(pids, pid)
		}
	}
	s.mu.Unlock()
	for _, h := range hs {
		if !s.groupAliveLocked(h.pid) {
			s.finishLocked(h, now)
		}
	}
	for _, pid := range pids {
		if !s.groupAliveLocked(pid) {
			s.endEarly(pid, now)
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
	s.reapMu.Lock()
	s.mu.Lock()
	// A start that began before a child was reaped may still register it:
	// its early exit is kept until no such start is under way.
	var oldest time.Time
	for h := range s.starting {
		if oldest.IsZero() || h.start.Before(oldest) {
			oldest = h.start
		}
	}
	for pid, e := range s.early {
		if now.Sub(e.at) < s.escapeAfter {
			continue
		}
		if !oldest.IsZero() && !oldest.After(e.at) {
			e.at = now // looked at again escapeAfter from now
			s.early[pid] = e
			continue
		}
		delete(s.early, pid)
		if e.alive {
			// A process that made its own group and left members behind:
			// no handler of ours, its group is no longer watched.
			s.tracked--
		}
		// A child whose exec failed exits 253 (syscall.ForkExec); ForkExec
		// returned an error for it and no pid, so it is not an escapee.
		if e.status.Exited() && e.status.ExitStatus() == 253 && s.failedForks.Load() > 0 {
			s.failedForks.Add(-1)
			continue
		}
		gone = append(gone, pid)
	}
	s.mu.Unlock()
	s.reapMu.Unlock()
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
		s.deliver()
	}
}

// deliver runs onExit for every queued exit. The reaper calls it after
// each round of reaping, the dispatcher for exits that other goroutines
// (timers, signals) queued, Reap for what its caller reaped. One at a
// time: when deliver returns, every exit queued before it was called has
// been reported, also those another goroutine had taken from the queue
// (Reap's caller counts on its slots being free).
func (s *Spawner) deliver() {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			return
		}
		// The queue and spare trade places: no allocation per batch.
		batch := s.queue
		s.queue, s.spare = s.spare[:0], nil
		s.mu.Unlock()
		exits := 0
		for _, ev := range batch {
			if ev.exec {
				ev.h.onExec(ev.at, ev.err)
				continue
			}
			if ev.h.stderr != nil {
				ev.h.stderr.finish() // its lines before its exit
			}
			ev.exit.TimedOut = ev.h.wasTimedOut()
			if ev.h.onExit != nil && !ev.h.execFailed {
				ev.h.onExit(ev.exit)
			}
			exits++
		}
		clear(batch)
		if cap(batch) <= maxSpare {
			s.spare = batch[:0]
		}
		s.finishedN(exits)
	}
}

// maxSpare bounds the exit queue kept for reuse after a burst.
const maxSpare = 1024

// finished counts one handler out of Running.
func (s *Spawner) finished() { s.finishedN(1) }

// finishedN counts n handlers out of Running.
func (s *Spawner) finishedN(n int) {
	if n == 0 {
		return
	}
	s.mu.Lock()
	s.running -= n
	if s.running == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
	s.mu.Unlock()
}
