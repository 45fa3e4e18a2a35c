package test

import (
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// h2Payload is what service A of the load test prints for version v: long
// enough that a cut-short read shows.
func h2Payload(v int) string {
	return fmt.Sprintf("A v%d %s end", v, strings.Repeat("0123456789", 20))
}

// TestReloadUnderClientLoad: 20 reloads that add, remove and change other
// services (and A's output) while 4 clients connect to A in a loop; not one
// connection may fail, and connections accepted after a reload get the
// new settings.
func TestReloadUnderClientLoad(t *testing.T) {
	t.Parallel()
	aConf := func(v int) string {
		return service("a", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo '"+h2Payload(v)+"'"))
	}
	// others is the rest of the configuration at step i: a changing
	// service, one that comes and goes, a new one each time, a UDP one
	// every other step, and a unix socket one every third.
	sockDir := t.TempDir()
	others := func(i int) string {
		var b strings.Builder
		b.WriteString(service("changing", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo changing "+strconv.Itoa(i)),
			`socket {`, `  nodelay = `+strconv.FormatBool(i%2 == 0), `}`))
		b.WriteString(service("new"+strconv.Itoa(i), `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/date"]`))
		if i%2 == 0 {
			b.WriteString(service("udp", `protocol = "udp"`, `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`))
		}
		if i%3 == 0 {
			b.WriteString(service("local", `protocol = "unix"`, `listen = [`+strconv.Quote(sockDir+"/local.sock")+`]`, userLine, `command = ["/bin/cat"]`))
		}
		return b.String()
	}
	s := startSuperd(t, map[string]string{"a.hcl": aConf(0), "others.hcl": others(0)})
	aAddr := s.addr("a")

	// Versions: every reload up to lo has ended; hi is being reloaded to.
	var lo, hi atomic.Int64
	var total, failures atomic.Int64
	var mu sync.Mutex
	var failed []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				floor := lo.Load()
				got, err := h2Fetch("", aAddr, "")
				total.Add(1)
				ok := false
				if err == nil {
					var v int64
					if _, serr := fmt.Sscanf(got, "A v%d ", &v); serr == nil && got == h2Payload(int(v))+"\n" && v >= floor && v <= hi.Load() {
						ok = true
					}
				}
				if !ok {
					failures.Add(1)
					mu.Lock()
					if len(failed) < 10 {
						failed = append(failed, fmt.Sprintf("got %q, err %v (versions %d..%d)", got, err, floor, hi.Load()))
					}
					mu.Unlock()
				}
			}
		}()
	}

	const reloads = 20
	for i := 1; i <= reloads; i++ {
		time.Sleep(30 * time.Millisecond) // let clients in between reloads
		h2WriteConf(t, s, "a.hcl", aConf(i))
		h2WriteConf(t, s, "others.hcl", others(i))
		hi.Store(int64(i))
		s.h2HupAndWait("reloaded")
		lo.Store(int64(i))
		// A connection accepted after the swap runs the new command.
		if got, err := h2Fetch("", aAddr, ""); err != nil || got != h2Payload(i)+"\n" {
			t.Errorf("reload %d: client after the reload got %q, %v; want version %d", i, got, err, i)
		}
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Errorf("%d of %d connections to A failed during %d reloads: %q", n, total.Load(), reloads, failed)
	}
	if total.Load() < reloads {
		t.Errorf("only %d connections during %d reloads", total.Load(), reloads)
	}
	t.Logf("%d connections during %d reloads", total.Load(), reloads)
	// A's socket was never rebound.
	if n := s.h2CountMsg(msgIs("listening", "service", "a")); n != 1 {
		t.Errorf("service a logged listening %d times, want once (its socket kept)", n)
	}
	// The other services are what the last step says.
	if got, err := h2Fetch("", s.h2LastListening("changing"), ""); err != nil || got != "changing "+strconv.Itoa(reloads)+"\n" {
		t.Errorf("changing after the last reload: %q, %v", got, err)
	}
	if s.h2CountMsg(msgIs("reload failed")) != 0 {
		t.Errorf("a reload failed")
	}
}

