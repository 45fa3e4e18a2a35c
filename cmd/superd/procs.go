package main

import (
	"os"
	"runtime"
)

// procs sets GOMAXPROCS for `run`: one P while superd loads its
// configuration and binds, then four per CPU for serving.
//
// Serving: Go starts a handler with vfork: the spawning thread, and the
// runtime P it holds, wait inside the kernel until the child has exec'd,
// so with one P per core, spawns in flight starve accept loops and other
// spawns of Ps while the cores sit idle. Extra Ps let the kernel schedule
// other threads meanwhile; idle Ps cost nothing. Measured on 2 cores,
// hello handler, 32 clients: GOMAXPROCS=2 6.4–6.7k conn/s, GOMAXPROCS=8
// 8.7–8.8k (the C fork+exec loop: 8.4–8.8k).
//
// Start-up: each P allocates from spans of its own, so the objects that
// outlive start-up (the configuration, the services) end up spread over
// more pages the more Ps took part, and those pages stay resident.
// Measured with 1000 services, 2 busy cores, 8 starts each: RssAnon 7.8–8.5
// MiB with one P against 8.3–12.2 MiB with eight.
//
// An explicit GOMAXPROCS in the environment wins.
type procs struct {
	def   int  // the runtime's GOMAXPROCS at start
	fixed bool // GOMAXPROCS is set in the environment
}

// startupProcs lowers GOMAXPROCS to one for start-up.
func startupProcs() procs {
	p := procs{def: runtime.GOMAXPROCS(0)}
	if _, set := os.LookupEnv("GOMAXPROCS"); set {
		p.fixed = true
		return p
	}
	runtime.GOMAXPROCS(1)
	return p
}

// serve raises GOMAXPROCS to four per CPU, 8 to 256.
func (p procs) serve() {
	if p.fixed {
		return
	}
	runtime.GOMAXPROCS(min(max(4*p.def, 8), 256))
}
