package spawner

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	defaultKillDelay   = 5 * time.Second
	defaultEscapeAfter = 3 * time.Second
)

// Spawner starts handlers and reaps them. It owns the SIGCHLD reaper
// (wait4(-1) as a child subreaper), the exit dispatcher, the timeout
// timers and the stderr watcher. Its methods are safe for concurrent use.
type Spawner struct {
	helperPath  string
	log         *slog.Logger
	devNull     int           // O_RDWR /dev/null, close-on-exec, for fds the Files leave empty
	tty         int           // superd's controlling terminal (close-on-exec), or -1 (group_linux.go)
	umask       int           // the process's umask at New
	nice        int           // the process's nice value at New
	forceHelper string        // non-empty: why every spawn goes through the helper
	clone       *cloneState   // nil: handlers start through syscall.ForkExec
	cloneOff    atomic.Bool   // clone3 failed as unsupported: ForkExec from now on
	stderr      *stderrWatch  // reads the handlers' stderr pipes
	escapeAfter time.Duration // guarded by mu (tests shorten it)

	sigCh    chan os.Signal // SIGCHLD, read by the reaper
	ignCh    chan os.Signal // signals that were ignored at New; never read
	wake     chan struct{}  // 1-buffered: the exit queue is not empty
	execWake chan struct{}  // 1-buffered: a launch is pending
	quit     chan struct{}  // closed by Close: the reaper and dispatcher return
	wg       sync.WaitGroup // reaper, dispatcher, stderr watcher
	close    sync.Once

	// reapMu is held across every reap (wait4) together with the
	// process-group bookkeeping that follows it, and across every kill of
	// a handler's group, so that a group is only signalled while it is
	// known to be non-empty (see reapOne). Lock order: reapMu, then a
	// Handler's mu or mu (never both at once). It guards the fields
	// below and Handler.state, status and rusage.
	reapMu      sync.Mutex
	lingering   map[int]*Handler // handlers whose leader is reaped and whose group has members, by pgid (also under mu)
	tracked     int              // groups watched: len(lingering) + early exits with alive set
	groupProbes uint64           // kill(-pgid, 0) calls, for tests
	pgidLookups uint64           // getpgid calls, for tests

	// mu guards the fields below. It is never held across a fork or a
	// callback, and never taken while holding a Handler's mu.
	mu       sync.Mutex
	handlers map[int]*Handler      // registered and not finished (running or lingering), by pid = pgid
	early    map[int]earlyExit     // reaped before registration (or never registered)
	queue    []exitEvent           // reaped, onExit not yet called (and launch verdicts for onExec)
	pending  []*Handler            // launched, verdict not read yet (see Launch)
	freshQ   []*Handler            // registered within FreshAge, oldest first (fresh_linux.go)
	starting map[*Handler]struct{} // between the reservation and the registration of a start
	running  int                   // started, onExit not yet returned
	idle     chan struct{}         // closed when running drops to 0
	stopping bool                  // TerminateAll or Close: Start refuses

	failedForks atomic.Int64 // ForkExec errors whose child Go may not have waited for
	freshN      atomic.Int64 // handlers in freshQ still fresh; written under mu

	reapAllMu  sync.Mutex   // held by reapAll
	deliverMu  sync.Mutex   // held by deliver
	spare      []exitEvent  // an empty queue for deliver to swap in; guarded by deliverMu
	born       time.Time    // when New ran
	lastInline atomic.Int64 // when Reap last ran, in nanoseconds since born
	sigWakes   atomic.Int64 // SIGCHLDs the reaper woke for, for tests

	started, startErrors, timedOut, escaped atomic.Uint64
	stderrLines, stderrDropped              atomic.Uint64
}

// New makes the process a child subreaper, opens /dev/null, starts the
// reaper and makes signals ignored so far default in handlers.
func New(o Options) (*Spawner, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("prctl PR_SET_CHILD_SUBREAPER: %w", err)
	}
	null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/null: %w", err)
	}
	s := &Spawner{
		helperPath:  o.HelperPath,
		log:         log,
		devNull:     null,
		tty:         openCtty(),
		umask:       -1,
		escapeAfter: defaultEscapeAfter,
		born:        time.Now(),
		sigCh:       make(chan os.Signal, 1),
		ignCh:       make(chan os.Signal, 1),
		wake:        make(chan struct{}, 1),
		execWake:    make(chan struct{}, 1),
		quit:        make(chan struct{}),
		handlers:    make(map[int]*Handler),
		lingering:   make(map[int]*Handler),
		early:       make(map[int]earlyExit),
		starting:    make(map[*Handler]struct{}),
	}
	if err := cloexecAll(); err != nil {
		s.closeFDs()
		return nil, err
	}
	st := threadStatus()
	if v, err := strconv.ParseUint(st["Umask"], 8, 32); err == nil {
		s.umask = int(v)
	}
	if prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0); err == nil {
		s.nice = 20 - prio // the raw system call returns 20 - nice
	}
	// Go resets the signals it handles in a forked child; the rest keep
	// their disposition, and the child gets the runtime's initial mask.
	// Whatever the plain ForkExec would pass on, the helper clears.
	stuck := unignoreSignals(s.ignCh)
	if len(stuck) > 0 {
		s.forceHelper = fmt.Sprintf("signals %v ignored", stuck)
	}
	for _, k := range []string{"SigBlk", "CapInh", "CapAmb"} {
		if v := st[k]; v != "" && v != "0000000000000000" {
			s.forceHelper = fmt.Sprintf("%s %s", k, v)
		}
	}
	if !o.NoClone {
		if s.clone, err = newCloneState(stuck); err != nil {
			log.Info("handlers start through syscall.ForkExec", "reason", err)
		}
	}
	if s.forceHelper != "" && s.clone == nil {
		if s.helperPath == "" {
			log.Warn("handlers will inherit process state, no exec helper", "reason", s.forceHelper)
			s.forceHelper = ""
		} else {
			log.Info("starting every handler through the exec helper", "reason", s.forceHelper)
		}
	}
	if s.stderr, err = newStderrWatch(log); err != nil {
		s.closeFDs()
		return nil, err
	}
	s.lastInline.Store(-int64(inlineWindow))
	signal.Notify(s.sigCh, syscall.SIGCHLD)
	s.wg.Add(3)
	go s.reaper()
	go s.dispatcher()
	go func() {
		defer s.wg.Done()
		s.stderr.run()
	}()
	return s, nil
}

