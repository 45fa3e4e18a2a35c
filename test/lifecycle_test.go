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

func TestTimeout(t *testing.T) {
	t.Parallel()
	s := startSuperd(t, map[string]string{
		"svc.hcl": service("slow", `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("sleep", "1", "60"),
			`limits {`, `  timeout = "1s"`, `}`) +
			service("stubborn", `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("ignore-term", "1", "60"),
				`limits {`, `  timeout = "1s"`, `}`),
	})
	t.Run("term", func(t *testing.T) {
		t.Parallel()
		c, pid := dialHold(t, s.addr("slow"))
		if d := waitEOF(t, c, 6*time.Second); d > 4*time.Second {
			t.Errorf("client saw EOF after %v, want about 1s", d)
		}
		s.mustLog(5*time.Second, "handler exited status=timeout", msgIs("handler exited", "service", "slow", "pid", strconv.Itoa(pid), "status", "timeout"))
		if !waitGone(pid, 3*time.Second) {
			t.Errorf("handler %d still running", pid)
		}
	})
	t.Run("kill", func(t *testing.T) {
		t.Parallel()
		c, pid := dialHold(t, s.addr("stubborn"))
		d := waitEOF(t, c, 8*time.Second)
		if d < 1500*time.Millisecond {
			t.Errorf("client saw EOF after %v, want about 2s (timeout 1s + kill_delay 1s)", d)
		}
		if d > 5*time.Second {
			t.Errorf("client saw EOF after %v, want about 2s (timeout 1s + kill_delay 1s)", d)
		}
		s.mustLog(5*time.Second, "handler exited status=timeout", msgIs("handler exited", "service", "stubborn", "pid", strconv.Itoa(pid), "status", "timeout"))
		if !waitGone(pid, 3*time.Second) {
			t.Errorf("handler %d still running", pid)
		}
	})
}

func TestStderrLog(t *testing.T) {
	t.Parallel()
	s := startSuperd(t, map[string]string{
		"svc.hcl": service("noisy", `listen = ["127.0.0.1:0"]`, userLine,
			`command = `+shCmd(`printf 'a\033[31mb\nline2\n' >&2; printf 'forged msg=ready level=ERROR\n' >&2; echo $$`)),
	})
	out := roundTrip(t, "tcp", s.addr("noisy"), "", false)
	pid := strings.TrimSpace(out)
	if _, err := strconv.Atoi(pid); err != nil {
		t.Fatalf("handler said %q, want its pid", out)
	}
	want := []string{"a\x1b[31mb", "line2", "forged msg=ready level=ERROR"}
	for _, w := range want {
		l := s.mustLog(5*time.Second, fmt.Sprintf("msg=stderr line=%q", w), msgIs("stderr", "service", "noisy", "line", w))
		if l.Get("pid") != pid {
			t.Errorf("stderr line %s: pid = %q, want %s", l, l.Get("pid"), pid)
		}
		if strings.ContainsRune(l.Raw, 0x1b) {
			t.Errorf("log line holds a raw escape byte: %q", l.Raw)
		}
	}
	s.mustLog(5*time.Second, "handler exited", msgIs("handler exited", "service", "noisy", "pid", pid, "status", "success"))
	n := 0
	for _, l := range s.snapshot() {
		if l.Msg() == "stderr" {
			n++
		}
		if l.Msg() == "ready" && l.Get("level") == "ERROR" {
			t.Errorf("handler forged a log line: %s", l)
		}
	}
	if n != len(want) {
		t.Errorf("%d msg=stderr lines, want %d", n, len(want))
	}
}

