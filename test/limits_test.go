package test

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// killAndWait kills a handler and waits for superd to log its exit, so
// the limit it held is free again.
func killAndWait(t *testing.T, s *superd, svc string, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill handler %d: %v", pid, err)
	}
	s.mustLog(5*time.Second, fmt.Sprintf("handler exited pid=%d", pid), msgIs("handler exited", "service", svc, "pid", strconv.Itoa(pid)))
}

// TestLimits checks the connection limits of SPEC §2 and their refusal
// reasons (§4).
func TestLimits(t *testing.T) {
	t.Parallel()
	sleeper := `command = ` + handlerCmd("sleep", "1", "60")
	echo := `command = ` + shCmd("echo served")
	s := startSuperd(t, map[string]string{
		"limits.hcl": metricsDaemon +
			service("inst", `listen = ["127.0.0.1:0"]`, userLine, sleeper, `limits {`, `  instances = 2`, `}`) +
			service("ps24", `listen = ["127.0.0.1:0"]`, userLine, sleeper,
				`limits {`, `  per_source = 1`, `  source_prefix = [24, 64]`, `}`) +
			service("ps32", `listen = ["127.0.0.1:0"]`, userLine, sleeper,
				`limits {`, `  per_source = 1`, `  source_prefix = [32, 64]`, `}`) +
			service("rate3m", `listen = ["127.0.0.1:0"]`, userLine, echo, `limits {`, `  rate = "3/m"`, `}`) +
			service("rate3s", `listen = ["127.0.0.1:0"]`, userLine, echo, `limits {`, `  rate = "3/s"`, `}`) +
			service("psrate", `listen = ["127.0.0.1:0"]`, userLine, echo,
				`limits {`, `  per_source_rate = "2/m"`, `  rate = "3/m"`, `}`) +
			service("psrate2s", `listen = ["127.0.0.1:0"]`, `builtin = "daytime"`,
				`limits {`, `  per_source_rate = "2/s"`, `  rate = "100/s"`, `}`) +
			service("loadhigh", `listen = ["127.0.0.1:0"]`, userLine, echo, `limits {`, `  max_load = 1000000`, `}`) +
			service("loadtiny", `listen = ["127.0.0.1:0"]`, userLine, echo, `limits {`, `  max_load = 0.001`, `}`) +
			service("order", `listen = ["127.0.0.1:0"]`, userLine, sleeper,
				`access {`, `  allow = ["127.0.0.1"]`, `}`, `limits {`, `  instances = 1`, `}`),
	})
	maddr := s.metricsAddr()

	t.Run("instances", func(t *testing.T) {
		t.Parallel()
		addr := s.addr("inst")
		_, p1 := holdFrom(t, "127.0.0.1", addr)
		_, p2 := holdFrom(t, "127.0.0.2", addr)
		remote := refusedFrom(t, "127.0.0.1", addr, "")
		s.mustLog(5*time.Second, "refused reason=instances", msgIs("refused", "service", "inst", "reason", "instances", "remote", remote))
		killAndWait(t, s, "inst", p1)
		_, p3 := holdFrom(t, "127.0.0.3", addr)
		if p3 == p1 || p3 == p2 {
			t.Errorf("new handler pid %d", p3)
		}
		refusedFrom(t, "127.0.0.1", addr, "")
		killAndWait(t, s, "inst", p2)
		killAndWait(t, s, "inst", p3)
		// Both slots are free again.
		holdFrom(t, "127.0.0.1", addr)
		holdFrom(t, "127.0.0.1", addr)
	})
	t.Run("per_source /24", func(t *testing.T) {
		t.Parallel()
		addr := s.addr("ps24")
		_, p1 := holdFrom(t, "127.0.0.2", addr)
		remote := refusedFrom(t, "127.0.0.3", addr, "") // same /24
		s.mustLog(5*time.Second, "refused reason=per_source", msgIs("refused", "service", "ps24", "reason", "per_source", "remote", remote))
		holdFrom(t, "127.0.1.3", addr) // another /24
		killAndWait(t, s, "ps24", p1)
		holdFrom(t, "127.0.0.3", addr)
		refusedFrom(t, "127.0.0.2", addr, "")
	})
	t.Run("per_source /32", func(t *testing.T) {
		t.Parallel()
		addr := s.addr("ps32")
		_, p1 := holdFrom(t, "127.0.0.2", addr)
		holdFrom(t, "127.0.0.3", addr) // its own group
		remote := refusedFrom(t, "127.0.0.2", addr, "")
		s.mustLog(5*time.Second, "refused reason=per_source", msgIs("refused", "service", "ps32", "reason", "per_source", "remote", remote))
		killAndWait(t, s, "ps32", p1)
		holdFrom(t, "127.0.0.2", addr)
	})
	t.Run("rate 3/m", func(t *testing.T) {
		t.Parallel()
		addr := s.addr("rate3m")
		for i := 1; i <= 5; i++ {
			got, local := getFrom(t, "127.0.0.1", addr)
			if want := "served\n"; i <= 3 && got != want || i > 3 && got != "" {
				t.Errorf("connection %d got %q, want %s", i, got, map[bool]string{true: "served", false: "refused"}[i <= 3])
			}
			if i == 4 {
				s.mustLog(5*time.Second, "refused reason=rate", msgIs("refused", "service", "rate3m", "reason", "rate", "remote", local))
			}
		}
	})
	t.Run("rate 3/s", func(t *testing.T) {
		t.Parallel()
		addr := s.addr("rate3s")
		// Ten connections at once: at most 3 + 3/s of them are served.
		var wg sync.WaitGroup
		var mu sync.Mutex
		served, refused := 0, 0
		start := time.Now()
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := fetchFrom("127.0.0.1", addr)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					t.Error(err)
				case got == "served\n":
					served++
				case got == "":
					refused++
				default:
					t.Errorf("got %q", got)
				}
			}()
		}
		wg.Wait()
		took := time.Since(start)
		if max := 3 + int(3*took.Seconds()) + 1; served > max || served < 3 {
			t.Errorf("%d of 10 connections in %v served, want 3 to %d", served, took, max)
		}
		if refused == 0 {
			t.Fatalf("no connection refused of 10 in %v", took)
		}
		s.mustLog(5*time.Second, "refused reason=rate", msgIs("refused", "service", "rate3s", "reason", "rate"))
		// A second later the bucket is full again: three in a row.
		time.Sleep(1100 * time.Millisecond)
		for i := 0; i < 3; i++ {
			if got, _ := getFrom(t, "127.0.0.1", addr); got != "served\n" {
				t.Errorf("after 1.1 s, connection %d got %q, want served", i+1, got)
			}
		}
	})
	t.Run("per_source_rate", func(t *testing.T) {
		t.Parallel()
		addr := s.addr("psrate")
		// The flooding client gets its 2, then per_source_rate refusals
		// that take no token from the service's bucket of 3 ...
		for i := 1; i <= 8; i++ {
			got, local := getFrom(t, "127.0.0.2", addr)
			if i <= 2 && got != "served\n" || i > 2 && got != "" {
				t.Errorf("flooding client, connection %d: got %q", i, got)
			}
			if i == 3 {
				s.mustLog(5*time.Second, "refused reason=per_source_rate", msgIs("refused", "service", "psrate", "reason", "per_source_rate", "remote", local))
			}
		}
		// ... so another client is still served ...
		if got, _ := getFrom(t, "127.0.0.3", addr); got != "served\n" {
			t.Errorf("other client got %q, want served: the flood emptied the service's bucket", got)
		}
		// ... and the service's bucket is empty after the third.
		remote := refusedFrom(t, "127.0.0.4", addr, "")
		s.mustLog(5*time.Second, "refused reason=rate", msgIs("refused", "service", "psrate", "reason", "rate", "remote", remote))
		if n := connections(t, maddr, "psrate", "per_source_rate"); n != 6 {
			t.Errorf("psrate per_source_rate refusals = %d, want 6", n)
		}
		if n := connections(t, maddr, "psrate", "rate"); n != 1 {
			t.Errorf("psrate rate refusals = %d, want 1", n)
		}
	})
	t.Run("per_source_rate 2/s", func(t *testing.T) {
		t.Parallel()
		addr := s.addr("psrate2s")
		var got []string
		start := time.Now()
		for i := 0; i < 3; i++ {
			b, err := fetchFrom("127.0.0.2", addr)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, b)
		}
		if took := time.Since(start); took < 400*time.Millisecond && got[2] != "" {
			t.Errorf("third connection within %v got %q, want refused", took, got[2])
		}
		if got[0] == "" || got[1] == "" {
			t.Errorf("first two connections got %q", got[:2])
		}
		if b, _ := getFrom(t, "127.0.0.3", addr); b == "" {
			t.Errorf("another source was refused")
		}
	})
	t.Run("max_load", func(t *testing.T) {
		t.Parallel()
		if got, _ := getFrom(t, "127.0.0.1", s.addr("loadhigh")); got != "served\n" {
			t.Errorf("max_load = 1000000: got %q, want served", got)
		}
		// superd reads the load average with sysinfo(2), as here.
		var si syscall.Sysinfo_t
		if err := syscall.Sysinfo(&si); err != nil {
			t.Skipf("sysinfo: %v", err)
		}
		if load := float64(si.Loads[0]) / (1 << 16); load < 0.01 {
			t.Skipf("1-minute load average %.3f is too low to test a refusal at max_load = 0.001", load)
		}
		remote := refusedFrom(t, "127.0.0.1", s.addr("loadtiny"), "")
		s.mustLog(5*time.Second, "refused reason=load", msgIs("refused", "service", "loadtiny", "reason", "load", "remote", remote))
	})
	t.Run("acl before instances", func(t *testing.T) {
		t.Parallel()
		addr := s.addr("order")
		holdFrom(t, "127.0.0.1", addr)
		r1 := refusedFrom(t, "127.0.0.2", addr, "")
		r2 := refusedFrom(t, "127.0.0.1", addr, "")
		s.mustLog(5*time.Second, "refused reason=acl", msgIs("refused", "service", "order", "reason", "acl", "remote", r1))
		s.mustLog(5*time.Second, "refused reason=instances", msgIs("refused", "service", "order", "reason", "instances", "remote", r2))
		if n := connections(t, maddr, "order", "acl"); n != 1 {
			t.Errorf("order acl refusals = %d, want 1", n)
		}
		if n := connections(t, maddr, "order", "instances"); n != 1 {
			t.Errorf("order instances refusals = %d, want 1", n)
		}
	})
}