// cloexecAll marks every descriptor above 2 close-on-exec. Go opens its
// own that way, but descriptors inherited at start (LISTEN_FDS from
// systemd, a stray pipe from whoever started the process) are not, and no
// descriptor of the process may leak into a handler.
func cloexecAll() error {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list descriptors: %w", err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		unix.CloseOnExec(fd) // the directory's own fd is gone by now: EBADF is ignored
	}
	return nil
}

// threadStatus reads /proc/thread-self/status on a locked thread (signal
// mask and capabilities are per thread).
func threadStatus() map[string]string {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m := make(map[string]string)
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return m
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if ok {
			m[string(k)] = string(bytes.TrimSpace(v))
		}
	}
	return m
}

// Running reports the handlers started and not yet finished (their
// process group empty and their onExit returned); lingering handlers
// count.
func (s *Spawner) Running() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

// Stats returns a snapshot of the counters.
func (s *Spawner) Stats() Stats {
	return Stats{
		Started:       s.started.Load(),
		StartErrors:   s.startErrors.Load(),
		Running:       s.Running(),
		TimedOut:      s.timedOut.Load(),
		Escaped:       s.escaped.Load(),
		StderrLines:   s.stderrLines.Load(),
		StderrDropped: s.stderrDropped.Load(),
	}
}

// waitIdle waits up to d (forever if d < 0) for Running to reach 0.
func (s *Spawner) waitIdle(d time.Duration) bool {
	s.mu.Lock()
	if s.running == 0 {
		s.mu.Unlock()
		return true
	}
	if s.idle == nil {
		s.idle = make(chan struct{})
	}
	ch := s.idle
	s.mu.Unlock()
	if d < 0 {
		<-ch
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

// signalAll sends sig to the process group of every running or lingering
// handler.
func (s *Spawner) signalAll(sig syscall.Signal) {
	s.mu.Lock()
	hs := slices.Collect(maps.Values(s.handlers))
	s.mu.Unlock()
	for _, h := range hs {
		_ = h.Signal(sig)
	}
}

// TerminateAll is for shutdown: Start refuses from now on; handlers get
// grace to finish, then SIGTERM to their process groups, then SIGKILL
// killDelay later (0 means 5s). Lingering handlers (leader gone, group
// not empty) are waited for and signalled alike. It returns when every
// handler's group is empty and its onExit has returned.
func (s *Spawner) TerminateAll(grace, killDelay time.Duration) {
	if killDelay <= 0 {
		killDelay = defaultKillDelay
	}
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	if s.waitIdle(grace) {
		return
	}
	s.signalAll(syscall.SIGTERM)
	if s.waitIdle(killDelay) {
		return
	}
	s.signalAll(syscall.SIGKILL)
	s.waitIdle(-1)
}

// Close refuses new handlers, waits until every running one has finished
// (call TerminateAll first not to wait for them), then stops the reaper,
// the dispatcher and the stderr watcher (a stderr pipe still held open by
// a process that escaped its handler's group is closed unread) and closes
// /dev/null. Processes that exit later are no longer reaped.
func (s *Spawner) Close() error {
	s.close.Do(func() {
		s.mu.Lock()
		s.stopping = true
		s.mu.Unlock()
		s.waitIdle(-1)
		close(s.quit)
		signal.Stop(s.sigCh)
		signal.Stop(s.ignCh)
		s.stderr.stop()
		s.wg.Wait()
		s.stderr.closeAll()
		s.closeFDs()
	})
	return nil
}

// closeFDs closes the descriptors New opened for the Spawner itself.
func (s *Spawner) closeFDs() {
	unix.Close(s.devNull)
	if s.tty >= 0 {
		unix.Close(s.tty)
	}
}
