package daemon

import (
	"math"
	"sync/atomic"
	"time"
)

// Bucket upper bounds, in seconds. Spawn times resolve sub-millisecond
// starts; handler durations reach an hour-long session.
var (
	spawnBounds   = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}
	handlerBounds = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600}
)

// histogram is a fixed-bucket, lock-free histogram of durations.
type histogram struct {
	bounds []float64 // shared, never modified
	counts []atomic.Uint64
	sumNs  atomic.Int64
	count  atomic.Uint64
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds))}
}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	for i, b := range h.bounds {
		if s <= b {
			h.counts[i].Add(1)
			break
		}
	}
	h.sumNs.Add(int64(d))
	h.count.Add(1)
}

// Histogram is a snapshot: Buckets[i] counts observations <= Bounds[i]
// (cumulative, as Prometheus wants them).
type Histogram struct {
	Bounds  []float64
	Buckets []uint64
	Count   uint64
	Sum     float64 // seconds
}

func (h *histogram) snapshot() Histogram {
	out := Histogram{Bounds: h.bounds, Buckets: make([]uint64, len(h.bounds))}
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		out.Buckets[i] = cum
	}
	out.Count = h.count.Load()
	if out.Count < cum { // observations raced the snapshot
		out.Count = cum
	}
	out.Sum = float64(h.sumNs.Load()) / 1e9
	if math.IsNaN(out.Sum) {
		out.Sum = 0
	}
	return out
}
