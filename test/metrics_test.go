package test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The label values of SPEC §6.
var (
	h2Results  = []string{"accepted", "acl", "time", "load", "per_source_rate", "rate", "per_source", "instances", "spawn_error"}
	h2Statuses = []string{"success", "failure", "signal", "timeout"}
)

// TestMetricsPromtoolLint: promtool finds nothing to say about /metrics.
func TestMetricsPromtoolLint(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus): skipping the exposition lint")
	}
	s := startSuperd(t, map[string]string{
		"svc.hcl": h2MetricsDaemon +
			service("cat", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`) +
			service("ucat", `protocol = "udp"`, `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`) +
			service("echo", `builtin = "echo"`, `listen = ["127.0.0.1:0"]`),
	})
	maddr := s.h2MetricsAddr()
	roundTrip(t, "tcp", s.addr("cat"), "x", true)
	udpExchange(t, s.addr("ucat"), "y")
	roundTrip(t, "tcp", s.addr("echo"), "z", true)
	h2WaitScrape(t, maddr, 5*time.Second, func(ss []h2Sample) bool {
		v, _ := h2Value(ss, "superd_handler_exits_total", "service", "ucat", "status", "success")
		return v == 1
	})
	body := h2Scrape(t, maddr)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if err != nil || out.Len() != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
}

// TestMetricsExactCounts checks the counters against a known sequence of
// clients.
func TestMetricsExactCounts(t *testing.T) {
	t.Parallel()
	s := startSuperd(t, map[string]string{
		"svc.hcl": h2MetricsDaemon +
			service("ok", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo ok"),
				`access {`, `  deny = ["127.0.0.2"]`, `}`) +
			service("one", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`,
				`limits {`, `  instances = 1`, `}`) +
			service("slow", `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("sleep", "1", "30"),
				`limits {`, `  timeout = "300ms"`, `}`) +
			service("dg", `protocol = "udp"`, `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`),
	})
	maddr := s.h2MetricsAddr()
	svcs := map[string][2]string{"ok": {"tcp", "nowait"}, "one": {"tcp", "nowait"}, "slow": {"tcp", "nowait"}, "dg": {"udp", "nowait"}}

	// At start every service × result and × status series exists at 0.
	ss := h2Parse(t, h2Scrape(t, maddr))
	for name, pm := range svcs {
		for _, r := range h2Results {
			h2Want(t, ss, 0, "superd_connections_total", "service", name, "result", r)
		}
		for _, st := range h2Statuses {
			h2Want(t, ss, 0, "superd_handler_exits_total", "service", name, "status", st)
		}
		h2Want(t, ss, 0, "superd_handlers_active", "service", name)
		h2Want(t, ss, 1, "superd_service_info", "service", name, "protocol", pm[0], "mode", pm[1])
		h2Want(t, ss, 0, "superd_handler_duration_seconds_count", "service", name)
		h2Want(t, ss, 0, "superd_spawn_duration_seconds_count", "service", name)
	}
	if n := len(h2Find(ss, "superd_service_info")); n != len(svcs) {
		t.Errorf("%d superd_service_info series, want %d", n, len(svcs))
	}
	if n := len(h2Find(ss, "superd_connections_total")); n != len(svcs)*len(h2Results) {
		t.Errorf("%d superd_connections_total series, want %d services × %d results", n, len(svcs), len(h2Results))
	}
	h2Want(t, ss, 0, "superd_config_reloads_total", "result", "success")
	h2Want(t, ss, 0, "superd_config_reloads_total", "result", "failure")
	h2Want(t, ss, 1, "superd_config_last_reload_successful")
	if v, ok := h2Value(ss, "superd_config_last_reload_success_timestamp_seconds"); !ok || v < float64(time.Now().Add(-time.Minute).Unix()) || v > float64(time.Now().Add(time.Minute).Unix()) {
		t.Errorf("superd_config_last_reload_success_timestamp_seconds = %g, want about now", v)
	}
	if t.Failed() {
		t.FailNow()
	}

	// 5 accepted, 3 refused by acl (from 127.0.0.2).
	for i := 0; i < 5; i++ {
		if got, err := h2Fetch("127.0.0.1", s.addr("ok"), ""); err != nil || got != "ok\n" {
			t.Fatalf("client %d: %q, %v", i, got, err)
		}
	}
	for i := 0; i < 3; i++ {
		if got, err := h2Fetch("127.0.0.2", s.addr("ok"), ""); err != nil || got != "" {
			t.Fatalf("denied client %d: %q, %v; want closed at once", i, got, err)
		}
	}
	// instances = 1: one client held, two refused.
	hold, err := net.DialTimeout("tcp", s.addr("one"), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	hold.SetDeadline(time.Now().Add(ioTimeout))
	io.WriteString(hold, "ping\n")
	if got := readLine(t, hold); got != "ping" {
		t.Fatalf("held client got %q", got)
	}
	ss = h2Parse(t, h2Scrape(t, maddr))
	h2Want(t, ss, 1, "superd_handlers_active", "service", "one")
	for i := 0; i < 2; i++ {
		if got, err := h2Fetch("", s.addr("one"), ""); err != nil || got != "" {
			t.Fatalf("client over the instances limit %d: %q, %v; want closed at once", i, got, err)
		}
	}
	hold.(*net.TCPConn).CloseWrite()
	io.ReadAll(hold)
	// A handler that overruns its timeout.
	slow, err := net.DialTimeout("tcp", s.addr("slow"), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	startedPid(t, readLine(t, slow))
	// Two datagrams.
	udpExchange(t, s.addr("dg"), "a")
	udpExchange(t, s.addr("dg"), "b")

	ss, ok := h2WaitScrape(t, maddr, 10*time.Second, func(ss []h2Sample) bool {
		for name := range svcs {
			if v, _ := h2Value(ss, "superd_handlers_active", "service", name); v != 0 {
				return false
			}
		}
		v, _ := h2Value(ss, "superd_handler_exits_total", "service", "slow", "status", "timeout")
		w, _ := h2Value(ss, "superd_handler_exits_total", "service", "dg", "status", "success")
		return v == 1 && w == 2
	})
	if !ok {
		t.Errorf("handlers still active or not counted 10s later")
	}
	want := map[string]map[string]float64{
		"ok":   {"accepted": 5, "acl": 3},
		"one":  {"accepted": 1, "instances": 2},
		"slow": {"accepted": 1},
		"dg":   {"accepted": 2},
	}
	for name, w := range want {
		for _, r := range h2Results {
			h2Want(t, ss, w[r], "superd_connections_total", "service", name, "result", r)
		}
		h2Want(t, ss, 0, "superd_handlers_active", "service", name)
	}
	exits := map[string]map[string]float64{
		"ok":   {"success": 5},
		"one":  {"success": 1},
		"slow": {"timeout": 1},
		"dg":   {"success": 2},
	}
	for name, w := range exits {
		n := 0.0
		for _, st := range h2Statuses {
			h2Want(t, ss, w[st], "superd_handler_exits_total", "service", name, "status", st)
			n += w[st]
		}
		h2Want(t, ss, n, "superd_handler_duration_seconds_count", "service", name)
		h2Want(t, ss, n, "superd_spawn_duration_seconds_count", "service", name)
		if inf, _ := h2Value(ss, "superd_handler_duration_seconds_bucket", "service", name, "le", "+Inf"); inf != n {
			t.Errorf("superd_handler_duration_seconds_bucket{service=%q,le=\"+Inf\"} = %g, want %g", name, inf, n)
		}
	}
	// The timeout is 0.3 s: the slow handler lands in a bucket above it.
	if v, _ := h2Value(ss, "superd_handler_duration_seconds_bucket", "service", "slow", "le", "0.1"); v != 0 {
		t.Errorf("slow handler (timeout 300ms) counted in the 0.1 s bucket")
	}
	if v, _ := h2Value(ss, "superd_handler_duration_seconds_sum", "service", "slow"); v < 0.3 || v > 5 {
		t.Errorf("superd_handler_duration_seconds_sum{service=\"slow\"} = %g, want between the 0.3 s timeout and a few seconds", v)
	}
	// Spawn times resolve below a millisecond.
	subMs := 0
	for _, b := range h2Find(ss, "superd_spawn_duration_seconds_bucket", "service", "ok") {
		if le, err := strconv.ParseFloat(b.Labels["le"], 64); err == nil && le < 0.001 {
			subMs++
		}
	}
	if subMs < 2 {
		t.Errorf("superd_spawn_duration_seconds has %d buckets below 1 ms, want several", subMs)
	}
	// No label value holds a client address.
	for _, smp := range ss {
		for k, v := range smp.Labels {
			if strings.Contains(v, "127.0.0.") {
				t.Errorf("label %s of %s holds a client address", k, smp)
			}
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", h2Scrape(t, maddr))
		t.FailNow()
	}

	// A reload removing slow and adding added: slow's series are gone,
	// added's are there at 0, the others keep counting.
	h2WriteConf(t, s, "svc.hcl", h2MetricsDaemon+
		service("added", `protocol = "udp"`, `mode = "wait"`, `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("wait-udp", "0"))+
		service("ok", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo ok"),
			`access {`, `  deny = ["127.0.0.2"]`, `}`)+
		service("one", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`,
			`limits {`, `  instances = 1`, `}`)+
		service("dg", `protocol = "udp"`, `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`))
	before := time.Now()
	s.h2HupAndWait("reloaded")
	ss = h2Parse(t, h2Scrape(t, maddr))
	for _, smp := range ss {
		if smp.Labels["service"] == "slow" {
			t.Errorf("removed service still has %s", smp)
		}
	}
	h2Want(t, ss, 5, "superd_connections_total", "service", "ok", "result", "accepted")
	for _, r := range h2Results {
		h2Want(t, ss, 0, "superd_connections_total", "service", "added", "result", r)
	}
	for _, st := range h2Statuses {
		h2Want(t, ss, 0, "superd_handler_exits_total", "service", "added", "status", st)
	}
	h2Want(t, ss, 1, "superd_service_info", "service", "added", "protocol", "udp", "mode", "wait")
	h2Want(t, ss, 1, "superd_config_reloads_total", "result", "success")
	h2Want(t, ss, 0, "superd_config_reloads_total", "result", "failure")
	h2Want(t, ss, 1, "superd_config_last_reload_successful")
	ts1, _ := h2Value(ss, "superd_config_last_reload_success_timestamp_seconds")
	if ts1 < float64(before.Unix())-1 {
		t.Errorf("last_reload_success_timestamp %g is before the reload (%d)", ts1, before.Unix())
	}

	// A bad reload.
	h2WriteConf(t, s, "zz-bad.hcl", service("bad", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`, `frobnicate = true`))
	s.h2HupAndWait("reload failed")
	ss = h2Parse(t, h2Scrape(t, maddr))
	h2Want(t, ss, 1, "superd_config_reloads_total", "result", "success")
	h2Want(t, ss, 1, "superd_config_reloads_total", "result", "failure")
	h2Want(t, ss, 0, "superd_config_last_reload_successful")
	h2Want(t, ss, ts1, "superd_config_last_reload_success_timestamp_seconds")
	if n := len(h2Find(ss, "superd_service_info")); n != 4 {
		t.Errorf("%d services after a failed reload, want 4", n)
	}

	// And a good one again.
	h2RemoveConf(t, s, "zz-bad.hcl")
	s.h2HupAndWait("reloaded")
	ss = h2Parse(t, h2Scrape(t, maddr))
	h2Want(t, ss, 2, "superd_config_reloads_total", "result", "success")
	h2Want(t, ss, 1, "superd_config_reloads_total", "result", "failure")
	h2Want(t, ss, 1, "superd_config_last_reload_successful")
	if ts2, _ := h2Value(ss, "superd_config_last_reload_success_timestamp_seconds"); ts2 < ts1 {
		t.Errorf("last_reload_success_timestamp went back from %g to %g", ts1, ts2)
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", h2Scrape(t, maddr))
	}
}

