package daemon

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseRunnable(t *testing.T) {
	for _, tc := range []struct {
		line string
		want int
	}{
		{"0.61 0.52 0.40 3/812 4711\n", 3},
		{"12.00 9.31 4.02 123/456 99999\n", 123},
		{"0.00 0.00 0.00 0/1 1", 0},
		{"0.61 0.52 0.40 x/812 4711\n", 0},
		{"0.61 0.52 0.40 3\n", 0},
		{"0.61 0.52\n", 0},
		{"", 0},
		{"1 1 1 99999999999999999999/1 1", 0},
	} {
		if got := parseRunnable([]byte(tc.line)); got != tc.want {
			t.Errorf("parseRunnable(%q) = %d, want %d", tc.line, got, tc.want)
		}
	}
}

// fakeLoadavg writes a /proc/loadavg line with runnable tasks running and
// returns a pacer reading it, which holds back from fresh handlers on
// (thresholds as for one CPU otherwise: 8 runnable tasks).
func fakeLoadavg(t *testing.T, running string, fresh int) *pacer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "loadavg")
	if err := os.WriteFile(path, []byte("9.00 8.00 7.00 "+running+"/900 4711\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := newPacer(path, 1)
	if p.loadavg < 0 {
		t.Fatalf("newPacer(%s) opened nothing", path)
	}
	p.fresh = fresh
	t.Cleanup(p.close)
	return p
}

// TestPaceOnlyForOwnHandlers: a long run queue without fresh handlers of
// superd's (another program's load) holds nothing back.
func TestPaceOnlyForOwnHandlers(t *testing.T) {
	sp := newSpawner(t)
	p := fakeLoadavg(t, "500", 1)
	if p.crowded(sp) {
		t.Fatal("crowded with no handler of superd's running")
	}
	stop := make(chan struct{})
	close(stop) // pace must not even look at stop
	if !p.pace(sp, stop) {
		t.Fatal("pace waited with no handler of superd's running")
	}
}

// TestPaceShortRunQueue: fresh handlers on CPUs that are not crowded hold
// nothing back.
func TestPaceShortRunQueue(t *testing.T) {
	sp := newSpawner(t)
	p := fakeLoadavg(t, "8", 0) // 8 runnable on 1 CPU: not more than 8
	if p.crowded(sp) {
		t.Fatal("crowded with 8 runnable tasks on 1 CPU")
	}
}

// TestPaceBounded: on crowded CPUs pace waits, but not longer than
// paceMax, and ends early when stop closes.
func TestPaceBounded(t *testing.T) {
	sp := newSpawner(t)
	p := fakeLoadavg(t, "9", 0)
	if !p.crowded(sp) {
		t.Fatal("not crowded with 9 runnable tasks on 1 CPU")
	}
	start := time.Now()
	if !p.pace(sp, make(chan struct{})) {
		t.Fatal("pace reported a stop")
	}
	if el := time.Since(start); el < paceMax {
		t.Errorf("pace returned after %v on crowded CPUs, want at least %v", el, paceMax)
	}

	stop := make(chan struct{})
	go func() {
		time.Sleep(paceStep)
		close(stop)
	}()
	if p.pace(sp, stop) {
		t.Error("pace did not report the stop")
	}
}

// TestPaceWithoutLoadavg: with no run queue to read, nothing is held back.
func TestPaceWithoutLoadavg(t *testing.T) {
	sp := newSpawner(t)
	p := newPacer(filepath.Join(t.TempDir(), "missing"), 1)
	p.fresh = 0
	if p.loadavg >= 0 || p.crowded(sp) {
		t.Fatalf("pacer without loadavg: fd %d, crowded %v", p.loadavg, p.crowded(sp))
	}
	p.close()
}

// TestPaceReadsProcLoadavg: the kernel's line parses, and counts at least
// the reading thread.
func TestPaceReadsProcLoadavg(t *testing.T) {
	p := newPacer("/proc/loadavg", 1)
	defer p.close()
	if p.loadavg < 0 {
		t.Skip("no /proc/loadavg")
	}
	if n := p.runnableNow(); n < 1 {
		t.Errorf("runnable tasks from /proc/loadavg = %d, want at least 1 (this one)", n)
	}
}
