package spawner

import (
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
