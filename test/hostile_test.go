package test

// Hostile handlers and privilege: handlers that crash, hang, never read,
// leave children behind, ignore SIGTERM, flood stderr or fork-bomb, and
// what a handler running as nobody can and cannot do to superd. See
// RELIABILITY.md.

import (
	"fmt"
	"io"
	"net"
	"os/exec"
	"os/user"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHostileHandlers runs misbehaving handlers side by side under one
// superd and checks that timeouts, process-group kills and log bounds
// hold, that a probe on another service is served throughout, and that
// afterwards nothing is left: no child, no zombie, no descriptor, no
// handler counted as active.
func TestHostileHandlers(t *testing.T) {
	t.Parallel()
	lim := func(timeout string) []string {
		return []string{`limits {`, `  timeout = "` + timeout + `"`, `}`}
	}
	svc := func(name, cmd string, extra ...string) string {
		return service(name, append([]string{`listen = ["127.0.0.1:0"]`, userLine, `command = ` + cmd}, extra...)...)
	}
	s := startSuperd(t, map[string]string{
		"00-daemon.hcl": relDaemon, // kill_delay 1s
		"svc.hcl": svc("probe", `["/bin/cat"]`) +
			svc("crash", shCmd(`echo started; kill -SEGV $$`)) +
			svc("hang", shCmd(`echo started; sleep 30`), lim("1s")...) +
			svc("noread", shCmd(`echo started; sleep 30`), lim("1s")...) +
			svc("forker", shCmd(`sleep 3 & echo started; exit 0`), lim("1s")...) +
			svc("stubborn", shCmd(`trap "" TERM; echo started; sleep 30`), lim("1s")...) +
			svc("noisy", shCmd(`echo started; exec yes spam-spam-spam >&2`), lim("3s")...),
	})
	maddr := relMetricsAddr(t, s)
	for range 3 {
		if got, err := relTry(s.addr("probe"), "warm"); err != nil || got != "warm" {
			t.Fatalf("probe: %q, %v", got, err)
		}
	}
	relMustScrape(t, maddr)
	if !eventually(5*time.Second, func() bool { return len(children(s.Pid)) == 0 }) {
		t.Fatalf("children before: %v", children(s.Pid))
	}
	time.Sleep(100 * time.Millisecond)
	base, baseList := fdCount(t, s.Pid)

	// dial connects and reads the handler's "started" line.
	dial := func(t *testing.T, name string) net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", s.addr(name), ioTimeout)
		if err != nil {
			t.Fatalf("dial %s: %v", name, err)
		}
		t.Cleanup(func() { c.Close() })
		if l := readLine(t, c); l != "started" {
			t.Fatalf("%s said %q, want started", name, l)
		}
		return c
	}
	// eof waits up to d for EOF (or a reset) and returns how long it took.
	eof := func(t *testing.T, c net.Conn, d time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		c.SetReadDeadline(start.Add(d))
		_, err := io.Copy(io.Discard, c)
		if relIsTimeout(err) {
			t.Fatalf("connection still open after %v", d)
		}
		return time.Since(start)
	}
	exitOf := func(t *testing.T, name string) logLine {
		t.Helper()
		return s.mustLog(10*time.Second, "handler exited service="+name, msgIs("handler exited", "service", name))
	}

	probe := relStartProber(s.addr("probe"), "ping", "ping", 20*time.Millisecond)
	t.Run("faults", func(t *testing.T) {
		t.Run("crash", func(t *testing.T) {
			t.Parallel()
			c := dial(t, "crash")
			eof(t, c, 5*time.Second)
			l := exitOf(t, "crash")
			if l.Get("status") != "signal" || l.Get("code") != strconv.Itoa(128+int(syscall.SIGSEGV)) {
				t.Errorf("crash: %s, want status=signal code=139", l)
			}
		})
		t.Run("hang", func(t *testing.T) {
			t.Parallel()
			c := dial(t, "hang")
			d := eof(t, c, 6*time.Second)
			t.Logf("hang: client saw EOF after %v (timeout 1s)", d.Round(time.Millisecond))
			if d > 3*time.Second {
				t.Errorf("hang: EOF after %v, want about 1s", d)
			}
			if l := exitOf(t, "hang"); l.Get("status") != "timeout" {
				t.Errorf("hang: %s, want status=timeout", l)
			}
		})
		t.Run("noread", func(t *testing.T) {
			t.Parallel()
			c := dial(t, "noread")
			// Write far more than the socket buffers hold; the handler never
			// reads. The write blocks until the timeout kills the handler,
			// then fails (reset): superd is not in the data path.
			start := time.Now()
			c.SetWriteDeadline(start.Add(8 * time.Second))
			chunk := make([]byte, 1<<20)
			var written int64
			var err error
			for written < 64<<20 {
				var n int
				n, err = c.Write(chunk)
				written += int64(n)
				if err != nil {
					break
				}
			}
			d := time.Since(start)
			t.Logf("noread: client wrote %d KiB, then %v after %v", written>>10, err, d.Round(time.Millisecond))
			if err == nil || relIsTimeout(err) {
				t.Errorf("noread: write ended with %v after %v, want a reset about 1s in", err, d)
			}
			if l := exitOf(t, "noread"); l.Get("status") != "timeout" {
				t.Errorf("noread: %s, want status=timeout", l)
			}
		})
		t.Run("forker", func(t *testing.T) {
			t.Parallel()
			c := dial(t, "forker")
			// The background sleep inherited the connection (as stdout)
			// and stays in the handler's process group after the shell
			// exits: the handler lingers, keeps its instance slot, and its
			// timeout reaches the sleep, so the client sees EOF at the
			// timeout rather than when the sleep would end.
			d := eof(t, c, 8*time.Second)
			t.Logf("forker: client saw EOF after %v (background sleep 3s, timeout 1s)", d.Round(time.Millisecond))
			if d > 2500*time.Millisecond {
				t.Errorf("forker: EOF after %v, want about 1s (the timeout)", d)
			}
			if l := exitOf(t, "forker"); l.Get("status") != "timeout" {
				t.Errorf("forker: %s, want status=timeout", l)
			}
		})
		t.Run("stubborn", func(t *testing.T) {
			t.Parallel()
			c := dial(t, "stubborn")
			d := eof(t, c, 8*time.Second)
			t.Logf("stubborn: client saw EOF after %v (timeout 1s + kill_delay 1s)", d.Round(time.Millisecond))
			if d < 1500*time.Millisecond || d > 5*time.Second {
				t.Errorf("stubborn: EOF after %v, want about 2s", d)
			}
			if l := exitOf(t, "stubborn"); l.Get("status") != "timeout" || l.Get("code") != "137" {
				t.Errorf("stubborn: %s, want status=timeout code=137 (SIGKILL)", l)
			}
		})
		t.Run("noisy", func(t *testing.T) {
			t.Parallel()
			cpu0, wall0 := relCPU(t, s.Pid), time.Now()
			c := dial(t, "noisy")
			eof(t, c, 8*time.Second)
			l := exitOf(t, "noisy")
			cpu, wall := relCPU(t, s.Pid)-cpu0, time.Since(wall0)
			if l.Get("status") != "timeout" {
				t.Errorf("noisy: %s, want status=timeout", l)
			}
			pid := l.Get("pid")
			var lines, dropped int
			for _, l := range s.snapshot() {
				switch {
				case l.Msg() == "stderr" && l.Get("pid") == pid:
					lines++
				case l.Msg() == "stderr lines dropped" && l.Get("pid") == pid:
					d, _ := strconv.Atoi(l.Get("dropped"))
					dropped += d
				}
			}
			t.Logf("noisy: %d stderr lines logged, %d dropped, in %v; superd CPU %v (%.0f%% of wall)",
				lines, dropped, wall.Round(time.Millisecond), cpu, 100*cpu.Seconds()/wall.Seconds())
			// 100 lines a second per handler: 3 s and a partial window.
			if max := int(100 * (wall.Seconds() + 1)); lines > max {
				t.Errorf("noisy: %d stderr lines in %v, want at most %d", lines, wall, max)
			}
			if dropped == 0 {
				t.Errorf("noisy: no dropped lines counted")
			}
		})
	})
	ok, failures, worst := probe.Stop()
	t.Logf("probe during the faults: %d ok, %d failed, slowest %v", ok, len(failures), worst.Round(time.Millisecond))
	if len(failures) > 0 {
		t.Errorf("probe failed during the faults: %q", failures)
	}

	// Afterwards: nothing left.
	if okS, n, list := relSettled(t, s, base, 10*time.Second); !okS {
		t.Errorf("superd has %d fds (baseline %d) and children %v\nbefore: %v\nafter:  %v", n, base, children(s.Pid), baseList, list)
	}
	if z := zombies(s.Pid); len(z) > 0 {
		t.Errorf("zombies: %v", z)
	}
	text := relMustScrape(t, maddr)
	if a := relMetric(text, "superd_handlers_active"); a != 0 {
		t.Errorf("superd_handlers_active sums to %v, want 0", a)
	}
	for _, st := range []string{"success", "failure", "signal", "timeout"} {
		t.Logf("superd_handler_exits_total{status=%s} = %v", st, relMetric(text, "superd_handler_exits_total", "status", st))
	}
	if n := relMetric(text, "superd_handler_exits_total", "status", "timeout"); n != 5 {
		t.Errorf("%v handler exits with status timeout, want 5 (hang, noread, stubborn, noisy, forker)", n)
	}
}

