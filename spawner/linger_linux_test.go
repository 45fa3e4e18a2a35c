package spawner

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startCh starts sp and returns the handler and a channel for its Exit.
func startCh(t testing.TB, s *Spawner, sp *Spec) (*Handler, chan Exit) {
	t.Helper()
	ch := make(chan Exit, 1)
	h, err := s.Start(sp, devNullFiles, "", func(e Exit) { ch <- e })
	if err != nil {
		t.Fatalf("Start(%v): %v", sp.Argv, err)
	}
	return h, ch
}

// shSpec runs script with /bin/sh -c.
func shSpec(script string) *Spec {
	return &Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", script}, Umask: -1}
}

// stateOf is h's state, read as the reaper writes it.
func stateOf(h *Handler) handlerState {
	h.s.reapMu.Lock()
	defer h.s.reapMu.Unlock()
	return h.state
}

// waitLingering waits until h's leader has been reaped with its group left.
func waitLingering(t testing.TB, h *Handler) {
	t.Helper()
	waitFor(t, 5*time.Second, "the handler to linger", func() bool { return stateOf(h) == stateLingering })
}

// recv waits up to d for an Exit.
func recv(t testing.TB, ch chan Exit, d time.Duration) Exit {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(d):
		t.Fatalf("no exit within %v", d)
	}
	panic("unreachable")
}

// checkClean fails on zombie children or on more descriptors than before.
func checkClean(t testing.TB, s *Spawner, fdsBefore int) {
	t.Helper()
	waitFor(t, 5*time.Second, "Running() == 0", func() bool { return s.Running() == 0 })
	if z := zombies(t); len(z) > 0 {
		t.Errorf("zombie children: %v", z)
	}
	if n := countFDs(t); n != fdsBefore {
		t.Errorf("open fds = %d, want %d as before", n, fdsBefore)
	}
	s.reapMu.Lock()
	defer s.reapMu.Unlock()
	if s.tracked != 0 || len(s.lingering) != 0 {
		t.Errorf("tracked = %d, lingering = %d after every handler finished, want 0, 0", s.tracked, len(s.lingering))
	}
}

func TestLingerUntilGroupEmpty(t *testing.T) {
	s, buf := newTestSpawner(t)
	fds := countFDs(t)
	start := time.Now()
	h, ch := startCh(t, s, shSpec(`/bin/sleep 2 & exit 0`))
	waitLingering(t, h)
	select {
	case e := <-ch:
		t.Fatalf("onExit after %v, want it only when the background sleep ends (~2s): %+v", time.Since(start), e)
	case <-time.After(1200 * time.Millisecond):
	}
	if got := s.Running(); got != 1 {
		t.Errorf("Running() while lingering = %d, want 1", got)
	}
	if err := h.Signal(0); err != nil {
		t.Errorf("Signal(0) while lingering = %v, want nil", err)
	}
	e := recv(t, ch, 5*time.Second)
	if d := time.Since(start); d < 1900*time.Millisecond || d > 4*time.Second {
		t.Errorf("onExit after %v, want about 2s", d)
	}
	if e.Duration < 1900*time.Millisecond {
		t.Errorf("Exit.Duration = %v, want >= 2s (until the group emptied)", e.Duration)
	}
	if e.Pid != h.Pid() || !e.Status.Exited() || e.Status.ExitStatus() != 0 || e.TimedOut {
		t.Errorf("Exit = %+v (status %v), want the leader's pid and exit 0, not timed out", e, e.Status)
	}
	if err := h.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after exit = %v, want os.ErrProcessDone", err)
	}
	checkClean(t, s, fds)
	time.Sleep(100 * time.Millisecond)
	if got := s.Stats().Escaped; got != 0 || strings.Contains(buf.String(), "escaped") {
		t.Errorf("Escaped = %d, log %q: the handler's own background process was counted as an escapee", got, buf.String())
	}
}