func TestStderrLimits(t *testing.T) {
	t.Parallel()
	// A 5000-byte line, then 300 lines at once: lines are cut at 4 KiB
	// and at most 100 a second are logged.
	s := startSuperd(t, map[string]string{
		"svc.hcl": service("spam", `listen = ["127.0.0.1:0"]`, userLine,
			`command = `+shCmd(`head -c 5000 /dev/zero | tr '\000' x >&2; echo >&2; i=0; while [ $i -lt 300 ]; do echo line$i >&2; i=$((i+1)); done`)),
	})
	roundTrip(t, "tcp", s.addr("spam"), "", false)
	s.mustLog(5*time.Second, "handler exited", msgIs("handler exited", "service", "spam"))
	time.Sleep(300 * time.Millisecond)
	n, long := 0, 0
	for _, l := range s.snapshot() {
		if l.Msg() != "stderr" || l.Get("service") != "spam" {
			continue
		}
		n++
		if v := l.Get("line"); strings.HasPrefix(v, "xxxx") {
			long = len(v)
		}
	}
	t.Logf("%d stderr lines logged; the long line with %d bytes", n, long)
	if long == 0 || long > 4096 {
		t.Errorf("the 5000-byte stderr line was logged with %d bytes, want some, at most 4096", long)
	}
	// 100 a second; the burst may straddle two seconds.
	if n > 200 || n < 50 {
		t.Errorf("%d of 301 stderr lines logged, want at most 100 a second", n)
	}
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			s := startSuperd(t, map[string]string{
				"svc.hcl": fastDaemon +
					service("long", `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("sleep", "1", "60")) +
					service("stubborn", `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("ignore-term", "1", "60")) +
					service("waiter", `mode = "wait"`, `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("sleep", "2", "60")),
			})
			c1, p1 := dialHold(t, s.addr("long"))
			c2, p2 := dialHold(t, s.addr("stubborn"))
			p3 := startWaiter(t, s, "waiter")

			start := time.Now()
			s.Signal(sig)
			if !s.Wait(8 * time.Second) {
				t.Fatalf("superd still running 8s after %v (shutdown_grace 1s, kill_delay 1s)", sig)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("superd took %v to exit after %v, want about 2s", d, sig)
			}
			if code := s.ExitCode(); code != 0 {
				t.Errorf("superd exit code after %v = %d, want 0", sig, code)
			}
			for _, pid := range []int{p1, p2, p3} {
				if !waitGone(pid, 2*time.Second) {
					t.Errorf("handler %d still running after superd exited", pid)
				}
			}
			for _, c := range []net.Conn{c1, c2} {
				waitEOF(t, c, time.Second)
			}
			// The wait-mode handler got SIGTERM at once, before the
			// others' grace ran out.
			var order []string
			for _, l := range s.snapshot() {
				if l.Msg() == "handler exited" {
					order = append(order, l.Get("service")+"="+l.Get("status"))
				}
			}
			if len(order) != 3 || !strings.HasPrefix(order[0], "waiter=") {
				t.Errorf("handler exits in order %v, want waiter first and three in all", order)
			}
			for _, o := range order {
				if strings.HasPrefix(o, "long=") && o != "long=signal" {
					t.Errorf("handler exit %s, want status signal", o)
				}
			}
		})
	}
}

// TestShutdownBuiltinGraceWaitKill checks the two other shutdown rules of
// SPEC §5: a builtin session, like a handler, gets shutdown_grace to
// finish and is then cut (counted as killed: signal); a wait-mode handler
// that ignores its at-once SIGTERM gets SIGKILL kill_delay later, not
// after the grace.
func TestShutdownBuiltinGraceWaitKill(t *testing.T) {
	t.Parallel()
	const grace, killDelay = 5 * time.Second, time.Second
	s := startSuperd(t, map[string]string{
		"svc.hcl": "daemon {\n  shutdown_grace = \"5s\"\n  kill_delay = \"1s\"\n}\n" +
			service("echo", `listen = ["127.0.0.1:0"]`, `builtin = "echo"`) +
			service("waiter", `mode = "wait"`, `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("ignore-term", "2", "60")),
	})
	echo, err := net.DialTimeout("tcp", s.addr("echo"), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	roundTrip := func(msg string) {
		t.Helper()
		if _, err := echo.Write([]byte(msg)); err != nil {
			t.Fatalf("write to the echo session: %v", err)
		}
		if got := readLine(t, echo); got != strings.TrimSuffix(msg, "\n") {
			t.Fatalf("echo session answered %q, want %q", got, msg)
		}
	}
	roundTrip("before\n")
	waiter := startWaiter(t, s, "waiter")

	start := time.Now()
	s.Signal(syscall.SIGTERM)
	if !waitGone(waiter, killDelay+2*time.Second) {
		t.Errorf("wait-mode handler %d ignoring SIGTERM still running %v after superd's SIGTERM (kill_delay %v, grace %v)",
			waiter, time.Since(start).Round(time.Millisecond), killDelay, grace)
	}
	// Still within the grace: the session goes on.
	time.Sleep(time.Until(start.Add(killDelay + time.Second)))
	roundTrip("during the grace\n")
	d := waitEOF(t, echo, grace+3*time.Second)
	if cut := time.Since(start); cut < grace-time.Second {
		t.Errorf("builtin session cut %v after SIGTERM, want after shutdown_grace %v", cut.Round(time.Millisecond), grace)
	} else {
		t.Logf("builtin session cut %v after SIGTERM (waited %v for EOF)", cut.Round(time.Millisecond), d.Round(time.Millisecond))
	}
	if !s.Wait(5 * time.Second) {
		t.Fatal("superd still running 5s after its last session ended")
	}
	if code := s.ExitCode(); code != 0 {
		t.Errorf("superd exit code = %d, want 0", code)
	}
	for _, name := range []string{"echo", "waiter"} {
		if _, ok := s.waitLog(0, msgIs("handler exited", "service", name, "status", "signal")); !ok {
			t.Errorf("no handler exited line with status signal for %s:\n%s", name, s.logText())
		}
	}
}

// startWaiter starts the handler of the wait-mode service name with a
// pending connection (closed at cleanup); the handler says "started PID"
// through its stderr, into the log. It returns that pid.
func startWaiter(t *testing.T, s *superd, name string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.addr(name), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	l := s.mustLog(5*time.Second, name+" started", func(l logLine) bool {
		return l.Msg() == "stderr" && l.Get("service") == name && strings.HasPrefix(l.Get("line"), "started ")
	})
	return startedPid(t, l.Get("line"))
}

func TestNoLeaksOrZombies(t *testing.T) {
	t.Parallel()
	s := startSuperd(t, map[string]string{
		"svc.hcl": service("true", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/true"]`) +
			service("truefd", `listen = ["127.0.0.1:0"]`, userLine, `pass = "fd"`, `command = ["/bin/true"]`) +
			service("ucat", `protocol = "udp"`, `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`) +
			service("fail", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd(`echo oops >&2; exit 3`)),
	})
	hit := func(t *testing.T, svc string) {
		t.Helper()
		switch svc {
		case "ucat":
			if got, err := udpTry(s.addr(svc), "u"); err != nil || got != "u" {
				t.Errorf("udp exchange with %s: reply %q, %v", svc, got, err)
			}
		default:
			c, err := net.DialTimeout("tcp", s.addr(svc), ioTimeout)
			if err != nil {
				t.Errorf("dial %s: %v", svc, err)
				return
			}
			c.SetDeadline(time.Now().Add(ioTimeout))
			if _, err := io.Copy(io.Discard, c); err != nil {
				t.Errorf("read %s: %v", svc, err)
			}
			c.Close()
		}
	}
	settled := func() bool { return len(children(s.Pid)) == 0 }
	// Warm up, so lazily opened descriptors are counted in the baseline.
	for _, svc := range []string{"true", "truefd", "ucat", "fail"} {
		for range 3 {
			hit(t, svc)
		}
	}
	if !eventually(5*time.Second, settled) {
		t.Fatalf("superd still has children after warm-up: %v", children(s.Pid))
	}
	time.Sleep(200 * time.Millisecond)
	before, beforeList := fdCount(t, s.Pid)

	// 150 sequential, then 150 concurrent (16 at a time), over the
	// services.
	svcs := []string{"true", "truefd", "ucat", "fail"}
	for i := range 150 {
		hit(t, svcs[i%len(svcs)])
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range 150 {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			hit(t, svcs[i%len(svcs)])
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	var after int
	var afterList []string
	ok := eventually(5*time.Second, func() bool {
		after, afterList = fdCount(t, s.Pid)
		return after == before && settled()
	})
	if !ok {
		t.Errorf("after 300 connections superd has %d fds (before %d) and children %v\nbefore: %v\nafter:  %v",
			after, before, children(s.Pid), beforeList, afterList)
	}
	if z := zombies(s.Pid); len(z) > 0 {
		t.Errorf("superd has zombie children: %v", z)
	}
	// Every handler exit was logged.
	const want = 300 + 12
	n := 0
	eventually(3*time.Second, func() bool {
		n = 0
		for _, l := range s.snapshot() {
			if l.Msg() == "handler exited" {
				n++
			}
		}
		return n >= want
	})
	if n != want {
		t.Errorf("%d handler exited lines, want %d", n, want)
	}
}

func TestDoubleFork(t *testing.T) {
	t.Parallel()
	s := startSuperd(t, map[string]string{
		"svc.hcl": service("df", `listen = ["127.0.0.1:0"]`, userLine,
			`command = `+shCmd(`(exec sleep 2 </dev/null >/dev/null 2>&1 &) ; exit 0`)),
	})
	start := time.Now()
	if out := roundTrip(t, "tcp", s.addr("df"), "", false); out != "" {
		t.Errorf("handler said %q", out)
	}
	// superd is a child subreaper: the orphaned grandchild becomes its child.
	adopted := eventually(1500*time.Millisecond, func() bool {
		for _, c := range children(s.Pid) {
			if strings.Contains(c, " sleep ") {
				return true
			}
		}
		return false
	})
	if !adopted && time.Since(start) < 1800*time.Millisecond {
		t.Errorf("the orphaned grandchild was not re-parented to superd (children %v)", children(s.Pid))
	}
	// Once it ends, it is reaped.
	if !eventually(5*time.Second, func() bool { return len(children(s.Pid)) == 0 }) {
		t.Errorf("superd children 5s later: %v", children(s.Pid))
	}
	if z := zombies(s.Pid); len(z) > 0 {
		t.Errorf("zombies: %v", z)
	}
}
