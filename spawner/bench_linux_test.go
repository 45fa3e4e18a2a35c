package spawner

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// benchStart starts /bin/true with sp's path and waits for its exit, b.N
// times: the cost of one handler from Start to reaping.
func benchStart(b *testing.B, sp *Spec, want path) {
	s, _ := newTestSpawner(b)
	s.cloneOff.Store(want != pathClone)
	if want == pathClone && s.clone == nil {
		b.Skip("no clone path here")
	}
	if got := s.pathFor(sp); got != want {
		b.Fatalf("pathFor = %d, want %d", got, want)
	}
	done := make(chan Exit, 1)
	onExit := func(e Exit) { done <- e }
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	probes0, lookups0 := s.syscallCounts()
	for b.Loop() {
		if _, err := s.Start(sp, devNullFiles, "", onExit); err != nil {
			b.Fatal(err)
		}
		if e := <-done; e.Status != 0 {
			b.Fatalf("exit %v", e.Status)
		}
		n++
	}
	probes, lookups := s.syscallCounts()
	probes, lookups = probes-probes0, lookups-lookups0
	// The process-group bookkeeping of a handler that leaves nothing
	// behind: exactly one kill(-pgid, 0), no getpgid.
	b.ReportMetric(float64(probes)/float64(n), "groupprobes/op")
	if probes != uint64(n) || lookups != 0 {
		b.Errorf("%d exits: %d kill(-pgid, 0), %d getpgid, want %d, 0", n, probes, lookups, n)
	}
}

// syscallCounts reads the group-probe and getpgid counters.
func (s *Spawner) syscallCounts() (probes, lookups uint64) {
	s.reapMu.Lock()
	defer s.reapMu.Unlock()
	return s.groupProbes, s.pgidLookups
}

func BenchmarkStartPlain(b *testing.B) {
	benchStart(b, &Spec{Path: "/bin/true", Umask: -1}, pathPlain)
}

func BenchmarkStartLockedThread(b *testing.B) {
	benchStart(b, &Spec{Path: "/bin/true", Umask: 0o077, Nice: 1, SetNice: true}, pathThread)
}

func BenchmarkStartHelper(b *testing.B) {
	benchStart(b, &Spec{Path: "/bin/true", Umask: -1, Rlimits: []Rlimit{{unix.RLIMIT_CORE, 0, 0}}}, pathHelper)
}

func BenchmarkStartClone(b *testing.B) {
	benchStart(b, &Spec{Path: "/bin/true", Umask: -1}, pathClone)
}

// BenchmarkStartCloneAll sets what the ForkExec paths need the locked
// thread or the exec helper for.
func BenchmarkStartCloneAll(b *testing.B) {
	benchStart(b, &Spec{Path: "/bin/true", Umask: 0o077, Nice: 1, SetNice: true, ListenFDName: "x",
		Rlimits: []Rlimit{{unix.RLIMIT_CORE, 0, 0}}}, pathClone)
}

// BenchmarkStartParallel overlaps plain spawns from several goroutines,
// through syscall.ForkExec and through the clone path.
func BenchmarkStartParallel(b *testing.B) {
	b.Run("forkexec", func(b *testing.B) { benchParallel(b, true) })
	b.Run("clone", func(b *testing.B) { benchParallel(b, false) })
}

func benchParallel(b *testing.B, forkExec bool) {
	s, _ := newTestSpawner(b)
	s.cloneOff.Store(forkExec)
	sp := &Spec{Path: "/bin/true", Umask: -1}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		done := make(chan Exit, 1)
		for pb.Next() {
			if _, err := s.Start(sp, devNullFiles, "", func(e Exit) { done <- e }); err != nil {
				b.Error(err)
				return
			}
			<-done
		}
	})
}

// BenchmarkSpawnLoop is one goroutine starting /bin/true back to back, as
// an accept loop under load does (up to 8 handlers alive, a Reap after
// each spawn and while all 8 run): Start waits for each exec, Launch does
// not.
func BenchmarkSpawnLoop(b *testing.B) {
	b.Run("start", func(b *testing.B) { benchLoop(b, false) })
	b.Run("launch", func(b *testing.B) { benchLoop(b, true) })
}

func benchLoop(b *testing.B, launch bool) {
	s, _ := newTestSpawner(b)
	if s.clone == nil {
		b.Skip("no clone path here")
	}
	sp := &Spec{Path: "/bin/true", Umask: -1}
	slots := make(chan struct{}, 8)
	onExit := func(Exit) { <-slots }
	onExec := func(_ time.Time, err error) {
		if err != nil {
			b.Error(err)
			<-slots
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for len(slots) == cap(slots) { // as an accept loop blocked in accept4 would
			time.Sleep(50 * time.Microsecond)
			s.Reap()
		}
		slots <- struct{}{}
		var err error
		if launch {
			err = s.Launch(sp, devNullFiles, "", onExec, onExit)
		} else {
			_, err = s.Start(sp, devNullFiles, "", onExit)
		}
		if err != nil {
			b.Fatal(err)
		}
		s.Reap()
	}
	for range cap(slots) {
		slots <- struct{}{}
	}
}
