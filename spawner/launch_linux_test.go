package spawner

import (
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// launchLog records what a launch's callbacks were called with, in order.
type launchLog struct {
	mu     sync.Mutex
	events []string
	at     time.Time
	err    error
	exit   Exit
	done   chan struct{} // closed by the last callback expected
}

func newLaunchLog() *launchLog { return &launchLog{done: make(chan struct{})} }

func (l *launchLog) onExec(at time.Time, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, "exec")
	l.at, l.err = at, err
	if err != nil {
		close(l.done) // onExit must not follow
	}
}

func (l *launchLog) onExit(e Exit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, "exit")
	l.exit = e
	if l.err == nil {
		close(l.done)
	}
}

func (l *launchLog) wait(t *testing.T, what string) {
	t.Helper()
	select {
	case <-l.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: callbacks did not come: %v", what, l.snapshot())
	}
}

func (l *launchLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

// TestLaunch: on every path a launched handler runs with its descriptors
// and its Spec's environment followed by its connection's, onExec comes
// first, with when it executed, then onExit.
func TestLaunch(t *testing.T) {
	s, _ := newTestSpawner(t)
	for _, p := range pathsOn(s) {
		r, w := socketpair(t)
		sp := &Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", "echo launched-$0 $A $B"}, Env: []string{"A=1"}, Umask: -1}
		p.mod(sp)
		wantPath(t, s, p.want)
		l := newLaunchLog()
		before := time.Now()
		if err := s.Launch(sp, Files{Stdin: -1, Stdout: w, Extra: -1, Stderr: StderrNull, Env: []string{"B=conn"}}, "test", l.onExec, l.onExit); err != nil {
			t.Fatalf("%s: Launch: %v", p.name, err)
		}
		unix.Close(w)
		buf := make([]byte, 64)
		n, _ := unix.Read(r, buf)
		unix.Close(r)
		if got, want := string(buf[:n]), "launched-sh 1 conn\n"; got != want {
			t.Errorf("%s: handler wrote %q, want %q", p.name, got, want)
		}
		l.wait(t, p.name)
		if ev := l.snapshot(); strings.Join(ev, ",") != "exec,exit" {
			t.Errorf("%s: callbacks %v, want exec then exit", p.name, ev)
		}
		if l.err != nil {
			t.Errorf("%s: onExec error %v", p.name, l.err)
		}
		if l.at.Before(before) || l.at.After(time.Now()) {
			t.Errorf("%s: exec at %v, not between the launch (%v) and now", p.name, l.at, before)
		}
		if !l.exit.Status.Exited() || l.exit.Status.ExitStatus() != 0 {
			t.Errorf("%s: exit status %v, want 0", p.name, l.exit.Status)
		}
	}
	waitFor(t, 5*time.Second, "Running() to drop to 0", func() bool { return s.Running() == 0 })
}

// TestLaunchFailure: a launch whose child fails a step reports the step
// through onExec, never calls onExit, leaves no zombie, escapee or
// reservation behind, and is counted as a start error.
func TestLaunchFailure(t *testing.T) {
	s, buf := newTestSpawner(t)
	s.mu.Lock()
	s.escapeAfter = 100 * time.Millisecond
	s.mu.Unlock()
	cases := []struct {
		name string
		sp   Spec
		want string
		is   error
	}{
		{"chdir", Spec{Path: "/bin/true", Dir: "/nonexistent/dir", Umask: -1}, "chdir /nonexistent/dir", syscall.ENOENT},
		{"exec", Spec{Path: "/nonexistent/prog", Umask: -1}, "/nonexistent/prog", syscall.ENOENT},
		{"exec-dir", Spec{Path: "/", Umask: -1}, "start /", syscall.EACCES},
	}
	errs0 := s.startErrors.Load()
	for _, tc := range cases {
		l := newLaunchLog()
		sp := tc.sp
		if err := s.Launch(&sp, devNullFiles, "test", l.onExec, l.onExit); err != nil {
			t.Fatalf("%s: Launch: %v", tc.name, err)
		}
		l.wait(t, tc.name)
		if ev := l.snapshot(); strings.Join(ev, ",") != "exec" {
			t.Errorf("%s: callbacks %v, want exec only", tc.name, ev)
		}
		if l.err == nil || !strings.Contains(l.err.Error(), tc.want) || !errors.Is(l.err, tc.is) {
			t.Errorf("%s: onExec error %v, want one containing %q and %v", tc.name, l.err, tc.want, tc.is)
		}
	}
	waitFor(t, 5*time.Second, "Running() to drop to 0", func() bool { return s.Running() == 0 })
	time.Sleep(300 * time.Millisecond) // past escapeAfter
	s.Reap()
	if strings.Contains(buf.String(), "escaped") {
		t.Errorf("a failed launch was logged as an escapee:\n%s", buf.String())
	}
	if z := zombies(t); len(z) > 0 {
		t.Errorf("zombie children: %v", z)
	}
	if got := s.startErrors.Load() - errs0; got != uint64(len(cases)) {
		t.Errorf("start errors counted %d, want %d", got, len(cases))
	}
	// Through syscall.ForkExec, the failure is Launch's own error.
	s.cloneOff.Store(true)
	l := newLaunchLog()
	if err := s.Launch(&Spec{Path: "/nonexistent/prog", Umask: -1}, devNullFiles, "test", l.onExec, l.onExit); err == nil || !errors.Is(err, syscall.ENOENT) {
		t.Errorf("ForkExec path: Launch error %v, want ENOENT", err)
	}
	s.Sync()
	if ev := l.snapshot(); len(ev) > 0 {
		t.Errorf("ForkExec path: callbacks %v after Launch failed", ev)
	}
	s.cloneOff.Store(false)
	if err := s.Launch(&Spec{Path: "/bin/true", Umask: -1}, devNullFiles, "", nil, nil); err == nil {
		t.Errorf("Launch without onExec succeeded")
	}
}

// TestLaunchVerdictWithoutCalls: with nobody calling Launch, Reap or Sync
// after a launch, the reaper still reads the verdict while the handler
// runs, before it exits.
func TestLaunchVerdictWithoutCalls(t *testing.T) {
	s, _ := newTestSpawner(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	l := newLaunchLog()
	execd := make(chan struct{})
	onExec := func(at time.Time, err error) {
		l.onExec(at, err)
		close(execd)
	}
	// The handler reads its stdin until superd closes the write end.
	if err := s.Launch(&Spec{Path: "/bin/cat", Umask: -1}, Files{Stdin: int(r.Fd()), Stdout: -1, Extra: -1, Stderr: StderrNull}, "", onExec, l.onExit); err != nil {
		t.Fatalf("Launch: %v", err)
	}
	select {
	case <-execd:
	case <-time.After(20 * time.Second):
		t.Fatalf("no verdict while the handler runs: %v", l.snapshot())
	}
	if ev := l.snapshot(); strings.Join(ev, ",") != "exec" {
		t.Errorf("callbacks %v before the handler's exit, want exec only", ev)
	}
	w.Close()
	l.wait(t, "cat")
	if ev := l.snapshot(); strings.Join(ev, ",") != "exec,exit" {
		t.Errorf("callbacks %v, want exec then exit", ev)
	}
}
