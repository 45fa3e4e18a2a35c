package spawner

import (
	"fmt"
	"slices"
	"time"
)

// How a launch works.
//
// Start returns once the handler has executed its program, so that a
// failure (a working directory that is not there, a setuid the kernel
// refuses) is its error. On the clone path that means waiting for the
// child's execve, a sleep and a wake-up of the caller's thread for every
// handler, while the child itself needs nothing more from superd. Launch
// does not wait: the child runs its steps on its own, and its verdict
// (executed, or which step failed and why) is read from the memory they
// shared once the kernel has cleared the child's tid word, and reported
// through onExec. The launches whose verdict is not read yet are pending;
// their jobs stay theirs until then. Every launch, Reap and Sync reads the
// verdicts that are ready, the reaper does before it reaps anything (a
// reaped child has executed or exited, so its verdict is always there
// before its exit is), and while launches are pending the reaper also
// looks every pollExec. The verdict goes through the exit queue, so onExec
// always comes before onExit.

// pollExec is how often the reaper reads verdicts while launches are
// pending (besides the reads of every launch, Reap and Sync), and
// re-reads the stderr pipes still held after their handler finished.
const pollExec = 10 * time.Millisecond

// Launch starts a handler like Start, but returns as soon as its process
// exists. onExec is then called once, from the same goroutines as onExit
// (or Launch's caller, within Launch, Reap or Sync): with when the
// handler called execve, or with why it failed to start, in which case
// onExit is never called. Otherwise onExit follows as for Start. An error
// from Launch itself means that nothing was started and neither callback
// will run.
func (s *Spawner) Launch(sp *Spec, f Files, remote string, onExec func(at time.Time, err error), onExit func(Exit)) error {
	if onExec == nil {
		return fmt.Errorf("start %s: Launch without onExec", sp.Path)
	}
	h, p, err := s.reserve(sp, remote, onExec, onExit)
	if err != nil {
		return err
	}
	if err := s.startOn(h, sp, f, p); err != nil {
		return err
	}
	if s.sweep() {
		s.deliver()
	}
	return nil
}

// LaunchWaits reports whether Launch waits for the handler's exec, as it
// does on the syscall.ForkExec paths (clone3 refused, Options.NoClone):
// then a caller that wants spawns to overlap needs goroutines of its own.
func (s *Spawner) LaunchWaits() bool { return s.clone == nil || s.cloneOff.Load() }

// Sync reports the verdicts of the launches that have one (see Launch)
// and the exits already reaped, on the calling goroutine, so that what
// the caller counts in onExec and onExit is up to date.
func (s *Spawner) Sync() {
	s.sweep()
	s.deliver()
}

// sweep queues the verdict of every pending launch whose child is done
// with its job; it reports whether there were any.
func (s *Spawner) sweep() bool {
	var done [8]*cloneJob
	jobs := done[:0]
	s.mu.Lock()
	keep := s.pending[:0]
	for _, h := range s.pending {
		if h.job.execDone() {
			jobs = append(jobs, s.verdictLocked(h))
		} else {
			keep = append(keep, h)
		}
	}
	clear(s.pending[len(keep):])
	s.pending = keep
	s.mu.Unlock()
	for _, j := range jobs {
		s.clone.jobs.Put(j)
	}
	return len(jobs) > 0
}

// confirmLocked queues the verdict of h, a pending launch whose child has
// been reaped, and returns its job for the pool. mu is held.
func (s *Spawner) confirmLocked(h *Handler) *cloneJob {
	if i := slices.Index(s.pending, h); i >= 0 {
		s.pending = slices.Delete(s.pending, i, i+1)
	}
	return s.verdictLocked(h)
}

// verdictLocked reads h's verdict from its job (the child is done with
// it), queues it for onExec and returns the job for the pool. mu is held.
func (s *Spawner) verdictLocked(h *Handler) *cloneJob {
	j, sp := h.job, h.spec
	at, err := j.execVerdict(sp)
	h.job, h.spec = nil, nil
	if err != nil {
		err = fmt.Errorf("start %s: %w", sp.Path, err)
	}
	s.queueExecLocked(h, at, err)
	return j
}

// queueExecLocked queues h's verdict for onExec. mu is held.
func (s *Spawner) queueExecLocked(h *Handler, at time.Time, err error) {
	if err != nil {
		h.execFailed = true
		s.startErrors.Add(1)
	} else {
		s.started.Add(1)
	}
	s.queue = append(s.queue, exitEvent{h: h, exec: true, at: at, err: err})
}

// wakeReaper makes the reaper look at the pending launches.
func (s *Spawner) wakeReaper() {
	select {
	case s.execWake <- struct{}{}:
	default:
	}
}

// hasPending reports whether launches wait for their verdict.
func (s *Spawner) hasPending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending) > 0
}