func TestLingerTimeout(t *testing.T) {
	tests := []struct {
		name      string
		script    string
		killDelay time.Duration
		min, max  time.Duration
	}{
		// The background sleep dies of the SIGTERM at Timeout.
		{"term", `(/bin/sleep 30; echo) & exit 0`, 3 * time.Second, 450 * time.Millisecond, 2 * time.Second},
		// It ignores SIGTERM: SIGKILL KillDelay later.
		{"kill", `(trap "" TERM; /bin/sleep 30) & exit 0`, 500 * time.Millisecond, 950 * time.Millisecond, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestSpawner(t)
			fds := countFDs(t)
			sp := shSpec(tt.script)
			sp.Timeout, sp.KillDelay = 500*time.Millisecond, tt.killDelay
			start := time.Now()
			h, ch := startCh(t, s, sp)
			waitLingering(t, h)
			e := recv(t, ch, 10*time.Second)
			if d := time.Since(start); d < tt.min || d > tt.max {
				t.Errorf("onExit after %v, want between %v and %v", d, tt.min, tt.max)
			}
			if !e.TimedOut {
				t.Errorf("TimedOut = false, want true")
			}
			if !e.Status.Exited() || e.Status.ExitStatus() != 0 {
				t.Errorf("status = %v, want the leader's exit 0", e.Status)
			}
			if got := s.Stats().TimedOut; got != 1 {
				t.Errorf("Stats().TimedOut = %d, want 1", got)
			}
			checkClean(t, s, fds)
		})
	}
}

func TestLingerSignal(t *testing.T) {
	s, _ := newTestSpawner(t)
	h, ch := startCh(t, s, shSpec(`/bin/sleep 60 & exit 5`))
	waitLingering(t, h)
	if err := h.Signal(syscall.SIGUSR1); err != nil {
		t.Fatalf("Signal: %v", err)
	}
	e := recv(t, ch, 5*time.Second)
	if e.Status.ExitStatus() != 5 || e.TimedOut {
		t.Errorf("Exit = %+v (status %v), want the leader's exit 5", e, e.Status)
	}
}

func TestLingerTerminateAll(t *testing.T) {
	s, _ := newTestSpawner(t)
	fds := countFDs(t)
	var chs []chan Exit
	for _, script := range []string{
		`/bin/sleep 60 & exit 0`,
		`(trap "" TERM; /bin/sleep 60) & exit 0`,
	} {
		h, ch := startCh(t, s, shSpec(script))
		waitLingering(t, h)
		chs = append(chs, ch)
	}
	if got := s.Running(); got != 2 {
		t.Errorf("Running() = %d, want 2 lingering", got)
	}
	start := time.Now()
	s.TerminateAll(200*time.Millisecond, 300*time.Millisecond)
	if d := time.Since(start); d < 450*time.Millisecond || d > 3*time.Second {
		t.Errorf("TerminateAll took %v, want about 500ms (grace, then SIGTERM, SIGKILL)", d)
	}
	for _, ch := range chs {
		recv(t, ch, time.Second)
	}
	checkClean(t, s, fds)
}

func TestSetsidGrandchildNotWaited(t *testing.T) {
	s, buf := newTestSpawner(t)
	s.mu.Lock()
	s.escapeAfter = 200 * time.Millisecond
	s.mu.Unlock()
	start := time.Now()
	// sleep 0.1 lets setsid run before the leader exits.
	_, ch := startCh(t, s, shSpec(`/usr/bin/setsid /bin/sleep 1 & /bin/sleep 0.1; exit 0`))
	recv(t, ch, 5*time.Second)
	if d := time.Since(start); d > 700*time.Millisecond {
		t.Errorf("onExit after %v, want at once (the setsid'd sleep is not the handler's)", d)
	}
	waitFor(t, 5*time.Second, "the escapee log record", func() bool {
		return strings.Contains(buf.String(), `msg="reaped escaped process"`)
	})
	if d := time.Since(start); d < time.Second {
		t.Errorf("escapee reaped after %v, want after its 1s sleep", d)
	}
	if got := s.Stats().Escaped; got != 1 {
		t.Errorf("Stats().Escaped = %d, want 1", got)
	}
	checkClean(t, s, countFDs(t))
}

// TestCommonPathCost: a handler that exits with an empty group costs one
// kill(-pgid, 0) and no getpgid.
func TestCommonPathCost(t *testing.T) {
	s, _ := newTestSpawner(t)
	const n = 30
	for range n {
		run(t, s, &Spec{Path: "/bin/true", Umask: -1}, devNullFiles)
	}
	probes, lookups := s.syscallCounts()
	if probes != n || lookups != 0 {
		t.Errorf("for %d exits: %d group probes, %d getpgid calls, want %d, 0", n, probes, lookups, n)
	}
}
