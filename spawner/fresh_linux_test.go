package spawner

import (
	"os"
	"testing"
	"time"
)

// freshAt ages the fresh handlers as of at and returns how many are
// counted and how many freshQ holds.
func freshAt(s *Spawner, at time.Time) (counted int64, queued int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ageFreshLocked(at)
	return s.freshN.Load(), len(s.freshQ)
}

// TestFreshCountsRunningHandlers: a started handler is fresh until it
// finishes, or until FreshAge has passed.
func TestFreshCountsRunningHandlers(t *testing.T) {
	s, _ := newTestSpawner(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	exited := make(chan Exit, 1)
	f := devNullFiles
	f.Stdin = int(r.Fd())
	h, err := s.Start(&Spec{Path: "/bin/cat", Umask: -1}, f, "test", func(e Exit) { exited <- e })
	if err != nil {
		w.Close()
		t.Fatal(err)
	}
	if n, q := freshAt(s, h.start); n != 1 || q != 1 {
		t.Errorf("running: %d fresh, %d queued, want 1 and 1", n, q)
	}
	if !s.FreshAtLeast(0) || s.FreshAtLeast(2) {
		t.Error("FreshAtLeast(0) false or FreshAtLeast(2) true with one handler")
	}
	w.Close() // cat sees EOF and exits
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("cat did not exit at EOF")
	}
	if n, q := freshAt(s, h.start); n != 0 || q != 0 {
		t.Errorf("finished: %d fresh, %d queued, want 0 and 0", n, q)
	}

	// A running handler stops counting once FreshAge has passed.
	h, err = s.Start(&Spec{Path: "/bin/sleep", Argv: []string{"sleep", "30"}, Umask: -1}, devNullFiles, "test", func(Exit) {})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(h.start.Add(FreshAge + time.Millisecond)))
	if s.FreshAtLeast(1) {
		t.Error("a handler started more than FreshAge ago still counts as fresh")
	}
	if n, q := freshAt(s, time.Now()); n != 0 || q != 0 {
		t.Errorf("aged: %d fresh, %d queued, want 0 and 0", n, q)
	}
	if s.Running() != 1 {
		t.Errorf("Running() = %d, want 1 (the sleep)", s.Running())
	}
}

// TestFreshQueue: freshQ holds the handlers in start order and lets go
// of each once it is neither fresh nor behind a fresh one.
func TestFreshQueue(t *testing.T) {
	s := &Spawner{}
	t0 := time.Now()
	hs := make([]*Handler, 4)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range hs {
		hs[i] = &Handler{start: t0.Add(time.Duration(i) * FreshAge / 4)}
		s.addFreshLocked(hs[i])
	}
	check := func(what string, at time.Time, counted int64, queued int) {
		t.Helper()
		s.ageFreshLocked(at)
		if n, q := s.freshN.Load(), len(s.freshQ); n != counted || q != queued {
			t.Errorf("%s: %d fresh, %d queued, want %d and %d", what, n, q, counted, queued)
		}
	}
	check("four started", hs[3].start, 4, 4)
	s.dropFreshLocked(hs[1])
	s.dropFreshLocked(hs[2])
	check("two in the middle finished", hs[3].start, 2, 4)
	s.dropFreshLocked(hs[1]) // finishing twice counts once
	check("one finished twice", hs[3].start, 2, 4)
	check("the first aged", t0.Add(FreshAge), 1, 1)
	if s.freshQ[0] != hs[3] {
		t.Error("the last started is not the one left")
	}
	s.dropFreshLocked(hs[3])
	check("all finished", hs[3].start, 0, 0)
}
