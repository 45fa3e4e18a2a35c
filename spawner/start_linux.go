package spawner

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// handlerState is where a handler is in its life; guarded by
// Spawner.reapMu.
type handlerState int

const (
	stateRunning   handlerState = iota // the leader has not been reaped
	stateLingering                     // the leader is reaped, its group has members
	stateDone                          // the group is empty: finished
)

// Handler is one started handler process, the leader of its own process
// group.
type Handler struct {
	s      *Spawner
	pid    int
	start  time.Time
	remote string
	onExit func(Exit)
	stderr *stderrStream // nil unless Stderr = StderrLog

	// Set by Launch; guarded by Spawner.mu. Until the child is done
	// with job (executed or exited), job, spec and the pending entry
	// stay; then onExec is queued and execFailed says whether onExit
	// is left out.
	onExec     func(at time.Time, err error)
	job        *cloneJob
	spec       *Spec
	execFailed bool

	fresh bool // counted in Spawner.freshN (fresh_linux.go); guarded by Spawner.mu

	// Guarded by Spawner.reapMu (written before publication by Start).
	state  handlerState
	status syscall.WaitStatus // the leader's, once reaped
	rusage syscall.Rusage

	// mu guards the fields below; never held while taking Spawner.mu or
	// Spawner.reapMu.
	mu        sync.Mutex
	done      bool // finished: no timer may be armed
	timedOut  bool
	timer     *time.Timer // Timeout, then KillDelay
	killDelay time.Duration
}

// Pid is the handler's process id, which is also its process group id.
func (h *Handler) Pid() int { return h.pid }

// Remote is the remote string given to Start.
func (h *Handler) Remote() string { return h.remote }

// Signal sends sig to the handler's process group, also while the handler
// lingers (its leader has exited, other members of its group have not).
// Once the group is empty it returns os.ErrProcessDone.
func (h *Handler) Signal(sig syscall.Signal) error {
	h.s.reapMu.Lock()
	defer h.s.reapMu.Unlock()
	return h.signalLocked(sig)
}

// signalLocked sends sig to the group unless the handler is finished.
// reapMu is held: the group cannot empty (and its id be reused) meanwhile.
func (h *Handler) signalLocked(sig syscall.Signal) error {
	if h.state == stateDone {
		return os.ErrProcessDone
	}
	err := unix.Kill(-h.pid, sig)
	if err == unix.ESRCH && h.state == stateLingering {
		// Emptied without a reap of ours (see reapOne).
		h.s.finishLocked(h, time.Now())
		return os.ErrProcessDone
	}
	if err != nil {
		return fmt.Errorf("kill process group %d: %w", h.pid, err)
	}
	return nil
}

// stopTimer records that the handler has finished and stops its timer.
func (h *Handler) stopTimer() {
	h.mu.Lock()
	h.done = true
	if h.timer != nil {
		h.timer.Stop()
	}
	h.mu.Unlock()
}

func (h *Handler) wasTimedOut() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.timedOut
}

// armTimeout starts the Timeout timer unless the handler has finished.
func (h *Handler) armTimeout(timeout, killDelay time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return
	}
	h.killDelay = killDelay
	h.timer = time.AfterFunc(timeout, h.expire)
}

// expire runs on the Timeout: SIGTERM to the group, then SIGKILL
// KillDelay later. The timer keeps running while the handler lingers.
func (h *Handler) expire() {
	h.s.reapMu.Lock()
	defer h.s.reapMu.Unlock()
	if h.state == stateDone {
		return
	}
	h.mu.Lock()
	first := !h.timedOut
	if first {
		h.timedOut = true
		h.timer = time.AfterFunc(h.killDelay, h.expire)
	}
	h.mu.Unlock()
	sig := syscall.SIGKILL
	if first {
		h.s.timedOut.Add(1)
		sig = syscall.SIGTERM
	}
	_ = h.signalLocked(sig)
}

// path is how a Spec gets started.
type path int

const (
	pathPlain  path = iota // syscall.ForkExec
	pathThread             // ForkExec from a locked thread with its umask/nice
	pathHelper             // re-exec of the superd binary
	pathClone              // cloneChild: everything in one child
)

func (s *Spawner) pathFor(sp *Spec) path {
	switch {
	case s.clone != nil && !s.cloneOff.Load():
		return pathClone
	case len(sp.Rlimits) > 0 || sp.ListenFDName != "" || s.forceHelper != "":
		return pathHelper
	case sp.Umask >= 0 && sp.Umask != s.umask, sp.SetNice && sp.Nice != s.nice:
		return pathThread
	}
	return pathPlain
}

// Start starts a handler for sp with the descriptor table f. remote is
// kept for the caller (Handler.Remote). onExit, if not nil, is called once,
// from the Spawner's reaper or dispatcher goroutine, after the handler has been
// reaped and its process group is empty (a handler whose leader exits
// leaving background processes in its group lingers until they are gone,
// under the same Timeout); it should not block for long. The descriptors in f stay the
// caller's. Start returns once the handler's program has been executed
// (for the helper path: once the helper has).
func (s *Spawner) Start(sp *Spec, f Files, remote string, onExit func(Exit)) (*Handler, error) {
	h, p, err := s.reserve(sp, remote, nil, onExit)
	if err != nil {
		return nil, err
	}
	if err := s.startOn(h, sp, f, p); err != nil {
		return nil, err
	}
	s.started.Add(1)
	return h, nil
}