// TestHostileForkBomb: limits { processes = N } bounds a handler that
// forks in a loop, and the timeout cleans the whole process group up.
func TestHostileForkBomb(t *testing.T) {
	// Not parallel: RLIMIT_NPROC counts every process of the user, and
	// other tests run their handlers as nobody too.
	if !isRoot() {
		t.Skip("needs root: RLIMIT_NPROC only binds a handler running as another user (nobody)")
	}
	const nproc = 24
	// bash, not dash: dash exits at the first failed fork, leaving its
	// children behind, while bash retries; either way the count is bounded.
	s := startSuperd(t, map[string]string{
		"svc.hcl": service("bomb", `listen = ["127.0.0.1:0"]`, userLine,
			`command = `+hclList("/bin/bash", "-c", `echo started $$; while :; do sleep 10 & done`),
			`limits {`, fmt.Sprintf(`  processes = %d`, nproc), `  timeout = "2s"`, `}`),
	})
	nobody, err := user.Lookup(svcUser)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", s.addr("bomb"), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var pid int
	if _, err := fmt.Sscanf(readLine(t, c), "started %d", &pid); err != nil {
		t.Fatalf("bomb: %v", err)
	}
	start := time.Now()
	most := 0
	for time.Since(start) < 1800*time.Millisecond {
		procs := relGroupProcs(pid)
		for _, p := range procs {
			if f := strings.Fields(p); len(f) > 1 && f[1] != nobody.Uid {
				t.Errorf("process %s of the handler's group is not %s", p, svcUser)
			}
		}
		if len(procs) > most {
			most = len(procs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("fork bomb: at most %d processes in the handler's group (processes = %d)", most, nproc)
	if most < 3 {
		t.Errorf("at most %d processes seen in the bomb's group, want it to have forked", most)
	}
	if most > nproc+2 {
		t.Errorf("fork bomb reached %d processes, want at most %d", most, nproc+2)
	}
	if most < 3 {
		t.Errorf("fork bomb reached only %d processes: did it run?", most)
	}
	l := s.mustLog(6*time.Second, "bomb exited", msgIs("handler exited", "service", "bomb"))
	if l.Get("status") != "timeout" {
		t.Errorf("bomb: %s, want status=timeout", l)
	}
	// The timeout's SIGTERM went to the whole process group: every
	// background sleep is gone too, well before their 10 s.
	if !eventually(3*time.Second, func() bool { return len(relGroupProcs(pid)) == 0 }) {
		t.Errorf("processes of the bomb left after the timeout: %v", relGroupProcs(pid))
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("cleanup took %v", d)
	}
	if !eventually(3*time.Second, func() bool { return len(children(s.Pid)) == 0 }) {
		t.Errorf("children left: %v", children(s.Pid))
	}
	if z := zombies(s.Pid); len(z) > 0 {
		t.Errorf("zombies: %v", z)
	}
}

// TestHostilePrivilege: a handler runs as root only if the service says
// so, never gets superd's supplementary groups or any capability, and
// cannot signal superd.
func TestHostilePrivilege(t *testing.T) {
	t.Parallel()
	if !isRoot() {
		t.Skip("needs root: superd switches users only as root")
	}
	superGroups := []uint32{4, 24, 27}
	status := hclList("/bin/cat", "/proc/self/status")
	s := startSuperdOpts(t, map[string]string{
		"svc.hcl": service("nogroups", `listen = ["127.0.0.1:0"]`, userLine, `groups = false`, `command = `+status) +
			service("withgroups", `listen = ["127.0.0.1:0"]`, userLine, `groups = true`, `command = `+status) +
			service("asroot", `listen = ["127.0.0.1:0"]`, `user = "root"`, `command = `+status) +
			service("killer", `listen = ["127.0.0.1:0"]`, userLine,
				`command = `+shCmd(`echo ppid=$PPID; kill -TERM $PPID 2>&1; echo rc=$?; kill -KILL $PPID 2>&1; echo rc=$?`)) +
			service("probe", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`),
	}, runOpts{Setup: func(cmd *exec.Cmd) {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 0, Gid: 0, Groups: superGroups}}
	}})
	own, err := relProcStatus(s.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if got := own["Groups"]; got != "4 24 27" {
		t.Fatalf("superd's own groups = %q, want 4 24 27 (the test's set-up)", got)
	}
	nobody, err := user.Lookup(svcUser)
	if err != nil {
		t.Fatal(err)
	}
	statusOf := func(t *testing.T, svc string) map[string]string {
		t.Helper()
		return relParseStatus(roundTrip(t, "tcp", s.addr(svc), "", false))
	}
	ids := func(v string) []string {
		f := strings.Fields(v)
		sort.Strings(f)
		return f
	}
	all := func(v, want string) bool {
		for _, f := range strings.Fields(v) {
			if f != want {
				return false
			}
		}
		return len(strings.Fields(v)) > 0
	}
	checkNobody := func(t *testing.T, st map[string]string) {
		t.Helper()
		if !all(st["Uid"], nobody.Uid) {
			t.Errorf("Uid (real, effective, saved, fs) = %q, want all %s", st["Uid"], nobody.Uid)
		}
		if !all(st["Gid"], nobody.Gid) {
			t.Errorf("Gid (real, effective, saved, fs) = %q, want all %s", st["Gid"], nobody.Gid)
		}
		for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapAmb"} {
			if st[k] != "0000000000000000" {
				t.Errorf("%s = %q, want none", k, st[k])
			}
		}
		if !relHexRE.MatchString(st["CapBnd"]) {
			t.Errorf("CapBnd = %q", st["CapBnd"])
		}
	}
	t.Run("groups=false", func(t *testing.T) {
		st := statusOf(t, "nogroups")
		checkNobody(t, st)
		if g := st["Groups"]; g != "" {
			t.Errorf("Groups = %q, want none (superd has 4 24 27)", g)
		}
		t.Logf("nobody handler: Uid %q Gid %q Groups %q CapEff %s CapBnd %s (the bounding set is not reduced: it limits nothing a non-root process could gain without a setuid/file-capability binary)",
			st["Uid"], st["Gid"], st["Groups"], st["CapEff"], st["CapBnd"])
	})
	t.Run("groups=true", func(t *testing.T) {
		st := statusOf(t, "withgroups")
		checkNobody(t, st)
		want, err := nobody.GroupIds()
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, nobody.Gid) // initgroups: the primary group too
		wantSet := map[string]bool{}
		for _, g := range want {
			wantSet[g] = true
		}
		var w []string
		for g := range wantSet {
			w = append(w, g)
		}
		sort.Strings(w)
		if got := ids(st["Groups"]); strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("Groups = %q, want nobody's own %q (never superd's 4 24 27)", got, w)
		}
	})
	t.Run("user=root", func(t *testing.T) {
		st := statusOf(t, "asroot")
		if !all(st["Uid"], "0") {
			t.Errorf("Uid = %q, want 0 (user = \"root\")", st["Uid"])
		}
		if strings.Contains(" "+st["Groups"]+" ", " 27 ") {
			t.Errorf("Groups = %q: superd's groups leaked into a root handler", st["Groups"])
		}
		out, errOut, code := runSuperd(t, 20*time.Second, "check", "-config", s.Dir)
		if code != 0 || !strings.Contains(out+errOut, `service "asroot": handlers run as root`) {
			t.Errorf("superd check: exit %d, want 0 with a warning about asroot\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
	})
	t.Run("signal superd", func(t *testing.T) {
		out := roundTrip(t, "tcp", s.addr("killer"), "", false)
		t.Logf("handler said: %q", out)
		if !strings.Contains(out, fmt.Sprintf("ppid=%d\n", s.Pid)) {
			t.Errorf("handler's parent is not superd (%d): %q", s.Pid, out)
		}
		if strings.Contains(out, "rc=0") || !strings.Contains(strings.ToLower(out), "not permitted") {
			t.Errorf("kill of superd from a nobody handler: %q, want EPERM", out)
		}
		time.Sleep(200 * time.Millisecond)
		if s.exited() {
			t.Fatalf("superd exited after a handler signalled it")
		}
		if got := roundTrip(t, "tcp", s.addr("probe"), "alive", true); got != "alive" {
			t.Errorf("probe after the kill attempt: %q", got)
		}
	})
}
