package daemon

import (
	"runtime"
	"time"
)

// yieldEvery is how often a busy acceptor passes through the Go scheduler.
//
// The runtime takes the P of a goroutine that has not been through the
// scheduler for 10 ms, even while it waits in a system call, and its
// monitor thread then wakes every 20 µs for a while. An acceptor under
// load never blocks on the Go side (it waits in accept4 itself and goes
// straight back after each spawn), so it met that a hundred times a
// second: its P handed to another thread, its next accept4 coming back to
// a thread without one. Yielding first costs a trip through the scheduler
// (measured on 2 cores, hello at 1 client: 4.9–5.0k conn/s against
// 4.3–4.6k, 7 % less superd CPU; /bin/cat at 8 clients: 12 % less superd
// CPU at the same rate).
const yieldEvery = 2 * time.Millisecond

// yielder lets a goroutine that loops over blocking system calls pass
// through the scheduler every yieldEvery. Each goroutine has its own.
type yielder struct{ last time.Time }

// maybe yields if yieldEvery has passed since the last time it did.
func (y *yielder) maybe() {
	if now := time.Now(); now.Sub(y.last) >= yieldEvery {
		runtime.Gosched()
		y.last = now
	}
}