// reserve checks that sp can start and, if so, counts it in Running and
// makes its Handler, recorded in starting, and picks its path.
func (s *Spawner) reserve(sp *Spec, remote string, onExec func(time.Time, error), onExit func(Exit)) (*Handler, path, error) {
	if sp.Credential != nil && sp.Credential.NoSetGroups {
		s.startErrors.Add(1)
		return nil, 0, fmt.Errorf("start %s: Credential.NoSetGroups would pass on the caller's groups", sp.Path)
	}
	p := s.pathFor(sp)
	if p == pathHelper && s.helperPath == "" {
		s.startErrors.Add(1)
		return nil, 0, fmt.Errorf("start %s: needs the exec helper (rlimits or LISTEN_PID), no helper path", sp.Path)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		s.startErrors.Add(1)
		return nil, 0, fmt.Errorf("start %s: %w", sp.Path, ErrClosed)
	}
	s.running++ // reserved: Close and TerminateAll wait for it
	h := &Handler{s: s, remote: remote, onExit: onExit, onExec: onExec, start: time.Now()}
	s.starting[h] = struct{}{}
	return h, p, nil
}

// startOn is Start and Launch after the checks: it starts sp on path p
// as h, falling back from a clone3 the kernel refuses, and undoes the
// reservation in s.running if nothing started.
func (s *Spawner) startOn(h *Handler, sp *Spec, f Files, p path) error {
	err := s.start(h, sp, f, p)
	if errors.Is(err, errCloneUnsupported) {
		if s.cloneOff.CompareAndSwap(false, true) {
			s.log.Warn("handlers start through syscall.ForkExec from now on", "error", err)
		}
		if p = s.pathFor(sp); p == pathHelper && s.helperPath == "" {
			err = errors.New("needs the exec helper (rlimits or LISTEN_PID), no helper path")
		} else {
			err = s.start(h, sp, f, p)
		}
	}
	if err != nil {
		s.mu.Lock()
		delete(s.starting, h)
		s.mu.Unlock()
		s.startErrors.Add(1)
		s.finished()
		return fmt.Errorf("start %s: %w", sp.Path, err)
	}
	return nil
}

// start starts one handler. A non-nil onExec makes it a launch: on the
// clone path the child is left to execute on its own (see Launch); on the
// others onExec is queued at once.
func (s *Spawner) start(h *Handler, sp *Spec, f Files, p path) error {
	onExec := h.onExec
	rd, wr := -1, -1 // stderr pipe
	if f.Stderr == StderrLog {
		var err error
		if rd, wr, err = newPipe(); err != nil {
			return err
		}
	}
	files := s.fdTable(f, wr)
	attr := syscall.ProcAttr{Files: files[:3]}
	if f.Extra >= 0 {
		attr.Files = files[:4]
	}

	var (
		pid int
		err error
	)
	switch p {
	case pathPlain:
		attr.Dir, attr.Env = sp.dir(), sp.envWith(f.Env)
		attr.Sys = s.groupAttr(sp.Credential)
		pid, err = syscall.ForkExec(sp.Path, sp.argv(), &attr)
	case pathThread:
		attr.Dir, attr.Env = sp.dir(), sp.envWith(f.Env)
		attr.Sys = s.groupAttr(sp.Credential)
		pid, err = forkExecLocked(sp, s.umask, s.nice, &attr)
	case pathClone:
		pid, h.job, err = s.startClone(sp, attr.Files, f.Env, onExec != nil)
		if h.job != nil {
			h.spec = sp
		}
	case pathHelper:
		attr.Env = sp.helperEnv(f.Env)
		attr.Sys = s.groupAttr(nil)
		pid, err = syscall.ForkExec(s.helperPath, sp.helperArgs(s.helperPath), &attr)
	}
	if err != nil {
		s.failedForks.Add(1)
		if rd >= 0 {
			unix.Close(rd)
			unix.Close(wr)
		}
		return err
	}
	h.pid = pid
	if rd >= 0 {
		if h.stderr, err = s.stderr.add(s, rd, wr, sp.Service, pid); err != nil {
			s.log.Warn("handler stderr not read", "service", sp.Service, "pid", pid, "error", err)
		}
	}

	s.mu.Lock()
	delete(s.starting, h)
	e, early := s.early[pid]
	if !early {
		s.handlers[pid] = h
		s.addFreshLocked(h)
	}
	var put *cloneJob
	switch {
	case onExec == nil:
	case h.job == nil:
		// Executed already (a ForkExec path).
		s.queueExecLocked(h, time.Now(), nil)
	case early:
		// Reaped before it was registered: done with its job.
		put = s.verdictLocked(h)
	default:
		s.pending = append(s.pending, h)
		if len(s.pending) == 1 && !s.inlineReaping() {
			s.wakeReaper() // it polls anyway while callers reap inline
		}
	}
	s.mu.Unlock()
	if put != nil {
		s.clone.jobs.Put(put)
	}

	if early && !s.claimEarly(h, e) {
		return nil
	}
	if sp.Timeout > 0 {
		kd := sp.KillDelay
		if kd <= 0 {
			kd = defaultKillDelay
		}
		h.armTimeout(sp.Timeout, kd)
	}
	return nil
}

