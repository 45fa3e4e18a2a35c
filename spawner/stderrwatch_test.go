package spawner

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestStderrQuietHandlersCostNoWakeUp(t *testing.T) {
	// One after the other: a fork in progress holds copies of every
	// descriptor until it execs, so a pipe finished meanwhile hangs up
	// only when that child has exec'd, and the watcher reads its end then.
	s, _ := newTestSpawner(t)
	before := countFDs(t)
	for range 20 {
		run(t, s, &Spec{Path: "/bin/true", Umask: -1}, Files{Stdin: -1, Stdout: -1, Extra: -1, Stderr: StderrLog})
	}
	if w := s.stderr.wakes.Load(); w != 0 {
		t.Errorf("stderr watcher woken %d times for handlers that wrote nothing", w)
	}
	if o := s.stderr.open(); o != 0 {
		t.Errorf("%d stderr streams open after every handler finished", o)
	}
	if after := countFDs(t); after != before {
		t.Errorf("open fds = %d after, %d before", after, before)
	}
}

func TestStderrLinesBeforeExit(t *testing.T) {
	s, buf := newTestSpawner(t)
	var atExit string
	sp := &Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", "echo first >&2; printf last >&2"}, Umask: -1, Service: "svc"}
	ch := make(chan Exit, 1)
	if _, err := s.Start(sp, Files{Stdin: -1, Stdout: -1, Extra: -1, Stderr: StderrLog}, "", func(e Exit) {
		atExit = buf.String()
		ch <- e
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after 10s")
	}
	for _, want := range []string{"line=first\n", "line=last\n"} {
		if !strings.Contains(atExit, want) {
			t.Errorf("log at onExit lacks %q:\n%s", want, atExit)
		}
	}
}

func TestStderrHeldByEscapee(t *testing.T) {
	// The handler exits at once; a process it started in a session of its
	// own keeps the pipe and writes later (after the handler has finished:
	// its group is found empty within lingerCheck): its line is still logged, and
	// the stream closes when it is gone.
	s, buf := newTestSpawner(t)
	before := countFDs(t)
	sp := &Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", `/usr/bin/setsid /bin/sh -c 'sleep 2; echo late >&2' & exit 0`}, Umask: -1, Service: "svc"}
	h, _ := run(t, s, sp, Files{Stdin: -1, Stdout: -1, Extra: -1, Stderr: StderrLog})
	if o := s.stderr.open(); o != 1 {
		t.Errorf("%d stderr streams open while the escapee holds the pipe, want 1", o)
	}
	waitFor(t, 5*time.Second, "the escapee's line", func() bool { return strings.Contains(buf.String(), "line=late") })
	if !strings.Contains(buf.String(), "pid="+strconv.Itoa(h.Pid())+" line=late") {
		t.Errorf("late line not tagged with the handler's pid:\n%s", buf.String())
	}
	waitFor(t, 5*time.Second, "the stream to close", func() bool { return s.stderr.open() == 0 })
	waitFor(t, 5*time.Second, "descriptors to be released", func() bool { return countFDs(t) == before })
}