// TestReloadFailureKeepsOld: a configuration that does not validate, and one
// that fails to bind, leave the running configuration and its sockets as
// they were.
func TestReloadFailureKeepsOld(t *testing.T) {
	t.Parallel()
	conf := service("a", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo old")) +
		service("b", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo b")) +
		service("u", `protocol = "udp"`, `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`)
	s := startSuperd(t, map[string]string{"svc.hcl": conf})
	aAddr, bAddr, uAddr := s.addr("a"), s.addr("b"), s.addr("u")
	// superd's sockets before any client: the three bound ones.
	before := h2SocketInodes(t, s.Pid)
	listening := s.h2CountMsg(msgIs("listening"))

	check := func(when string) {
		t.Helper()
		if got, err := h2Fetch("", aAddr, ""); err != nil || got != "old\n" {
			t.Errorf("%s: a said %q, %v; want the old command's output", when, got, err)
		}
		if got, err := h2Fetch("", bAddr, ""); err != nil || got != "b\n" {
			t.Errorf("%s: b said %q, %v", when, got, err)
		}
		if got, err := udpTry(uAddr, "u"); err != nil || got != "u" {
			t.Errorf("%s: u said %q, %v", when, got, err)
		}
		if n := s.h2CountMsg(msgIs("listening")); n != listening {
			t.Errorf("%s: %d listening lines, want %d (nothing bound)", when, n, listening)
		}
		// Once the clients' connections are closed (superd may close its
		// copy just after the handler is reaped), the same sockets.
		var after []string
		if !eventually(3*time.Second, func() bool {
			after = h2SocketInodes(t, s.Pid)
			return strings.Join(after, " ") == strings.Join(before, " ")
		}) {
			t.Errorf("%s: superd's sockets %q, were %q", when, after, before)
		}
	}

	// Does not validate: a changed a, b removed, a new service, and an error.
	h2WriteConf(t, s, "svc.hcl", service("a", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo new"))+
		service("c", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`)+
		service("u", `protocol = "udp"`, `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`, `not_an_attribute = 1`))
	l := s.h2HupAndWait("reload failed")
	if !strings.Contains(l.Get("error"), "not_an_attribute") {
		t.Errorf("reload failed line does not name the problem: %s", l)
	}
	check("after a reload that does not validate")

	// Validates but cannot bind: an address the test holds.
	taken, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	h2WriteConf(t, s, "svc.hcl", service("a", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo new"))+
		service("c", `listen = [`+strconv.Quote(taken.Addr().String())+`]`, userLine, `command = ["/bin/cat"]`)+
		service("d", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`)+
		service("u", `protocol = "udp"`, `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`))
	l = s.h2HupAndWait("reload failed")
	if !strings.Contains(l.Get("error"), taken.Addr().String()) {
		t.Errorf("reload failed line does not name the address: %s", l)
	}
	check("after a reload that cannot bind")

	// The same change without the clash applies.
	h2WriteConf(t, s, "svc.hcl", service("a", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo new"))+
		service("u", `protocol = "udp"`, `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`))
	s.h2HupAndWait("reloaded")
	if got, err := h2Fetch("", aAddr, ""); err != nil || got != "new\n" {
		t.Errorf("a after a good reload: %q, %v; want new", got, err)
	}
	if refused, err := h2Refused(bAddr); !refused {
		t.Errorf("removed service b at %s: not refused (%v)", bAddr, err)
	}
}

// TestReloadRemovedServiceRefuses: after a reload removes them, a TCP
// service's port refuses connections, a UDP one's answers nothing (ICMP
// port unreachable) and a unix socket's path is gone.
func TestReloadRemovedServiceRefuses(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/gone.sock"
	keep := service("keep", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo keep"))
	s := startSuperd(t, map[string]string{
		"keep.hcl": keep,
		"gone.hcl": service("gone", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo gone")) +
			service("ugone", `protocol = "udp"`, `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`) +
			service("xgone", `protocol = "unix"`, `listen = [`+strconv.Quote(path)+`]`, userLine, `command = `+shCmd("echo x")),
	})
	gAddr, uAddr := s.addr("gone"), s.addr("ugone")
	if got, err := h2Fetch("", gAddr, ""); err != nil || got != "gone\n" {
		t.Fatalf("gone before the reload: %q, %v", got, err)
	}
	if got, err := udpTry(uAddr, "u"); err != nil || got != "u" {
		t.Fatalf("ugone before the reload: %q, %v", got, err)
	}
	h2RemoveConf(t, s, "gone.hcl")
	s.h2HupAndWait("reloaded")
	if refused, err := h2Refused(gAddr); !refused {
		t.Errorf("removed TCP service at %s: not refused (%v)", gAddr, err)
	}
	if got, err := udpTry(uAddr, "u"); err == nil {
		t.Errorf("removed UDP service at %s answered %q", uAddr, got)
	} else if !strings.Contains(err.Error(), "refused") {
		t.Logf("removed UDP service: %v (no ICMP port unreachable seen)", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		t.Errorf("removed unix service at %s still accepts", path)
	}
	if got, err := h2Fetch("", s.addr("keep"), ""); err != nil || got != "keep\n" {
		t.Errorf("kept service: %q, %v", got, err)
	}
}

// TestReloadRunningHandlerSurvives: a handler in the middle of its work
// finishes across a reload that changes its service, and one that removes
// it; it is counted against the service that started it.
func TestReloadRunningHandlerSurvives(t *testing.T) {
	t.Parallel()
	slow := func(name, tag string) string {
		return service(name, `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo "+tag+" first; sleep 1; echo "+tag+" rest"))
	}
	s := startSuperd(t, map[string]string{
		"svc.hcl":  h2MetricsDaemon + slow("changed", "v1"),
		"gone.hcl": slow("gone", "g"),
	})
	maddr := s.h2MetricsAddr()
	dial := func(name string) net.Conn {
		c, err := net.DialTimeout("tcp", s.addr(name), ioTimeout)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(ioTimeout))
		return c
	}
	c1, c2 := dial("changed"), dial("gone")
	r1, r2 := h2NewLineReader(c1), h2NewLineReader(c2)
	if got := r1.line(t); got != "v1 first" {
		t.Fatalf("changed: first line %q", got)
	}
	if got := r2.line(t); got != "g first" {
		t.Fatalf("gone: first line %q", got)
	}
	// Both handlers sleep now: change one service, remove the other.
	h2WriteConf(t, s, "svc.hcl", h2MetricsDaemon+slow("changed", "v2"))
	h2RemoveConf(t, s, "gone.hcl")
	s.h2HupAndWait("reloaded")
	if got := r1.rest(t); got != "v1 rest\n" {
		t.Errorf("changed: rest %q, want the old handler's \"v1 rest\"", got)
	}
	if got := r2.rest(t); got != "g rest\n" {
		t.Errorf("gone: rest %q, want \"g rest\"", got)
	}
	for _, name := range []string{"changed", "gone"} {
		l := s.mustLog(5*time.Second, "handler exited service="+name, msgIs("handler exited", "service", name))
		if l.Get("status") != "success" {
			t.Errorf("handler of %s: %s, want status=success", name, l)
		}
	}
	ss, ok := h2WaitScrape(t, maddr, 5*time.Second, func(ss []h2Sample) bool {
		v, _ := h2Value(ss, "superd_handler_exits_total", "service", "changed", "status", "success")
		return v == 1
	})
	if !ok {
		t.Errorf("the handler that outlived a reload is not counted as a success of its service")
	}
	h2Want(t, ss, 1, "superd_connections_total", "service", "changed", "result", "accepted")
	h2Want(t, ss, 0, "superd_handlers_active", "service", "changed")
	if len(h2Find(ss, "superd_handlers_active", "service", "gone")) != 0 {
		t.Errorf("removed service gone still has series")
	}
	// New connections get the new command.
	c3 := dial("changed")
	if got := h2NewLineReader(c3).line(t); got != "v2 first" {
		t.Errorf("new connection after the reload: %q, want v2 first", got)
	}
}

// h2LineReader reads lines and then the rest of a connection.
type h2LineReader struct {
	c   net.Conn
	buf []byte
}

func h2NewLineReader(c net.Conn) *h2LineReader { return &h2LineReader{c: c} }

func (r *h2LineReader) line(t *testing.T) string {
	t.Helper()
	tmp := make([]byte, 256)
	for {
		if i := strings.IndexByte(string(r.buf), '\n'); i >= 0 {
			l := string(r.buf[:i])
			r.buf = r.buf[i+1:]
			return l
		}
		n, err := r.c.Read(tmp)
		r.buf = append(r.buf, tmp[:n]...)
		if err != nil {
			t.Fatalf("read line from %s: %v (got %q)", r.c.RemoteAddr(), err, r.buf)
		}
	}
}

func (r *h2LineReader) rest(t *testing.T) string {
	t.Helper()
	b, err := io.ReadAll(r.c)
	if err != nil {
		t.Errorf("read from %s: %v", r.c.RemoteAddr(), err)
	}
	return string(r.buf) + string(b)
}

// TestReloadKeepsInstanceCount: handlers started before a reload still count
// against the service's instances limit after it.
func TestReloadKeepsInstanceCount(t *testing.T) {
	t.Parallel()
	conf := func(tag string) string {
		return service("one", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo "+tag+"; exec cat"),
			`limits {`, `  instances = 1`, `}`)
	}
	s := startSuperd(t, map[string]string{"svc.hcl": conf("v1")})
	addr := s.addr("one")
	c1, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c1.SetDeadline(time.Now().Add(ioTimeout))
	r1 := h2NewLineReader(c1)
	if got := r1.line(t); got != "v1" {
		t.Fatalf("first client: %q", got)
	}
	h2WriteConf(t, s, "svc.hcl", conf("v2"))
	s.h2HupAndWait("reloaded")
	refusals := s.h2CountMsg(msgIs("refused", "service", "one", "reason", "instances"))
	if got, err := h2Fetch("", addr, ""); err != nil || got != "" {
		t.Errorf("second client during the first's handler: %q, %v; want refused", got, err)
	}
	s.mustLog(5*time.Second, "refused reason=instances", func(l logLine) bool {
		if msgIs("refused", "service", "one", "reason", "instances")(l) {
			refusals--
			return refusals < 0
		}
		return false
	})
	// The first handler ends; then a client is served, by the new command.
	c1.(*net.TCPConn).CloseWrite()
	if got := r1.rest(t); got != "" {
		t.Errorf("first client: trailing %q", got)
	}
	s.mustLog(5*time.Second, "handler exited", msgIs("handler exited", "service", "one"))
	c3, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	c3.SetDeadline(time.Now().Add(ioTimeout))
	if got := h2NewLineReader(c3).line(t); got != "v2" {
		t.Errorf("client after the first ended: %q, want v2", got)
	}
}

// TestReloadCoalescesHUPs: SIGHUPs that arrive during a reload cause exactly
// one more reload afterwards. The reload is made slow (many services, most
// of them disabled) and the extra SIGHUPs are sent once superd has said
// RELOADING=1.
func TestReloadCoalescesHUPs(t *testing.T) {
	t.Parallel()
	n := h2ListenNotify(t)
	var b strings.Builder
	for i := 0; i < 300; i++ {
		b.WriteString(service(fmt.Sprintf("s%03d", i), `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`,
			`env = { A = "1", B = "2", C = "3" }`))
	}
	// Disabled services cost no socket but are parsed and checked whole
	// (user, command) at every reload: they make it slow.
	for i := 0; i < 700; i++ {
		b.WriteString(service(fmt.Sprintf("d%03d", i), `disabled = true`, `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`,
			`env = { A = "1", B = "2", C = "3" }`))
	}
	s := startSuperdOpts(t, map[string]string{"svc.hcl": b.String()}, runOpts{
		Env: []string{"NOTIFY_SOCKET=" + n.Path},
		Setup: func(cmd *exec.Cmd) {
			h2WithoutEnv(cmd, "WATCHDOG_USEC", "WATCHDOG_PID")
		},
	})
	n.next(10*time.Second, "READY=1", func(m h2NotifyMsg) bool { return m.has("READY=1") })

	s.Signal(syscall.SIGHUP)
	start, _ := n.next(10*time.Second, "RELOADING=1", func(m h2NotifyMsg) bool { return m.has("RELOADING=1") })
	for i := 0; i < 4; i++ {
		s.Signal(syscall.SIGHUP)
	}
	sent := time.Now()
	end, _ := n.next(10*time.Second, "READY=1 ending the first reload", func(m h2NotifyMsg) bool { return m.has("READY=1") })
	if !end.At.After(sent) {
		t.Skipf("the first reload (%v) ended before the SIGHUPs were sent: too fast to tell", end.At.Sub(start.At))
	}
	t.Logf("first reload took about %v; SIGHUPs sent %v into it", end.At.Sub(start.At), sent.Sub(start.At))
	n.next(10*time.Second, "RELOADING=1 of the second reload", func(m h2NotifyMsg) bool { return m.has("RELOADING=1") })
	n.next(10*time.Second, "READY=1 ending the second reload", func(m h2NotifyMsg) bool { return m.has("READY=1") })
	// No third one.
	select {
	case m := <-n.ch:
		t.Errorf("a third reload: %q", m.Text)
	case <-time.After(time.Second):
	}
	if got := s.h2CountMsg(msgIs("reloaded")); got != 2 {
		t.Errorf("%d reloaded lines after 5 SIGHUPs during a reload, want 2", got)
	}
	// And a later SIGHUP is one more.
	s.h2HupAndWait("reloaded")
	if got := s.h2CountMsg(msgIs("reloaded")); got != 3 {
		t.Errorf("%d reloaded lines, want 3", got)
	}
}

// TestReloadUDPKeepsAnswering: a UDP service answers every datagram while
// superd reloads again and again.
func TestReloadUDPKeepsAnswering(t *testing.T) {
	t.Parallel()
	udp := service("u", `protocol = "udp"`, `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`) +
		service("ue", `protocol = "udp"`, `builtin = "echo"`, `listen = ["127.0.0.1:0"]`)
	s := startSuperd(t, map[string]string{"u.hcl": udp})
	uAddr, eAddr := s.addr("u"), s.addr("ue")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	var total atomic.Int64
	for _, addr := range []string{uAddr, eAddr} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := "dg" + strconv.Itoa(i)
				got, err := udpTry(addr, p)
				total.Add(1)
				if err != nil || got != p {
					mu.Lock()
					failed = append(failed, fmt.Sprintf("%s: %q, %v", addr, got, err))
					mu.Unlock()
				}
			}
		}()
	}
	for i := 1; i <= 10; i++ {
		time.Sleep(30 * time.Millisecond)
		h2WriteConf(t, s, "other.hcl", service("o"+strconv.Itoa(i), `protocol = "udp"`, `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`))
		h2WriteConf(t, s, "u.hcl", udp+service("tcp", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo "+strconv.Itoa(i))))
		s.h2HupAndWait("reloaded")
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	if len(failed) > 0 {
		t.Errorf("%d of %d datagrams unanswered during reloads: %q", len(failed), total.Load(), failed)
	}
	if n := s.h2CountMsg(msgIs("listening", "service", "u")); n != 1 {
		t.Errorf("u logged listening %d times, want once", n)
	}
}

// TestReloadFailureLogBounded breaks 100 services at once: the reload
// fails and keeps the old configuration, and the log gets at most 20
// problem lines and one bounded "reload failed" line, not one per error.
func TestReloadFailureLogBounded(t *testing.T) {
	t.Parallel()
	s := startSuperd(t, map[string]string{"svc.hcl": service("a", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo a"))})
	var broken strings.Builder
	for i := 0; i < 100; i++ {
		broken.WriteString(service(fmt.Sprintf("x%d", i), `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`, `bogus = 1`))
	}
	h2WriteConf(t, s, "broken.hcl", broken.String())
	l := s.h2HupAndWait("reload failed")
	if !strings.Contains(l.Get("error"), "and 80 more") || len(l.Raw) > 8192 {
		t.Errorf("reload failed line of %d bytes: %.300s", len(l.Raw), l.Raw)
	}
	if n := s.countLogs(msgIs("config")); n != 21 {
		t.Errorf("%d config problem lines, want 20 and one that counts the rest", n)
	}
	if got, err := h2Fetch("", s.addr("a"), ""); err != nil || got != "a\n" {
		t.Errorf("a after the failed reload: %q, %v", got, err)
	}
}

// TestStopDuringReload sends SIGTERM while a reload reads a 4 MiB file
// (lexing it takes seconds on a slow machine): superd stops at once, it
// does not finish reading first.
func TestStopDuringReload(t *testing.T) {
	t.Parallel()
	s := startSuperd(t, map[string]string{"svc.hcl": service("a", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo a"))})
	h2WriteConf(t, s, "big.hcl", "x = "+strings.Repeat("-", 4<<20-16)+"1\n")
	s.Signal(syscall.SIGHUP)
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	s.Signal(syscall.SIGTERM)
	if !s.Wait(10 * time.Second) {
		t.Fatal("superd still running 10 s after SIGTERM during a reload")
	}
	took := time.Since(start)
	if took > 2*time.Second {
		t.Errorf("superd took %v to stop after SIGTERM during a reload", took.Round(time.Millisecond))
	}
	if _, ok := s.waitLog(0, msgIs("reload failed", "error", "stopping: terminated")); !ok {
		// The file was read before the signal came: nothing to interrupt.
		t.Logf("the reload ended before SIGTERM (a fast machine); superd stopped %v after SIGTERM", took.Round(time.Millisecond))
	}
}