// TestLimitsRefusalsCostNoProcess floods a service with refused
// connections: superd forks nothing for them (SPEC §4) and leaks no
// descriptor.
func TestLimitsRefusalsCostNoProcess(t *testing.T) {
	t.Parallel()
	mark := markerDir(t)
	s := startSuperd(t, map[string]string{
		"deny.hcl": service("deny", `listen = ["127.0.0.1:0"]`, userLine, `command = `+markerCmd(mark, "deny"),
			`access {`, `  allow = ["127.0.0.1"]`, `  deny_message = "no\n"`, `}`),
	})
	addr := s.addr("deny")
	fdsBefore, _ := fdCount(t, s.Pid)

	stop := make(chan struct{})
	var seen []string
	var scans int
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			if c := children(s.Pid); len(c) > 0 {
				seen = append(seen, c...)
			}
			scans++
			select {
			case <-stop:
				return
			default:
			}
		}
	}()

	const total, workers = 300, 10
	jobs := make(chan int, total)
	for i := 0; i < total; i++ {
		jobs <- i
	}
	close(jobs)
	errs := make(chan error, total)
	for w := 0; w < workers; w++ {
		go func() {
			for range jobs {
				got, err := fetchFrom("127.0.0.2", addr)
				if err == nil && got != "no\n" {
					err = fmt.Errorf("refused client got %q, want the deny_message", got)
				}
				errs <- err
			}
		}()
	}
	failures := 0
	for i := 0; i < total; i++ {
		if err := <-errs; err != nil {
			if failures++; failures <= 3 {
				t.Error(err)
			}
		}
	}
	close(stop)
	<-watched
	if len(seen) > 0 {
		t.Errorf("superd had children during a flood of refusals: %q", seen)
	}
	t.Logf("%d scans of /proc during the flood", scans)
	if got := markers(t, mark, ""); len(got) != 0 {
		t.Errorf("handlers ran for refused clients: %q", got)
	}
	if !eventually(2*time.Second, func() bool { n, _ := fdCount(t, s.Pid); return n <= fdsBefore }) {
		n, targets := fdCount(t, s.Pid)
		t.Errorf("superd has %d descriptors after the flood, %d before: %q", n, fdsBefore, targets)
	}
	// The marker mechanism works: an allowed client leaves one.
	if got, _ := getFrom(t, "127.0.0.1", addr); got != "served\n" {
		t.Errorf("allowed client got %q", got)
	}
	if got := markers(t, mark, "deny-127.0.0.1-"); len(got) != 1 {
		t.Errorf("markers after one allowed client: %q", got)
	}
}

