package daemon

import (
	"testing"
	"time"
)

func TestHistogramCumulative(t *testing.T) {
	h := newHistogram([]float64{0.001, 0.01, 1})
	for _, d := range []time.Duration{500 * time.Microsecond, 5 * time.Millisecond, 5 * time.Millisecond, 2 * time.Second} {
		h.observe(d)
	}
	s := h.snapshot()
	want := []uint64{1, 3, 3}
	for i := range want {
		if s.Buckets[i] != want[i] {
			t.Errorf("bucket[%v] = %d, want %d", s.Bounds[i], s.Buckets[i], want[i])
		}
	}
	if s.Count != 4 {
		t.Errorf("count = %d, want 4", s.Count)
	}
	if s.Sum < 2.0105 || s.Sum > 2.0106 {
		t.Errorf("sum = %v, want 2.0105", s.Sum)
	}
}

func TestBucketsResolveSpawnAndSessions(t *testing.T) {
	if spawnBounds[0] >= 0.001 {
		t.Errorf("smallest spawn bucket %v does not resolve a sub-millisecond spawn", spawnBounds[0])
	}
	if handlerBounds[len(handlerBounds)-1] < 3600 {
		t.Errorf("largest handler bucket %v does not reach an hour", handlerBounds[len(handlerBounds)-1])
	}
}