// TestMetricsServerAbuse: idle, garbage, oversized and slow clients do not
// keep /metrics from others.
func TestMetricsServerAbuse(t *testing.T) {
	t.Parallel()
	s := startSuperd(t, map[string]string{
		"svc.hcl": h2MetricsDaemon + service("cat", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`),
	})
	maddr := s.h2MetricsAddr()
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", maddr, ioTimeout)
		if err != nil {
			t.Fatalf("dial metrics %s: %v", maddr, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// 20 connections that never send a byte.
	var idle []net.Conn
	for i := 0; i < 20; i++ {
		idle = append(idle, dial())
	}
	// One with half a request line (slowloris).
	slow := dial()
	io.WriteString(slow, "GET /metrics HTTP/1.1\r\nHost: x\r\n")
	openedAt := time.Now()

	// Garbage gets 400 and is closed.
	g := dial()
	g.SetDeadline(time.Now().Add(ioTimeout))
	io.WriteString(g, "\x00\x01garbage garbage\r\n\r\n")
	if b, err := io.ReadAll(g); err != nil || !strings.HasPrefix(string(b), "HTTP/1.1 400") {
		t.Errorf("garbage request: %q, %v; want HTTP/1.1 400 and close", h2FirstLine(b), err)
	}

	// A 1 MB header: refused (431), the connection closed.
	big := dial()
	big.SetDeadline(time.Now().Add(ioTimeout))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		io.WriteString(big, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ")
		big.Write(bytes.Repeat([]byte("a"), 1<<20))
		io.WriteString(big, "\r\n\r\n")
	}()
	b, _ := io.ReadAll(big)
	wg.Wait()
	if !strings.HasPrefix(string(b), "HTTP/1.1 431") {
		t.Errorf("1 MB header: %q, want HTTP/1.1 431", h2FirstLine(b))
	}

	// Others are served meanwhile, several at once.
	var mu sync.Mutex
	var errs []error
	var cw sync.WaitGroup
	for i := 0; i < 4; i++ {
		cw.Add(1)
		go func() {
			defer cw.Done()
			for j := 0; j < 3; j++ {
				start := time.Now()
				body, err := h2TryScrape(maddr, 2*time.Second)
				if err == nil && !strings.Contains(body, "superd_service_info") {
					err = io.ErrUnexpectedEOF
				}
				if err == nil && time.Since(start) > 2*time.Second {
					err = h2ErrSlow
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	cw.Wait()
	for _, err := range errs {
		t.Errorf("scrape while abusive clients are connected: %v", err)
	}
	if got := roundTrip(t, "tcp", s.addr("cat"), "still\n", true); got != "still\n" {
		t.Errorf("service while abusive clients hold the metrics server: %q", got)
	}

	// The slowloris connection is closed by the server (ReadHeaderTimeout 5s).
	slow.SetReadDeadline(openedAt.Add(9 * time.Second))
	buf := make([]byte, 512)
	if _, err := slow.Read(buf); err == nil || h2IsTimeout(err) {
		t.Errorf("half-sent request still open %v after it started (read: %v), want closed within the 5 s header timeout", time.Since(openedAt).Round(time.Millisecond), err)
	}
	// The idle ones too (by now, past the same timeout).
	for i, c := range idle {
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(buf); err == nil || h2IsTimeout(err) {
			t.Errorf("idle connection %d still open %v after it was opened: %v", i, time.Since(openedAt).Round(time.Millisecond), err)
			break
		}
	}
}

var h2ErrSlow = h2SlowError{}

type h2SlowError struct{}

func (h2SlowError) Error() string { return "scrape took more than 2s" }

func h2IsTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func h2FirstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

// TestStatusCommandCounts: superd status reads running handlers, accepted
// connections and refusals by reason from the metrics endpoint.
func TestStatusCommandCounts(t *testing.T) {
	t.Parallel()
	s := startSuperd(t, map[string]string{
		"svc.hcl": h2MetricsDaemon +
			service("held", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`,
				`access {`, `  deny = ["127.0.0.2"]`, `}`, `limits {`, `  instances = 1`, `}`) +
			service("idle", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`),
	})
	maddr := s.h2MetricsAddr()
	hold, err := net.DialTimeout("tcp", s.addr("held"), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	io.WriteString(hold, "x\n")
	if got := readLine(t, hold); got != "x" {
		t.Fatalf("held client: %q", got)
	}
	for i := 0; i < 2; i++ {
		if got, err := h2Fetch("", s.addr("held"), ""); err != nil || got != "" {
			t.Fatalf("client over the limit: %q, %v", got, err)
		}
	}
	if got, err := h2Fetch("127.0.0.2", s.addr("held"), ""); err != nil || got != "" {
		t.Fatalf("denied client: %q, %v", got, err)
	}

	stdout, stderr, code := runSuperd(t, 10*time.Second, "status", "-metrics", maddr)
	if code != 0 {
		t.Fatalf("superd status -metrics %s: exit %d\n%s%s", maddr, code, stdout, stderr)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			rows[f[0]] = f
		}
	}
	if h := rows["SERVICE"]; strings.Join(h, " ") != "SERVICE RUNNING ACCEPTED REFUSED" {
		t.Errorf("status header %q", h)
	}
	if got, want := strings.Join(rows["held"], " "), "held 1 1 acl=1 instances=2"; got != want {
		t.Errorf("status row %q, want %q", got, want)
	}
	if got, want := strings.Join(rows["idle"], " "), "idle 0 0 -"; got != want {
		t.Errorf("status row %q, want %q", got, want)
	}
	if t.Failed() {
		t.Logf("superd status:\n%s", stdout)
	}

	stdout, stderr, code = runSuperd(t, 10*time.Second, "status", "-metrics", maddr, "-json")
	if code != 0 {
		t.Fatalf("superd status -json: exit %d\n%s%s", code, stdout, stderr)
	}
	var js []struct {
		Service  string             `json:"service"`
		Running  float64            `json:"running"`
		Accepted float64            `json:"accepted"`
		Refused  map[string]float64 `json:"refused"`
	}
	if err := json.Unmarshal([]byte(stdout), &js); err != nil {
		t.Fatalf("superd status -json: %v\n%s", err, stdout)
	}
	if len(js) != 2 || js[0].Service != "held" || js[1].Service != "idle" {
		t.Fatalf("superd status -json services: %s", stdout)
	}
	if r := js[0]; r.Running != 1 || r.Accepted != 1 || r.Refused["instances"] != 2 || r.Refused["acl"] != 1 || r.Refused["rate"] != 0 {
		t.Errorf("status -json row %+v, want running 1, accepted 1, refused instances 2, acl 1", r)
	}
	if len(js[0].Refused) != len(h2Results)-1 {
		t.Errorf("status -json refused reasons %v, want every reason of SPEC §4 plus spawn_error", js[0].Refused)
	}

	// Once the held client leaves, running drops to 0.
	hold.(*net.TCPConn).CloseWrite()
	io.ReadAll(hold)
	s.mustLog(5*time.Second, "handler exited", msgIs("handler exited", "service", "held"))
	stdout, _, _ = runSuperd(t, 10*time.Second, "status", "-metrics", maddr)
	if !strings.Contains(stdout, "held") || !h2HasRow(stdout, "held", "0", "1") {
		t.Errorf("status after the handler exited:\n%s", stdout)
	}

	// Nothing listening there: exit 1 with a message.
	dead := h2FreeAddr(t)
	stdout, stderr, code = runSuperd(t, 10*time.Second, "status", "-metrics", dead)
	if code != 1 || stderr == "" {
		t.Errorf("superd status -metrics %s (nothing there): exit %d, stderr %q, stdout %q; want 1 and a message", dead, code, stderr, stdout)
	}
}

// h2HasRow reports whether a line of out starts with the fields given.
func h2HasRow(out string, fields ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= len(fields) && strings.Join(f[:len(fields)], " ") == strings.Join(fields, " ") {
			return true
		}
	}
	return false
}

// TestMetricsReloadAddress: a reload moves the metrics endpoint; one whose
// new address cannot be bound keeps the endpoint that runs.
func TestMetricsReloadAddress(t *testing.T) {
	t.Parallel()
	daemonAt := func(addr string) string {
		return "daemon {\n  metrics_listen = " + strconv.Quote(addr) + "\n  shutdown_grace = \"1s\"\n  kill_delay = \"1s\"\n}\n"
	}
	svc := service("cat", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`)
	first := h2FreeAddr(t)
	s := startSuperd(t, map[string]string{"d.hcl": daemonAt(first), "svc.hcl": svc})
	if got := s.h2MetricsAddr(); got != first {
		t.Fatalf("metrics listening on %s, want %s", got, first)
	}
	h2Scrape(t, first)

	// The new address is taken: the old endpoint keeps answering.
	taken, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	h2WriteConf(t, s, "d.hcl", daemonAt(taken.Addr().String()))
	s.h2HupAndWait("reloaded")
	if _, err := h2TryScrape(first, 2*time.Second); err != nil {
		t.Errorf("after a reload to a taken metrics address, the running endpoint %s is gone: %v", first, err)
	}

	// A free new address: served there, and the old one closed.
	second := h2FreeAddr(t)
	h2WriteConf(t, s, "d.hcl", daemonAt(second))
	s.h2HupAndWait("reloaded")
	if _, err := h2TryScrape(second, 2*time.Second); err != nil {
		t.Errorf("metrics at the reloaded address %s: %v", second, err)
	}
	if refused, err := h2Refused(first); !refused {
		t.Errorf("old metrics address %s after the move: not refused (%v)", first, err)
	}
}