// claimEarly takes over the early exit of h's pid (its leader was reaped
// before Start registered it; seen is the entry as Start found it). If
// the leader left a non-empty group, h lingers and claimEarly reports
// true; otherwise h's exit is queued.
func (s *Spawner) claimEarly(h *Handler, seen earlyExit) bool {
	s.reapMu.Lock()
	defer s.reapMu.Unlock()
	s.mu.Lock()
	e, ok := s.early[h.pid]
	if !ok {
		// Expired meanwhile (escapeAfter): its group, if any, is no
		// longer watched, so h cannot linger safely.
		e = seen
	}
	delete(s.early, h.pid)
	h.status, h.rusage = e.status, e.rusage
	if ok && e.alive {
		// Still tracked (tracked stays as it is): every reap since has
		// re-checked the group under reapMu, so it still has members.
		h.state = stateLingering
		s.handlers[h.pid] = h
		s.lingering[h.pid] = h
		s.mu.Unlock()
		return true
	}
	h.state = stateDone
	s.queue = append(s.queue, exitEvent{h: h, exit: Exit{Pid: h.pid, Status: e.status, Duration: e.end.Sub(h.start), Rusage: e.rusage}})
	s.mu.Unlock()
	h.stopTimer()
	s.kick()
	return false
}

// fdTable builds fds 0..3 for the child; wr is the stderr pipe's write end.
func (s *Spawner) fdTable(f Files, wr int) [4]uintptr {
	or := func(fd int) uintptr {
		if fd < 0 {
			return uintptr(s.devNull)
		}
		return uintptr(fd)
	}
	var t [4]uintptr
	t[0] = or(f.Stdin)
	switch f.Stderr {
	case StderrLog:
		t[2] = uintptr(wr)
	case StderrFD:
		t[2] = or(f.StderrFD)
	default:
		t[2] = uintptr(s.devNull)
	}
	if f.StdoutIsStderr {
		t[1] = t[2]
	} else {
		t[1] = or(f.Stdout)
	}
	t[3] = or(f.Extra)
	return t
}

func (sp *Spec) dir() string {
	if sp.Dir == "" {
		return "/"
	}
	return sp.Dir
}

func (sp *Spec) argv() []string {
	if sp.Argv == nil {
		return []string{sp.Path}
	}
	return sp.Argv
}

// envWith is sp's environment followed by extra.
func (sp *Spec) envWith(extra []string) []string {
	if len(extra) == 0 {
		return sp.Env
	}
	return append(sp.Env[:len(sp.Env):len(sp.Env)], extra...)
}

// helperEnv is the environment the helper gets and passes on (sp's, then
// extra), plus LISTEN_FDS and LISTEN_FDNAMES; the helper adds LISTEN_PID
// itself.
func (sp *Spec) helperEnv(extra []string) []string {
	if sp.ListenFDName == "" {
		return sp.envWith(extra)
	}
	env := make([]string, 0, len(sp.Env)+len(extra)+2)
	env = append(append(env, sp.Env...), extra...)
	return append(env, "LISTEN_FDS=1", "LISTEN_FDNAMES="+sp.ListenFDName)
}

// helperArgs encodes sp for HelperMain (see parseHelperArgs).
func (sp *Spec) helperArgs(helper string) []string {
	a := make([]string, 0, 8+len(sp.Rlimits)+len(sp.argv()))
	a = append(a, helper, HelperArg)
	for _, r := range sp.Rlimits {
		a = append(a, "rlimit="+strconv.Itoa(r.Resource)+","+strconv.FormatUint(r.Cur, 10)+","+strconv.FormatUint(r.Max, 10))
	}
	if sp.Umask >= 0 {
		a = append(a, "umask="+strconv.Itoa(sp.Umask))
	}
	if sp.SetNice {
		a = append(a, "nice="+strconv.Itoa(sp.Nice))
	}
	if sp.ListenFDName != "" {
		a = append(a, "listen-pid")
	}
	if c := sp.Credential; c != nil {
		g := make([]byte, 0, 8*len(c.Groups))
		for i, id := range c.Groups {
			if i > 0 {
				g = append(g, ',')
			}
			g = strconv.AppendUint(g, uint64(id), 10)
		}
		a = append(a, "uid="+strconv.FormatUint(uint64(c.Uid), 10), "gid="+strconv.FormatUint(uint64(c.Gid), 10), "groups="+string(g))
	}
	a = append(a, "dir="+sp.dir(), "--", sp.Path)
	return append(a, sp.argv()...)
}
