package daemon

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/superd-dev/superd/spawner"
)

// Pacing: why an acceptor may hold back.
//
// A handler that has just started is busy: the dynamic loader, the
// program's start-up and, for a short inetd-style handler, its whole job.
// When more tasks are runnable than the CPUs can run, another handler
// does not make the CPUs go faster; it thins every running handler's
// share, so all of them finish later, the earliest clients' too (the
// kernel shares the CPUs out; it does not serve them in arrival order).
// A connection left in the listen backlog instead waits its turn in
// arrival order, and its handler then starts on CPUs that are less
// crowded. So before it accepts, a stream acceptor of a service with
// handlers waits while both hold:
//
//   - at least 4 handlers a CPU that superd started within the last
//     spawner.FreshAge are still running: superd's own handlers make
//     the crowd, another program's load alone never holds superd back;
//   - the kernel's run queue holds more than 8 tasks a CPU (field 4 of
//     /proc/loadavg): handlers waiting for their clients are not
//     runnable and hold nothing back.
//
// It checks again every paceStep, reaping first, and gives up after
// paceMax: a handler is fresh for spawner.FreshAge only, so the wait
// ends by then anyway unless other acceptors keep starting handlers.
//
// Measured on 2 cores against the C accept-fork-exec loop of bench/
// (interleaved runs of 5 s): /bin/cat at 256 clients, p99 latency
// 157–176 ms against 215–251 ms without pacing and 231–245 ms for the C
// loop, at 2–5 % less than the unpaced rate (still 1.17× the C loop's);
// at 32 clients 33–34 ms against 44–48 ms (C loop 45–47 ms). The hello
// handler at 32 and 256 clients: p99 6.3–6.9 against 6.7–7.3 ms and
// 34–39 against 39–49 ms, at 2–8 % less than the unpaced rate (still
// 1.25× the C loop's). At 8 clients and below the run queue stays short
// and nothing changes.
const (
	paceStep = 250 * time.Microsecond
	paceMax  = 2 * spawner.FreshAge
)

// pacer holds the pacing thresholds and the open /proc/loadavg.
type pacer struct {
	fresh    int // fresh handlers: 4 a CPU
	runnable int // runnable tasks: 8 a CPU
	loadavg  int // /proc/loadavg, or -1: no pacing
}

// newPacer opens loadavg (/proc/loadavg but in tests) and sets the
// thresholds for ncpu CPUs. If loadavg cannot be opened, the pacer never
// holds anything back.
func newPacer(loadavg string, ncpu int) *pacer {
	fd, err := unix.Open(loadavg, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		fd = -1
	}
	return &pacer{fresh: 4 * ncpu, runnable: 8 * ncpu, loadavg: fd}
}

// close closes loadavg; the pacer no longer holds anything back. Nothing
// may use it meanwhile.
func (p *pacer) close() {
	if p.loadavg >= 0 {
		unix.Close(p.loadavg)
		p.loadavg = -1
	}
}

// runnableNow returns the number of runnable tasks on the machine, from the
// fourth field of /proc/loadavg ("0.61 0.52 0.40 3/812 4711"), or 0 if it
// cannot be read.
func (p *pacer) runnableNow() int {
	var b [128]byte
	n, err := unix.Pread(p.loadavg, b[:], 0)
	if err != nil {
		return 0
	}
	return parseRunnable(b[:n])
}

// parseRunnable returns the number before the '/' of the fourth field of
// a /proc/loadavg line, 0 if there is none.
func parseRunnable(line []byte) int {
	field := 0
	for i := 0; i < len(line); i++ {
		if line[i] == ' ' {
			field++
			continue
		}
		if field < 3 {
			continue
		}
		v := 0
		for ; i < len(line) && line[i] >= '0' && line[i] <= '9' && v < 1<<30; i++ {
			v = v*10 + int(line[i]-'0')
		}
		if i < len(line) && line[i] == '/' {
			return v
		}
		return 0
	}
	return 0
}

// crowded reports whether an acceptor should hold back now (see above).
func (p *pacer) crowded(sp *spawner.Spawner) bool {
	return p.loadavg >= 0 && sp.FreshAtLeast(p.fresh) && p.runnableNow() > p.runnable
}

// pace waits while the CPUs are crowded with fresh handlers of sp, for
// at most paceMax; it reports false if stop was closed meanwhile.
func (p *pacer) pace(sp *spawner.Spawner, stop <-chan struct{}) bool {
	if !p.crowded(sp) {
		return true
	}
	deadline := time.Now().Add(paceMax)
	step := unix.NsecToTimespec(int64(paceStep))
	for {
		// A blocking sleep, like the accept4 the acceptor blocks in
		// otherwise: a runtime timer this short would wait for the
		// netpoller, which sleeps in whole milliseconds.
		unix.Nanosleep(&step, nil)
		if isClosed(stop) {
			return false
		}
		sp.Reap()
		if !p.crowded(sp) || !time.Now().Before(deadline) {
			return true
		}
	}
}
