package test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// h2NotifyMsg is one sd_notify datagram received by the test.
type h2NotifyMsg struct {
	At   time.Time
	Text string
}

// has reports whether the datagram has the line (KEY=VALUE) exactly.
func (m h2NotifyMsg) has(line string) bool {
	for _, l := range strings.Split(m.Text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

// get returns the value of KEY in the datagram.
func (m h2NotifyMsg) get(key string) (string, bool) {
	for _, l := range strings.Split(m.Text, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// h2NotifySocket is the test's end of NOTIFY_SOCKET.
type h2NotifySocket struct {
	t    *testing.T
	Path string
	conn *net.UnixConn
	ch   chan h2NotifyMsg
}

func h2ListenNotify(t *testing.T) *h2NotifySocket {
	t.Helper()
	dir, err := os.MkdirTemp("", "sdn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := filepath.Join(dir, "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: p, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen unixgram %s: %v", p, err)
	}
	n := &h2NotifySocket{t: t, Path: p, conn: c, ch: make(chan h2NotifyMsg, 1024)}
	go func() {
		defer close(n.ch)
		buf := make([]byte, 4096)
		for {
			k, _, err := c.ReadFromUnix(buf)
			if err != nil {
				return
			}
			select {
			case n.ch <- h2NotifyMsg{At: time.Now(), Text: string(buf[:k])}:
			default: // the test stopped reading
			}
		}
	}()
	t.Cleanup(func() { c.Close() })
	return n
}

// next returns the next datagram matching pred within d, and every
// datagram received before it (skipped).
func (n *h2NotifySocket) next(d time.Duration, what string, pred func(h2NotifyMsg) bool) (h2NotifyMsg, []h2NotifyMsg) {
	n.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	var skipped []h2NotifyMsg
	for {
		select {
		case m, ok := <-n.ch:
			if !ok {
				n.t.Fatalf("notify socket closed while waiting for %s", what)
			}
			if pred(m) {
				return m, skipped
			}
			skipped = append(skipped, m)
		case <-timer.C:
			n.t.Fatalf("no sd_notify datagram %s within %v; got %q", what, d, skipped)
		}
	}
}

func h2IsWatchdog(m h2NotifyMsg) bool { return m.has("WATCHDOG=1") }

// notWatchdog is the next datagram that is not a watchdog ping.
func (n *h2NotifySocket) notWatchdog(d time.Duration, what string) h2NotifyMsg {
	n.t.Helper()
	m, _ := n.next(d, what, func(m h2NotifyMsg) bool { return !h2IsWatchdog(m) })
	return m
}

// h2WithoutEnv removes the variables named from cmd's environment.
func h2WithoutEnv(cmd *exec.Cmd, names ...string) {
	var env []string
	for _, kv := range cmd.Env {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, n := range names {
			if k == n {
				drop = true
			}
		}
		if !drop {
			env = append(env, kv)
		}
	}
	cmd.Env = env
}

func h2MonotonicUsec(t *testing.T) int64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Sec*1e6 + ts.Nsec/1e3
}

func TestNotifySocketLifecycle(t *testing.T) {
	t.Parallel()
	n := h2ListenNotify(t)
	addr := h2FreeAddr(t)
	s := startSuperdOpts(t, map[string]string{
		"svc.hcl": service("hi", `listen = [`+strconv.Quote(addr)+`]`, userLine, `command = `+shCmd("echo hi")) +
			service("u", `protocol = "udp"`, `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`),
	}, runOpts{
		NoReady: true,
		Env:     []string{"NOTIFY_SOCKET=" + n.Path, "WATCHDOG_USEC=400000"},
		// go-systemd's SdWatchdogEnabled ignores WATCHDOG_USEC unless
		// WATCHDOG_PID is unset or superd's own pid.
		Setup: func(cmd *exec.Cmd) { h2WithoutEnv(cmd, "WATCHDOG_PID", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES") },
	})

	// READY=1 comes first, with a STATUS=, once every socket is bound:
	// a client connecting right then is served.
	ready := n.notWatchdog(10*time.Second, "READY=1 at start-up")
	if !ready.has("READY=1") {
		t.Fatalf("first datagram %q, want READY=1", ready.Text)
	}
	if st, ok := ready.get("STATUS"); !ok || st == "" {
		t.Errorf("READY=1 datagram %q has no STATUS= line", ready.Text)
	}
	if got, err := h2Fetch("", addr, ""); err != nil || got != "hi\n" {
		t.Errorf("client right after READY=1: %q, %v; want hi", got, err)
	}
	if _, ok := s.waitLog(5*time.Second, msgIs("ready")); !ok {
		t.Errorf("no ready log line")
	}

	// WATCHDOG=1 every half WATCHDOG_USEC (200 ms): at least 2 in a second.
	start := time.Now()
	wd := 0
	for time.Since(start) < 1100*time.Millisecond && wd < 2 {
		m, skipped := n.next(2*time.Second, "WATCHDOG=1", h2IsWatchdog)
		if len(skipped) > 0 {
			t.Errorf("unexpected datagrams while idle: %q", skipped)
		}
		if st, ok := m.get("STATUS"); !ok || st == "" {
			t.Errorf("watchdog datagram %q without STATUS=", m.Text)
		}
		wd++
	}
	if wd < 2 {
		t.Errorf("%d WATCHDOG=1 datagrams in %v, want >= 2 (WATCHDOG_USEC=400000)", wd, time.Since(start))
	}

	// SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1.
	s.Signal(syscall.SIGHUP)
	m := n.notWatchdog(10*time.Second, "RELOADING=1")
	now := h2MonotonicUsec(t)
	if !m.has("RELOADING=1") {
		t.Fatalf("after SIGHUP got %q, want RELOADING=1", m.Text)
	}
	v, ok := m.get("MONOTONIC_USEC")
	usec, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil {
		t.Errorf("RELOADING=1 datagram %q: MONOTONIC_USEC missing or not a number", m.Text)
	} else if d := now - usec; d < 0 || d > 5e6 {
		t.Errorf("MONOTONIC_USEC=%d, CLOCK_MONOTONIC is %d µs now (difference %d µs), want it close and not ahead", usec, now, d)
	}
	m = n.notWatchdog(10*time.Second, "READY=1 after a reload")
	if !m.has("READY=1") {
		t.Errorf("after RELOADING=1 got %q, want READY=1", m.Text)
	}
	if st, _ := m.get("STATUS"); strings.Contains(st, "fail") {
		t.Errorf("good reload: STATUS=%q", st)
	}
	s.mustLog(5*time.Second, "reloaded", msgIs("reloaded"))

	// A broken configuration: RELOADING=1, then READY=1 with STATUS=reload failed…
	h2WriteConf(t, s, "zz-broken.hcl", service("broken", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`, `no_such_attribute = 1`))
	s.Signal(syscall.SIGHUP)
	m = n.notWatchdog(10*time.Second, "RELOADING=1 (broken config)")
	if !m.has("RELOADING=1") {
		t.Fatalf("after SIGHUP got %q, want RELOADING=1", m.Text)
	}
	m = n.notWatchdog(10*time.Second, "READY=1 after a failed reload")
	if !m.has("READY=1") {
		t.Errorf("after a failed reload got %q, want READY=1", m.Text)
	}
	if st, _ := m.get("STATUS"); !strings.HasPrefix(st, "reload failed") {
		t.Errorf("failed reload: STATUS=%q, want \"reload failed…\"", st)
	}
	s.mustLog(5*time.Second, "reload failed", msgIs("reload failed"))
	if got, err := h2Fetch("", addr, ""); err != nil || got != "hi\n" {
		t.Errorf("client after a failed reload: %q, %v; want hi", got, err)
	}

	// SIGTERM: STOPPING=1.
	s.Signal(syscall.SIGTERM)
	n.next(10*time.Second, "STOPPING=1", func(m h2NotifyMsg) bool { return m.has("STOPPING=1") })
	if !s.Wait(10 * time.Second) {
		t.Fatalf("superd did not exit after SIGTERM")
	}
}

// TestNotifyWatchdogOtherPid: WATCHDOG_PID naming another process turns
// the watchdog off (sd_watchdog_enabled(3)).
func TestNotifyWatchdogOtherPid(t *testing.T) {
	t.Parallel()
	n := h2ListenNotify(t)
	startSuperdOpts(t, map[string]string{
		"svc.hcl": service("c", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`),
	}, runOpts{
		NoReady: true,
		Env:     []string{"NOTIFY_SOCKET=" + n.Path, "WATCHDOG_USEC=200000", "WATCHDOG_PID=1"},
	})
	n.next(10*time.Second, "READY=1", func(m h2NotifyMsg) bool { return m.has("READY=1") })
	timer := time.After(600 * time.Millisecond)
	for {
		select {
		case m := <-n.ch:
			if h2IsWatchdog(m) {
				t.Fatalf("got %q with WATCHDOG_PID=1 (not superd)", m.Text)
			}
		case <-timer:
			return
		}
	}
}

// h2SocketActivate runs superd under systemd-socket-activate with extra
// options (-l ADDR, -d) before the command. It returns once superd has
// been started (systemd-socket-activate execs it on the first client),
// which the caller triggers.
func h2SocketActivate(t *testing.T, files map[string]string, opts ...string) *superd {
	t.Helper()
	ssa, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate not installed (Debian package systemd): skipping socket activation tests")
	}
	return startSuperdOpts(t, files, runOpts{
		NoReady: true,
		Setup: func(cmd *exec.Cmd) {
			h2WithoutEnv(cmd, "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
			cmd.Path = ssa
			cmd.Args = append(append([]string{ssa}, opts...), cmd.Args...)
		},
	})
}

// h2WaitReadyActivated waits for superd's ready line and fills s.Addr.
func h2WaitReadyActivated(t *testing.T, s *superd) {
	t.Helper()
	if _, ok := s.waitLog(10*time.Second, msgIs("ready")); !ok {
		t.Fatalf("superd under systemd-socket-activate did not log ready (exited: %v)\n%s", s.exited(), s.logText())
	}
	for _, l := range s.snapshot() {
		if l.Msg() == "listening" {
			s.Addr[l.Get("service")] = append(s.Addr[l.Get("service")], l.Get("addr"))
		}
	}
}

// h2NoBindErrors fails on log lines that speak of binding or start-up errors.
func h2NoBindErrors(t *testing.T, s *superd) {
	t.Helper()
	for _, l := range s.snapshot() {
		low := strings.ToLower(l.Raw)
		if l.Msg() == "start failed" || strings.Contains(low, "address already in use") || strings.Contains(low, "unusable") {
			t.Errorf("log line %s", l)
		}
	}
}

func TestActivationInheritedStream(t *testing.T) {
	t.Parallel()
	addr := h2FreeAddr(t)
	unmatched := h2FreeAddr(t)
	for unmatched == addr {
		unmatched = h2FreeAddr(t)
	}
	s := h2SocketActivate(t, map[string]string{
		"svc.hcl": service("act", `listen = [`+strconv.Quote(addr)+`]`, userLine, `command = `+shCmd("echo activated")),
	}, "-l", addr, "-l", unmatched)

	// systemd-socket-activate starts superd on the first connection; that
	// client waits in the inherited socket's backlog and must be served.
	var got string
	var ferr error
	if !eventually(5*time.Second, func() bool {
		got, ferr = h2Fetch("", addr, "")
		return ferr == nil || !strings.Contains(ferr.Error(), "refused")
	}) {
		t.Fatalf("systemd-socket-activate never listened on %s: %v", addr, ferr)
	}
	h2WaitReadyActivated(t, s)
	if ferr != nil || got != "activated\n" {
		t.Errorf("first client (the one that started superd): %q, %v; want activated", got, ferr)
	}
	if a := s.Addr["act"]; len(a) != 1 || a[0] != addr {
		t.Errorf("listening addresses of act = %q, want [%s]", a, addr)
	}
	if got, err := h2Fetch("", addr, ""); err != nil || got != "activated\n" {
		t.Errorf("second client: %q, %v; want activated", got, err)
	}
	h2NoBindErrors(t, s)

	// The unmatched socket is logged and closed.
	s.mustLog(5*time.Second, "unmatched inherited socket", func(l logLine) bool {
		return strings.Contains(l.Msg(), "inherited socket") && l.Get("addr") == unmatched
	})
	if refused, err := h2Refused(unmatched); !refused {
		t.Errorf("connect to the unmatched inherited socket %s: not refused (%v)", unmatched, err)
	}

	// The inherited socket is kept across a reload.
	s.h2HupAndWait("reloaded")
	if got, err := h2Fetch("", addr, ""); err != nil || got != "activated\n" {
		t.Errorf("client after a reload: %q, %v; want activated", got, err)
	}
	h2NoBindErrors(t, s)
}

func TestActivationInheritedDatagram(t *testing.T) {
	t.Parallel()
	addr := h2FreeAddr(t)
	bAddr := h2FreeAddr(t)
	for bAddr == addr {
		bAddr = h2FreeAddr(t)
	}
	s := h2SocketActivate(t, map[string]string{
		"svc.hcl": service("ucat", `protocol = "udp"`, `listen = [`+strconv.Quote(addr)+`]`, userLine, `command = ["/bin/cat"]`) +
			service("uecho", `protocol = "udp"`, `builtin = "echo"`, `listen = [`+strconv.Quote(bAddr)+`]`),
	}, "--datagram", "-l", addr, "-l", bAddr)

	c := udpClient(t, "udp4", "127.0.0.1:0")
	ra, _ := net.ResolveUDPAddr("udp", addr)
	// The first datagram starts superd; it must then be answered.
	var reply string
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 1024)
	for time.Now().Before(deadline) && reply == "" {
		c.WriteToUDP([]byte("dgram"), ra)
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, _, err := c.ReadFromUDP(buf); err == nil {
			reply = string(buf[:n])
		}
	}
	if reply != "dgram" {
		t.Fatalf("UDP service through an inherited socket: reply %q, want dgram", reply)
	}
	h2WaitReadyActivated(t, s)
	if a := s.Addr["ucat"]; len(a) != 1 || a[0] != addr {
		t.Errorf("listening addresses of ucat = %q, want [%s]", a, addr)
	}
	if a := s.Addr["uecho"]; len(a) != 1 || a[0] != bAddr {
		t.Errorf("listening addresses of uecho = %q, want [%s]", a, bAddr)
	}
	// A fresh client: datagrams from the first one's port reach its
	// handler's reply socket while that handler lives (SPEC §3).
	if got, from := udpExchange(t, addr, "again"); got != "again" || from.String() != addr {
		t.Errorf("second datagram: %q from %s, want again from %s", got, from, addr)
	}
	if got, from := udpExchange(t, bAddr, "builtin"); got != "builtin" || from.String() != bAddr {
		t.Errorf("builtin echo: %q from %s, want builtin from %s", got, from, bAddr)
	}
	h2NoBindErrors(t, s)
	for _, l := range s.snapshot() {
		if (l.Msg() == "refused" && l.Get("reason") == "spawn_error") || l.Msg() == "reply socket" {
			t.Errorf("log line %s", l)
		}
	}
}

// TestActivationUnmatchedClosedBeforeBind passes a socket on 127.0.0.1:P
// for a service that listens on ":P" (the wildcard, which covers it): the
// inherited socket matches no service and must be closed before superd
// binds anew, or the bind fails with "address already in use".
func TestActivationUnmatchedClosedBeforeBind(t *testing.T) {
	t.Parallel()
	// A port below the ephemeral range: no client socket of a test
	// running meanwhile takes it as its source port, which would make the
	// wildcard bind fail for a reason of its own.
	addr := freeFixedAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	s := h2SocketActivate(t, map[string]string{
		"svc.hcl": service("wild", `listen = [":`+port+`"]`, userLine, `command = `+shCmd("echo wild")),
	}, "-l", addr)
	// The first client starts superd; it waits in the socket superd closes.
	if !eventually(5*time.Second, func() bool {
		_, err := h2Fetch("", addr, "")
		return err == nil || !strings.Contains(err.Error(), "refused")
	}) {
		t.Fatalf("systemd-socket-activate never listened on %s", addr)
	}
	h2WaitReadyActivated(t, s)
	h2NoBindErrors(t, s)
	s.mustLog(0, "unmatched inherited socket", func(l logLine) bool {
		return l.Msg() == "inherited socket matches no service, closing it" && l.Get("addr") == addr
	})
	if got, err := h2Fetch("", addr, ""); err != nil || got != "wild\n" {
		t.Errorf("client of the service bound anew: %q, %v; want wild", got, err)
	}
}

// TestActivationBogusListenFDs runs superd with LISTEN_PID = its pid and
// LISTEN_FDS = 4 but no descriptor passed: fds 3-6 are then superd's own
// (the Go runtime's). superd must adopt and close none of them, say so,
// and serve as usual.
func TestActivationBogusListenFDs(t *testing.T) {
	t.Parallel()
	s := startSuperdOpts(t, map[string]string{
		"svc.hcl": service("plain", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo plain")),
	}, runOpts{Setup: func(cmd *exec.Cmd) {
		h2WithoutEnv(cmd, "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
		cmd.Args = append([]string{"/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=4 exec "$0" "$@"`}, cmd.Args...)
		cmd.Path = "/bin/sh"
	}})
	s.mustLog(0, "the bogus LISTEN_FDS reported", func(l logLine) bool {
		return strings.HasPrefix(l.Msg(), "LISTEN_FDS names descriptors that are not sockets")
	})
	for i := 0; i < 3; i++ {
		if got, err := h2Fetch("", s.addr("plain"), ""); err != nil || got != "plain\n" {
			t.Fatalf("client %d: %q, %v; want plain", i, got, err)
		}
	}
	if s.exited() {
		t.Fatalf("superd exited (code %d)", s.ExitCode())
	}
}

// freeFixedAddr returns 127.0.0.1 with a TCP port that was free a moment
// ago, chosen below the kernel's ephemeral range (32768 and up by
// default), so that no outgoing connection takes it meanwhile.
func freeFixedAddr(t *testing.T) string {
	t.Helper()
	for range 200 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			continue
		}
		l.Close()
		return addr
	}
	t.Fatal("no free loopback port in 20000-31999")
	return ""
}
