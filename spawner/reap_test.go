package spawner

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestReapInline(t *testing.T) {
	s, _ := newTestSpawner(t)
	var inReap atomic.Bool
	var exits, inline atomic.Int64
	onExit := func(Exit) {
		exits.Add(1)
		if inReap.Load() {
			inline.Add(1)
		}
	}
	// An accept loop under load: Start, then Reap, as each connection
	// comes in; the previous handler has exited by then.
	const n = 40
	var wakes0 int64
	for i := range n {
		if i == 5 {
			wakes0 = s.sigWakes.Load() // the reaper has switched by now
		}
		if _, err := s.Start(&Spec{Path: "/bin/true", Umask: -1}, devNullFiles, "", onExit); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
		inReap.Store(true)
		s.Reap()
		inReap.Store(false)
	}
	waitFor(t, 5*time.Second, "every exit", func() bool { return exits.Load() == n })
	if inline.Load() < n/2 {
		t.Errorf("%d of %d exits reported by Reap, want most", inline.Load(), n)
	}
	if !s.inlineReaping() {
		t.Fatalf("not in inline mode right after Reap")
	}
	if w := s.sigWakes.Load() - wakes0; w > 1 {
		t.Errorf("reaper woken by SIGCHLD %d times while exits were reaped inline", w)
	}

	// Nobody reaps inline for a while: an exit is still seen (by polling,
	// then by SIGCHLD again).
	for _, wait := range []time.Duration{0, inlineWindow + 50*time.Millisecond} {
		time.Sleep(wait)
		ch := make(chan Exit, 1)
		if _, err := s.Start(&Spec{Path: "/bin/true", Umask: -1}, devNullFiles, "", func(e Exit) { ch <- e }); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
		case <-time.After(2 * time.Second):
			t.Fatalf("after %v without Reap: exit not reported in 2s", wait)
		}
	}
	if s.inlineReaping() {
		t.Errorf("still in inline mode %v after the last Reap", inlineWindow)
	}
	if z := zombies(t); len(z) > 0 {
		t.Errorf("zombies: %v", z)
	}
}

// TestEarlyExitKeptForStart: an exit reaped while a start that began
// before it is still under way is not given up as an escapee, however
// long that start takes to register it; once no such start is left, it
// is.
func TestEarlyExitKeptForStart(t *testing.T) {
	s, buf := newTestSpawner(t)
	const pid = 1 << 30 // no such process
	t0 := time.Now()
	h, _, err := s.reserve(&Spec{Path: "/bin/true", Umask: -1}, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	h.start = t0
	s.early[pid] = earlyExit{at: t0.Add(time.Millisecond), end: t0.Add(time.Millisecond)}
	s.mu.Unlock()

	s.expireEarly(t0.Add(time.Hour))
	s.mu.Lock()
	_, kept := s.early[pid]
	delete(s.starting, h) // the start registered its pid elsewhere, or failed
	s.mu.Unlock()
	s.finished() // the reservation
	if !kept || s.escaped.Load() != 0 {
		t.Fatalf("early exit dropped (kept %v, %d escapees) while a start that began before it was under way", kept, s.escaped.Load())
	}

	s.expireEarly(t0.Add(3 * time.Hour))
	s.mu.Lock()
	_, kept = s.early[pid]
	s.mu.Unlock()
	if kept || s.escaped.Load() != 1 || !strings.Contains(buf.String(), "reaped escaped process") {
		t.Errorf("with no start under way the early exit was not given up: kept %v, %d escapees, log:\n%s", kept, s.escaped.Load(), buf.String())
	}
}
