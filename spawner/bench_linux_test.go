package spawner

import (
	"testing"

	"golang.org/x/sys/unix"
)

// benchStart starts /bin/true with sp's path and waits for its exit, b.N
// times: the cost of one handler from Start to reaping.
func benchStart(b *testing.B, sp *Spec, want path) {
	s, _ := newTestSpawner(b)
	if got := s.pathFor(sp); got != want {
		b.Fatalf("pathFor = %d, want %d", got, want)
	}
	done := make(chan Exit, 1)
	onExit := func(e Exit) { done <- e }
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Start(sp, devNullFiles, "", onExit); err != nil {
			b.Fatal(err)
		}
		if e := <-done; e.Status != 0 {
			b.Fatalf("exit %v", e.Status)
		}
	}
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

// BenchmarkStartParallel overlaps plain spawns from several goroutines.
func BenchmarkStartParallel(b *testing.B) {
	s, _ := newTestSpawner(b)
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
