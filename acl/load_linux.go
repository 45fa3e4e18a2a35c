package acl

import (
	"math"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// loadCacheFor is how long a load average read from the kernel is used
// (the kernel itself recomputes it every 5 s).
const loadCacheFor = time.Second

// sysLoad reads the 1-minute load average with sysinfo(2), at most once
// per loadCacheFor; between reads get is two atomic loads and a monotonic
// clock read.
type sysLoad struct {
	base    time.Time     // monotonic origin of expires
	value   atomic.Uint64 // math.Float64bits of the last reading
	expires atomic.Int64  // nanoseconds after base when value is stale
}

func newSysLoad() *sysLoad {
	l := &sysLoad{base: time.Now()}
	l.refresh()
	l.expires.Store(int64(loadCacheFor))
	return l
}

func (l *sysLoad) get() float64 {
	now := int64(time.Since(l.base))
	exp := l.expires.Load()
	// One caller refreshes; the others use the previous value meanwhile.
	if now >= exp && l.expires.CompareAndSwap(exp, now+int64(loadCacheFor)) {
		l.refresh()
	}
	return math.Float64frombits(l.value.Load())
}

// refresh stores the current 1-minute load average. If sysinfo fails (it
// does not, on Linux) the previous value stays: a failed reading must not
// refuse every client.
func (l *sysLoad) refresh() {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return
	}
	l.value.Store(math.Float64bits(float64(si.Loads[0]) / (1 << unix.SI_LOAD_SHIFT)))
}