// TestLimitsBackToBack: a client that connects again as soon as its
// handler has exited finds the slot free, at the instances and per_source
// limits alike, also while superd reaps exits inline (under load, after
// each spawn) rather than on SIGCHLD: a handler that has exited but is
// not reaped yet does not get the next client refused. (End-of-file comes
// a little before the exit: a process closes its descriptors first. So
// the client waits for the handler to be a zombie, or gone.)
func TestLimitsBackToBack(t *testing.T) {
	t.Parallel()
	s := startSuperd(t, map[string]string{
		"svc.hcl": metricsDaemon +
			service("one", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd(`echo $$`),
				`limits {`, `  instances = 1`, `  per_source = 1`, `}`),
	})
	const n = 200
	for i := range n {
		c, err := net.DialTimeout("tcp", s.addr("one"), 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		c.Close()
		pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || perr != nil {
			t.Fatalf("connection %d: got %q, %v; want the handler's pid", i, b, err)
		}
		for end := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Microsecond) {
			if st, _, _, ok := procStat(pid); !ok || st == "Z" {
				break
			}
			if time.Now().After(end) {
				t.Fatalf("handler %d still running 5s after end-of-file", pid)
			}
		}
	}
	text, err := relScrape(s.metricsAddr())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"instances", "per_source"} {
		if v := relMetric(text, "superd_connections_total", "service", "one", "result", r); v != 0 {
			t.Errorf("%v connections refused for %s, want 0", v, r)
		}
	}
	if v := relMetric(text, "superd_connections_total", "service", "one", "result", "accepted"); v != n {
		t.Errorf("accepted = %v, want %d", v, n)
	}
}
