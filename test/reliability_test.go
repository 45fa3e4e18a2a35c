package test

// Reliability under hostile load: connection floods, descriptor
// exhaustion, UDP floods and configuration races. See RELIABILITY.md for
// what each test shows and the figures measured.

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestReliabilityFlood floods one service from a denied source and
// another far above its instances limit, while a probe client on a third
// service must succeed every time; superd's memory, its counters and its
// log stay bounded, and every connection is accounted for.
func TestReliabilityFlood(t *testing.T) {
	t.Parallel()
	const (
		deniedN  = 2000
		busyN    = 500
		workers  = 32
		maxGrowK = 100 << 10 // KiB of RSS growth allowed
	)
	s := startSuperd(t, map[string]string{
		"00-daemon.hcl": relDaemon,
		"svc.hcl": service("denied", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`,
			`access {`, `  allow = ["127.0.0.1"]`, `  deny_message = "no\r\n"`, `}`) +
			service("busy", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo hi"),
				`limits {`, `  instances = 4`, `}`) +
			service("probe", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`),
	})
	maddr := relMetricsAddr(t, s)
	// Warm up, then take the baseline.
	for range 5 {
		if got, err := relTry(s.addr("probe"), "warm"); err != nil || got != "warm" {
			t.Fatalf("probe before the flood: %q, %v", got, err)
		}
	}
	relMustScrape(t, maddr)
	rss0 := relRSS(t, s.Pid)
	lines0 := len(s.snapshot())

	probe := relStartProber(s.addr("probe"), "ping", "ping", 5*time.Millisecond)
	start := time.Now()
	var (
		denyGot, denyOther, dialErr atomic.Int64
		busyServed, busyRefused     atomic.Int64
		maxRSS                      atomic.Int64
	)
	sampleDone := make(chan struct{})
	go func() { // sample RSS while the flood runs
		defer close(sampleDone)
		for !probeStopped(probe) {
			if st, err := relProcStatus(s.Pid); err == nil {
				var kb int64
				fmt.Sscanf(st["VmRSS"], "%d", &kb)
				if kb > maxRSS.Load() {
					maxRSS.Store(kb)
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	jobs := make(chan string, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for kind := range jobs {
				var src string
				if kind == "denied" {
					src = "127.0.0.2"
				} else {
					src = "127.0.0.1"
				}
				d := net.Dialer{Timeout: ioTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
				c, err := d.Dial("tcp", s.addr(kind))
				if err != nil {
					dialErr.Add(1)
					continue
				}
				c.SetDeadline(time.Now().Add(ioTimeout))
				b, _ := io.ReadAll(c)
				c.Close()
				switch {
				case kind == "denied" && string(b) == "no\r\n":
					denyGot.Add(1)
				case kind == "denied":
					denyOther.Add(1)
				case string(b) == "hi\n":
					busyServed.Add(1)
				default:
					busyRefused.Add(1)
				}
			}
		}()
	}
	for i := range deniedN + busyN {
		// Interleave: one busy connection for every four denied ones.
		if i%5 == 4 && i/5 < busyN {
			jobs <- "busy"
		} else {
			jobs <- "denied"
		}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	ok, failures, worst := probe.Stop()
	<-sampleDone

	t.Logf("flood: %d denied + %d over-limit connections in %v (%.0f conn/s); deny_message received %d, other %d, dial errors %d; busy served %d, refused %d",
		deniedN, busyN, elapsed.Round(time.Millisecond), float64(deniedN+busyN)/elapsed.Seconds(),
		denyGot.Load(), denyOther.Load(), dialErr.Load(), busyServed.Load(), busyRefused.Load())
	t.Logf("probe during the flood: %d ok, %d failed, slowest %v", ok, len(failures), worst.Round(time.Millisecond))
	if len(failures) > 0 || ok == 0 {
		t.Errorf("probe client on another service failed %d times (ok %d) during the flood: %q", len(failures), ok, failures)
	}
	if n := dialErr.Load(); n > 0 {
		t.Errorf("%d connections could not be made", n)
	}
	if n := denyGot.Load(); n != deniedN {
		t.Errorf("%d of %d denied clients got the deny_message (others %d)", n, deniedN, denyOther.Load())
	}

	// Every connection is accounted for, once the handlers are gone.
	var text string
	settled := eventually(10*time.Second, func() bool {
		text, _ = relScrape(maddr)
		return relMetric(text, "superd_handlers_active") == 0 &&
			relMetric(text, "superd_handler_exits_total", "service", "busy") == relMetric(text, "superd_connections_total", "service", "busy", "result", "accepted")
	})
	if !settled {
		t.Errorf("handlers still active 10s after the flood")
	}
	acl := relMetric(text, "superd_connections_total", "service", "denied", "result", "acl")
	acc := relMetric(text, "superd_connections_total", "service", "busy", "result", "accepted")
	inst := relMetric(text, "superd_connections_total", "service", "busy", "result", "instances")
	t.Logf("metrics: denied acl=%v; busy accepted=%v instances=%v; refusals/s %.0f", acl, acc, inst, (acl+inst)/elapsed.Seconds())
	if acl != deniedN {
		t.Errorf("superd_connections_total{service=denied,result=acl} = %v, want %d", acl, deniedN)
	}
	if acc+inst != busyN {
		t.Errorf("busy: accepted %v + instances %v = %v, want %d (every connection counted once)", acc, inst, acc+inst, busyN)
	}
	if inst == 0 {
		t.Errorf("busy: no instances refusal counted: the flood did not exceed the limit")
	}
	if int64(acc) != busyServed.Load() {
		t.Errorf("busy: %v accepted by superd, %d clients served", acc, busyServed.Load())
	}

	// Memory.
	rss1 := relRSS(t, s.Pid)
	t.Logf("superd VmRSS: before %d KiB, peak during flood %d KiB, after %d KiB (+%d KiB)", rss0, maxRSS.Load(), rss1, rss1-rss0)
	if g := int(maxRSS.Load()) - rss0; g > maxGrowK {
		t.Errorf("superd RSS grew by %d KiB during the flood, want < %d", g, maxGrowK)
	}

	// The log: refusal lines bounded, the rest is one line per handler.
	relRefusalLinesBounded(t, s, time.Since(start))
	lines := s.snapshot()[lines0:]
	exits, other := 0, 0
	for _, l := range lines {
		switch l.Msg() {
		case "handler exited":
			exits++
		case "refused", "refusals suppressed":
			other++
		default:
			if !(l.Msg() == "stderr" && l.Get("service") == "probe") {
				other++
			}
		}
	}
	t.Logf("log during the flood: %d lines, %d of them handler exits, %d other", len(lines), exits, other)
	if other > 30 {
		t.Errorf("%d log lines other than handler exits during a %d-connection flood, want a bounded few", other, deniedN+busyN)
	}

	// Still serving.
	if got, err := relTry(s.addr("probe"), "after"); err != nil || got != "after" {
		t.Errorf("probe after the flood: %q, %v", got, err)
	}
}

// probeStopped reports whether p has been stopped.
func probeStopped(p *relProber) bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// TestReliabilityFDExhaustion runs superd with RLIMIT_NOFILE 64 and holds
// more connections open than it has descriptors: accept fails with
// EMFILE. superd must back off rather than spin, and serve again by itself
// once descriptors are free.
func TestReliabilityFDExhaustion(t *testing.T) {
	// Not parallel: it measures superd's CPU time.
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit(1) (util-linux) not found: cannot start superd with a low RLIMIT_NOFILE")
	}
	const nofile = 64
	s := startSuperdOpts(t, map[string]string{
		"svc.hcl": service("cat", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`,
			`limits {`, `  instances = 0`, `}`),
	}, runOpts{Setup: func(cmd *exec.Cmd) {
		cmd.Args = append([]string{"prlimit", fmt.Sprintf("--nofile=%d:%d", nofile, nofile), superdBin}, cmd.Args[1:]...)
		cmd.Path = prlimit
	}})
	st, err := relProcStatus(s.Pid)
	if err != nil || !strings.Contains(st["Name"], "superd") {
		t.Fatalf("pid %d is %q (%v), want superd itself (prlimit execs it)", s.Pid, st["Name"], err)
	}
	if got, err := relTry(s.addr("cat"), "x"); err != nil || got != "x" {
		t.Fatalf("before exhaustion: %q, %v", got, err)
	}
	if !eventually(5*time.Second, func() bool { return len(children(s.Pid)) == 0 }) {
		t.Fatalf("children before exhaustion: %v", children(s.Pid))
	}
	base, _ := fdCount(t, s.Pid)

	// Each running cat holds two descriptors in superd (the ends of its
	// stderr pipe): far more clients than the limit exhaust superd's
	// table. Then either accept fails (EMFILE) or, with one descriptor
	// left, the connection is accepted and the spawn fails for want of a
	// pipe: both must back off.
	var clients []net.Conn
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for range 2 * nofile {
		c, err := net.DialTimeout("tcp", s.addr("cat"), ioTimeout)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		clients = append(clients, c)
	}
	s.mustLog(10*time.Second, "accept or spawn error EMFILE", func(l logLine) bool {
		return (l.Msg() == "accept" || l.Msg() == "refused" && l.Get("reason") == "spawn_error") &&
			strings.Contains(l.Get("error"), "too many open files")
	})
	n, _ := fdCount(t, s.Pid)
	cpu0, wall0 := relCPU(t, s.Pid), time.Now()
	time.Sleep(2 * time.Second)
	cpu, wall := relCPU(t, s.Pid)-cpu0, time.Since(wall0)
	t.Logf("exhausted: superd holds %d fds (limit %d, idle %d), %d handlers; CPU %v in %v wall (%.1f%%)",
		n, nofile, base, len(children(s.Pid)), cpu, wall.Round(time.Millisecond), 100*cpu.Seconds()/wall.Seconds())
	if cpu.Seconds() > 0.3*wall.Seconds() {
		t.Errorf("superd used %v CPU in %v while out of descriptors: spinning on accept", cpu, wall)
	}
	t.Logf("log lines so far: %d accept back-offs, %d spawn failures", relCountLog(s, msgIs("accept")), relCountLog(s, msgIs("refused", "reason", "spawn_error")))
	if l, ok := s.waitLog(0, msgIs("refused", "reason", "spawn_error")); ok {
		t.Logf("e.g. %s", l)
	}

	// Free the descriptors: every cat sees EOF and exits.
	for _, c := range clients {
		c.Close()
	}
	clients = nil
	freed := time.Now()
	var got string
	served := eventually(10*time.Second, func() bool {
		got, err = relTry(s.addr("cat"), "again")
		return err == nil && got == "again"
	})
	if !served {
		t.Fatalf("not served 10s after descriptors were freed: %q, %v", got, err)
	}
	t.Logf("served again %v after the clients closed", time.Since(freed).Round(time.Millisecond))
	if ok, n, list := relSettled(t, s, base, 10*time.Second); !ok {
		t.Errorf("after recovery superd has %d fds (idle %d) and children %v\n%s", n, base, children(s.Pid), strings.Join(list, "\n"))
	}
	if z := zombies(s.Pid); len(z) > 0 {
		t.Errorf("zombies: %v", z)
	}
}

// TestReliabilityUDPFlood floods a UDP echo builtin and a rate-limited UDP
// /bin/cat service; superd stays responsive, answers no reserved source
// port, and keeps the number of handler processes bounded.
func TestReliabilityUDPFlood(t *testing.T) {
	t.Parallel()
	const (
		echoN = 5000
		catN  = 2000
		inst  = 8
	)
	s := startSuperd(t, map[string]string{
		"00-daemon.hcl": relDaemon,
		"svc.hcl": service("uecho", `protocol = "udp"`, `builtin = "echo"`, `listen = ["127.0.0.1:0"]`) +
			service("ucat", `protocol = "udp"`, `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`,
				`limits {`, `  rate = "50/s"`, fmt.Sprintf(`  instances = %d`, inst), `  timeout = "5s"`, `}`) +
			service("probe", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`),
	})
	maddr := relMetricsAddr(t, s)
	if got, err := udpTry(s.addr("uecho"), "warm"); err != nil || got != "warm" {
		t.Fatalf("udp echo before the flood: %q, %v", got, err)
	}
	rss0 := relRSS(t, s.Pid)
	probe := relStartProber(s.addr("probe"), "ping", "ping", 20*time.Millisecond)

	// The flood: echo datagrams, and datagrams that each want a handler.
	maxKids := 0
	stopSample := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n := len(serviceChildren(s.Pid, "ucat")); n > maxKids {
				maxKids = n
			}
			select {
			case <-stopSample:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	flood := func(addr string, n int) {
		c, err := net.Dial("udp4", addr)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		payload := []byte(strings.Repeat("x", 64))
		for i := range n {
			c.Write(payload)
			if i%200 == 199 {
				time.Sleep(time.Millisecond) // let the receive buffer drain a little
			}
		}
	}
	// A datagram from a client whose handler still runs goes to that
	// handler's connected reply socket, not to superd: the handler flood
	// comes from many source ports, two datagrams each.
	floodPorts := func(addr string, n int) {
		for range n / 2 {
			flood(addr, 2)
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); flood(s.addr("uecho"), echoN) }()
	go func() { defer wg.Done(); floodPorts(s.addr("ucat"), catN) }()
	wg.Wait()
	sent := time.Since(start)
	// An honest client is still answered at once.
	// (UDP: a datagram may be lost while the socket buffer is full, so
	// a few tries, each waiting 500 ms.)
	echoStart := time.Now()
	var echoErr error
	tries := 0
	for range 5 {
		tries++
		var got string
		if got, echoErr = relUDPTry(s.addr("uecho"), "fine", 500*time.Millisecond); echoErr == nil && got == "fine" {
			break
		}
	}
	if echoErr != nil {
		t.Errorf("udp echo right after the flood: %v", echoErr)
	}
	t.Logf("udp echo after the flood answered in %v (%d tries)", time.Since(echoStart).Round(time.Millisecond), tries)
	time.Sleep(500 * time.Millisecond)
	close(stopSample)
	<-sampled
	ok, failures, worst := probe.Stop()
	t.Logf("udp flood: %d echo + %d cat datagrams sent in %v; probe %d ok, %d failed, slowest %v; at most %d ucat handler processes",
		echoN, catN, sent.Round(time.Millisecond), ok, len(failures), worst.Round(time.Millisecond), maxKids)
	if len(failures) > 0 {
		t.Errorf("tcp probe failed during the udp flood: %q", failures)
	}
	if maxKids > inst {
		t.Errorf("%d ucat handler processes during the flood, want at most %d (instances = %d)", maxKids, inst, inst)
	}

	t.Run("reserved source port", func(t *testing.T) {
		if !isRoot() {
			t.Skip("needs root: binding a UDP source port below 1024")
		}
		var c *net.UDPConn
		for p := 999; p > 900 && c == nil; p-- {
			c, _ = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		}
		if c == nil {
			t.Skip("no free UDP port in 901-999")
		}
		defer c.Close()
		for _, svc := range []string{"uecho", "ucat"} {
			ra, _ := net.ResolveUDPAddr("udp", s.addr(svc))
			for range 20 {
				c.WriteToUDP([]byte("storm"), ra)
			}
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		if n, from, err := c.ReadFromUDP(make([]byte, 100)); err == nil {
			t.Errorf("got a %d-byte reply from %s to datagrams from port %d", n, from, c.LocalAddr().(*net.UDPAddr).Port)
		}
		// Unanswered, but counted.
		for _, svc := range []string{"uecho", "ucat"} {
			var got float64
			if !eventually(5*time.Second, func() bool {
				text, _ := relScrape(maddr)
				got = relMetric(text, "superd_datagrams_ignored_total", "service", svc)
				return got == 20
			}) {
				t.Errorf("superd_datagrams_ignored_total{service=%q} = %v, want 20", svc, got)
			}
		}
	})

	var text string
	eventually(10*time.Second, func() bool {
		text, _ = relScrape(maddr)
		return relMetric(text, "superd_handlers_active") == 0
	})
	echoAcc := relMetric(text, "superd_connections_total", "service", "uecho", "result", "accepted")
	catAcc := relMetric(text, "superd_connections_total", "service", "ucat", "result", "accepted")
	catRate := relMetric(text, "superd_connections_total", "service", "ucat", "result", "rate")
	catInst := relMetric(text, "superd_connections_total", "service", "ucat", "result", "instances")
	elapsed := time.Since(start)
	t.Logf("metrics: uecho accepted %v of %d (the rest lost in socket buffers); ucat accepted %v, refused rate %v, instances %v of %d; RSS %d -> %d KiB",
		echoAcc, echoN, catAcc, catRate, catInst, catN, rss0, relRSS(t, s.Pid))
	if a := relMetric(text, "superd_handlers_active"); a != 0 {
		t.Errorf("superd_handlers_active = %v 10s after the flood, want 0", a)
	}
	// 50/s: a full bucket of 50 plus 50 a second.
	if max := 50 + 50*elapsed.Seconds() + 5; catAcc > max {
		t.Errorf("ucat started %v handlers in %v, want at most %.0f (rate 50/s)", catAcc, elapsed, max)
	}
	if catRate+catInst == 0 {
		t.Errorf("no ucat refusal counted")
	}
	if g := relRSS(t, s.Pid) - rss0; g > 100<<10 {
		t.Errorf("superd RSS grew by %d KiB", g)
	}
	relRefusalLinesBounded(t, s, elapsed)
	if !eventually(5*time.Second, func() bool { return len(children(s.Pid)) == 0 }) {
		t.Errorf("children left: %v", children(s.Pid))
	}
	if z := zombies(s.Pid); len(z) > 0 {
		t.Errorf("zombies: %v", z)
	}
}

// relHUP sends SIGHUP and returns the msg of the next "reloaded" or
// "reload failed" line, with that line.
func relHUP(t *testing.T, s *superd) logLine {
	t.Helper()
	isReload := func(l logLine) bool { return l.Msg() == "reloaded" || l.Msg() == "reload failed" }
	before := relCountLog(s, isReload)
	s.Signal(syscall.SIGHUP)
	var last logLine
	if !eventually(10*time.Second, func() bool {
		n := 0
		for _, l := range s.snapshot() {
			if isReload(l) {
				n++
				last = l
			}
		}
		return n > before
	}) {
		t.Fatalf("no reloaded / reload failed line within 10s of SIGHUP")
	}
	return last
}

// TestReliabilityConfigRace changes a configuration file under a running
// superd in ways an attacker with a foothold might (group-writable, a
// symlink to a group-writable file, a FIFO): every reload is refused and
// the old configuration keeps serving.
func TestReliabilityConfigRace(t *testing.T) {
	t.Parallel()
	good := service("a", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`)
	evil := good + service("evil", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`)
	s := startSuperd(t, map[string]string{"svc.hcl": good})
	file := filepath.Join(s.Dir, "svc.hcl")
	aAddr := s.addr("a")
	serving := func(t *testing.T) {
		t.Helper()
		if got, err := relTry(aAddr, "still"); err != nil || got != "still" {
			t.Errorf("old configuration not serving: %q, %v", got, err)
		}
	}
	noEvil := func(t *testing.T) {
		t.Helper()
		if n := relCountLog(s, msgIs("listening", "service", "evil")); n > 0 {
			t.Errorf("service evil from a refused file is listening")
		}
	}
	refused := func(t *testing.T, what string) {
		t.Helper()
		l := relHUP(t, s)
		if l.Msg() != "reload failed" {
			t.Fatalf("%s: SIGHUP gave %s, want reload failed", what, l)
		}
		t.Logf("%s: %s", what, l.Get("error"))
		serving(t)
		noEvil(t)
	}

	// Steps run in order: each leaves the file as the next expects.
	t.Run("group-writable file", func(t *testing.T) {
		if err := os.WriteFile(file, []byte(evil), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(file, 0o664); err != nil {
			t.Fatal(err)
		}
		refused(t, "chmod 0664")
		if l := relHUP(t, s); !strings.Contains(l.Get("error"), "0664") || !strings.Contains(l.Get("error"), "svc.hcl") {
			t.Errorf("reload failed message %q does not name the file and its mode", l.Get("error"))
		}
		if err := os.WriteFile(file, []byte(good), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(file, 0o644); err != nil {
			t.Fatal(err)
		}
		if l := relHUP(t, s); l.Msg() != "reloaded" {
			t.Fatalf("after chmod 0644: %s, want reloaded", l)
		}
		serving(t)
	})
	t.Run("symlink to a group-writable file", func(t *testing.T) {
		target := filepath.Join(t.TempDir(), "evil.hcl")
		if err := os.WriteFile(target, []byte(evil), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(target, 0o664); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(s.Dir, ".swap")
		if err := os.Symlink(target, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil { // atomic replace
			t.Fatal(err)
		}
		refused(t, "symlink to 0664")
		// The same link to a file that passes is read: the refusal was
		// about the target's mode, not about symlinks.
		if err := os.Chmod(target, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, []byte(good), 0o644); err != nil {
			t.Fatal(err)
		}
		if l := relHUP(t, s); l.Msg() != "reloaded" {
			t.Errorf("symlink to a 0644 file: %s, want reloaded", l)
		}
		serving(t)
	})
	t.Run("group-writable directory of the target", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o775); err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(dir, "evil.hcl")
		if err := os.WriteFile(target, []byte(evil), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Remove(file)
		if err := os.Symlink(target, file); err != nil {
			t.Fatal(err)
		}
		refused(t, "symlink into a 0775 directory")
	})
	t.Run("fifo", func(t *testing.T) {
		os.Remove(file)
		if err := syscall.Mkfifo(file, 0o644); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		refused(t, "fifo")
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("reload with a FIFO took %v: it blocked", d)
		}
	})
	t.Run("restore", func(t *testing.T) {
		os.Remove(file)
		if err := os.WriteFile(file, []byte(good), 0o644); err != nil {
			t.Fatal(err)
		}
		if l := relHUP(t, s); l.Msg() != "reloaded" {
			t.Errorf("restored file: %s, want reloaded", l)
		}
		serving(t)
	})
}
