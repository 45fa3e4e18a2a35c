package spawner

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// Over the rate bound, write counts the lines of a chunk without splitting
// it, with the same result as line by line: every completed line dropped
// and counted, the partial tail kept (truncated at maxStderrLine) for the
// next window.
func TestStderrOverRateFastPath(t *testing.T) {
	rec := &recordHandler{}
	s := &Spawner{}
	l := &stderrLog{s: s, log: newRecordLogger(rec)}
	for i := range maxStderrRate {
		l.write([]byte("n" + strings.Repeat("x", i%3) + "\n"))
	}
	if got := len(rec.lines()); got != maxStderrRate {
		t.Fatalf("%d lines logged, want %d", got, maxStderrRate)
	}
	l.window = time.Now() // keep the window open whatever the machine's speed
	for _, chunk := range []string{"a\nb\nc", "d", "\n", strings.Repeat("y", 5000), "\n\n", "tail-" + strings.Repeat("z", 5000)} {
		l.write([]byte(chunk))
	}
	// Dropped: a, b, cd, the 4096 y's, the empty line.
	if l.dropped != 5 || s.stderrDropped.Load() != 5 {
		t.Errorf("dropped = %d (Stats %d), want 5", l.dropped, s.stderrDropped.Load())
	}
	if len(l.line) != maxStderrLine || !l.truncated || !strings.HasPrefix(string(l.line), "tail-") {
		t.Errorf("partial line: %d bytes, truncated %v, want the tail truncated to %d", len(l.line), l.truncated, maxStderrLine)
	}
	// A new window: the tail completes and is logged, the count reported.
	l.window = time.Now().Add(-2 * time.Second)
	l.write([]byte("!\nnext\n"))
	got := rec.lines()[maxStderrRate:]
	want := []string{"tail-" + strings.Repeat("z", maxStderrLine-5), "next"}
	if !slices.Equal(got, want) {
		t.Errorf("after the window: lines %.40q, want %.40q", got, want)
	}
	if l.dropped != 0 || l.n != 2 {
		t.Errorf("after the window: dropped %d, n %d, want 0, 2", l.dropped, l.n)
	}
}
