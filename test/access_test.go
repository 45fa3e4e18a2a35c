package test

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAccessAddresses checks allow/deny with addresses and prefixes (SPEC
// §2 Rules, §4): longest prefix wins, deny on a tie, IPv4 clients of a
// dual-stack socket match IPv4 rules, the deny_message is all a refused
// client reads, and no handler runs for a refusal.
func TestAccessAddresses(t *testing.T) {
	t.Parallel()
	mark := markerDir(t)
	files := map[string]string{
		"acl.hcl": service("mixed", `listen = ["127.0.0.1:0"]`, userLine, `command = `+markerCmd(mark, "mixed"),
			`access {`,
			`  allow = ["127.0.0.0/8"]`,
			`  deny  = ["127.0.0.2", "127.0.0.128/25"]`,
			`  deny_message = "no entry\r\n"`,
			`}`) +
			service("longest", `listen = ["127.0.0.1:0"]`, userLine, `command = `+markerCmd(mark, "longest"),
				`access {`, `  allow = ["127.0.0.2/32"]`, `  deny = ["127.0.0.0/24"]`, `}`) +
			service("tie", `listen = ["127.0.0.1:0"]`, userLine, `command = `+markerCmd(mark, "tie"),
				`access {`, `  allow = ["127.0.0.0/8", "127.0.0.3/32"]`, `  deny = ["127.0.0.3"]`, `}`),
	}
	v6 := ipv6OK()
	if v6 {
		files["dual.hcl"] = service("dual4", `listen = [":0"]`, userLine, `command = `+markerCmd(mark, "dual4"),
			`access {`, `  allow = ["127.0.0.1"]`, `}`) +
			service("dual6", `listen = [":0"]`, userLine, `command = `+markerCmd(mark, "dual6"),
				`access {`, `  allow = ["::1"]`, `}`) +
			service("v6deny", `listen = [":0"]`, userLine, `command = `+markerCmd(mark, "v6deny"),
				`access {`, `  allow = ["127.0.0.0/8", "::/0"]`, `  deny = ["::1/128"]`, `}`)
	}
	s := startSuperd(t, files)

	t.Run("allow prefix minus deny", func(t *testing.T) {
		t.Parallel()
		addr := s.addr("mixed")
		if got, _ := getFrom(t, "127.0.0.1", addr); got != "served\n" {
			t.Errorf("127.0.0.1 got %q, want served", got)
		}
		for _, src := range []string{"127.0.0.2", "127.0.0.200"} {
			remote := refusedFrom(t, src, addr, "no entry\r\n")
			s.mustLog(5*time.Second, "refused remote="+remote, msgIs("refused", "service", "mixed", "reason", "acl", "remote", remote))
		}
		// 127.0.0.127 is just outside 127.0.0.128/25.
		if got, _ := getFrom(t, "127.0.0.127", addr); got != "served\n" {
			t.Errorf("127.0.0.127 got %q, want served", got)
		}
		if got := markers(t, mark, "mixed-"); len(got) != 2 ||
			len(markers(t, mark, "mixed-127.0.0.1-")) != 1 || len(markers(t, mark, "mixed-127.0.0.127-")) != 1 {
			t.Errorf("handlers that ran: %q, want one for 127.0.0.1 and one for 127.0.0.127", got)
		}
	})
	t.Run("longest prefix wins", func(t *testing.T) {
		t.Parallel()
		addr := s.addr("longest")
		if got, _ := getFrom(t, "127.0.0.2", addr); got != "served\n" {
			t.Errorf("127.0.0.2 (allow /32 beats deny /24) got %q, want served", got)
		}
		remote := refusedFrom(t, "127.0.0.1", addr, "")
		s.mustLog(5*time.Second, "refused remote="+remote, msgIs("refused", "service", "longest", "reason", "acl", "remote", remote))
		if got := markers(t, mark, "longest-127.0.0.1-"); len(got) != 0 {
			t.Errorf("a handler ran for the refused client: %q", got)
		}
	})
	t.Run("tie is deny", func(t *testing.T) {
		t.Parallel()
		addr := s.addr("tie")
		remote := refusedFrom(t, "127.0.0.3", addr, "")
		s.mustLog(5*time.Second, "refused remote="+remote, msgIs("refused", "service", "tie", "reason", "acl", "remote", remote))
		if got, _ := getFrom(t, "127.0.0.4", addr); got != "served\n" {
			t.Errorf("127.0.0.4 got %q, want served", got)
		}
		if got := markers(t, mark, "tie-127.0.0.3-"); len(got) != 0 {
			t.Errorf("a handler ran for the refused client: %q", got)
		}
	})
	t.Run("dual-stack", func(t *testing.T) {
		t.Parallel()
		if !v6 {
			t.Skip("no IPv6 on loopback")
		}
		at := func(name, host string) string { return net.JoinHostPort(host, s.port(name)) }

		// IPv4 clients of a dual-stack socket match IPv4 rules and are
		// logged as plain IPv4.
		if got, _ := getFrom(t, "127.0.0.1", at("dual4", "127.0.0.1")); got != "served\n" {
			t.Errorf("dual4: 127.0.0.1 got %q, want served", got)
		}
		remote := refusedFrom(t, "127.0.0.3", at("dual4", "127.0.0.1"), "")
		if !strings.HasPrefix(remote, "127.0.0.3:") {
			t.Fatalf("client address %s", remote)
		}
		s.mustLog(5*time.Second, "refused remote="+remote, msgIs("refused", "service", "dual4", "reason", "acl", "remote", remote))
		remote = refusedFrom(t, "::1", at("dual4", "::1"), "")
		s.mustLog(5*time.Second, "refused remote="+remote, msgIs("refused", "service", "dual4", "reason", "acl", "remote", remote))

		// ::1 is matched by a v6 rule, and a v6 rule never matches an
		// IPv4 client.
		if got, _ := getFrom(t, "::1", at("dual6", "::1")); got != "served\n" {
			t.Errorf("dual6: ::1 got %q, want served", got)
		}
		remote = refusedFrom(t, "127.0.0.1", at("dual6", "127.0.0.1"), "")
		s.mustLog(5*time.Second, "refused remote="+remote, msgIs("refused", "service", "dual6", "reason", "acl", "remote", remote))

		remote = refusedFrom(t, "::1", at("v6deny", "::1"), "")
		s.mustLog(5*time.Second, "refused remote="+remote, msgIs("refused", "service", "v6deny", "reason", "acl", "remote", remote))
		if got, _ := getFrom(t, "127.0.0.1", at("v6deny", "127.0.0.1")); got != "served\n" {
			t.Errorf("v6deny: 127.0.0.1 got %q, want served", got)
		}

		for _, m := range markers(t, mark, "dual") {
			if !strings.HasPrefix(m, "dual4-127.0.0.1-") && !strings.HasPrefix(m, "dual6-::1-") {
				t.Errorf("a handler ran for a refused client: %s", m)
			}
		}
		for _, m := range markers(t, mark, "v6deny-") {
			if !strings.HasPrefix(m, "v6deny-127.0.0.1-") {
				t.Errorf("a handler ran for a refused client: %s", m)
			}
		}
		for _, l := range s.snapshot() {
			if strings.Contains(l.Raw, "::ffff:") {
				t.Errorf("log shows a v4-mapped address: %s", l.Raw)
			}
		}
	})
}

// clock formats a minute of the day as HH:MM.
func clock(m int) string {
	m = ((m % 1440) + 1440) % 1440
	return fmt.Sprintf("%02d:%02d", m/60, m%60)
}

func window(from, to int) string { return clock(from) + "-" + clock(to) }

// TestAccessTimes checks `times` windows in superd's local time zone (TZ).
// Every window edge is at least an hour from now.
func TestAccessTimes(t *testing.T) {
	t.Parallel()
	mark := markerDir(t)
	now := time.Now().UTC()
	m := now.Hour()*60 + now.Minute()
	// A window that wraps midnight and includes now.
	var wrapOpen string
	if m >= 720 {
		wrapOpen = window(m-60, 30)
	} else {
		wrapOpen = window(1380, m+60)
	}
	open := map[string][]string{
		"open":     {window(m-60, m+60)}, // may wrap too, around midnight
		"wrapopen": {wrapOpen},
		"several":  {window(m+120, m+180), window(m-30, m+30)},
	}
	closed := map[string][]string{
		"closed":    {window(m+120, m+180)},
		"twoclosed": {window(m+120, m+180), window(m-180, m-120)},
	}
	if m >= 120 && m < 1320 {
		// A window that wraps midnight and excludes now.
		closed["wrapclosed"] = []string{window(m+60, m-60)}
	}
	var files strings.Builder
	for _, set := range []map[string][]string{open, closed} {
		for name, w := range set {
			files.WriteString(service(name, `listen = ["127.0.0.1:0"]`, userLine, `command = `+markerCmd(mark, name),
				`access {`, `  times = `+hclList(w...), `  deny_message = "closed\n"`, `}`))
		}
	}
	s := startSuperdOpts(t, map[string]string{"times.hcl": files.String()}, runOpts{Env: []string{"TZ=UTC"}})
	t.Logf("now %s UTC; open %v; closed %v", now.Format("15:04"), open, closed)

	for name, w := range open {
		if got, _ := getFrom(t, "127.0.0.1", s.addr(name)); got != "served\n" {
			t.Errorf("service %s, times %s at %s UTC: got %q, want served", name, w, now.Format("15:04"), got)
		}
	}
	for name, w := range closed {
		remote := refusedFrom(t, "127.0.0.1", s.addr(name), "closed\n")
		s.mustLog(5*time.Second, name+" refused reason=time", msgIs("refused", "service", name, "reason", "time", "remote", remote))
		if got := markers(t, mark, name+"-"); len(got) != 0 {
			t.Errorf("service %s, times %s: a handler ran: %q", name, w, got)
		}
	}

	t.Run("TZ", func(t *testing.T) {
		// The same instant in a zone 5:30 from UTC: the window around
		// local now serves, the one around UTC now refuses.
		loc, err := time.LoadLocation("Asia/Kolkata")
		if err != nil {
			t.Skipf("no time zone data: %v", err)
		}
		ln := time.Now().In(loc)
		lm := ln.Hour()*60 + ln.Minute()
		un := time.Now().UTC()
		um := un.Hour()*60 + un.Minute()
		s := startSuperdOpts(t, map[string]string{"tz.hcl": service("local", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo served"),
			`access {`, `  times = ["`+window(lm-30, lm+30)+`"]`, `}`) +
			service("utc", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo served"),
				`access {`, `  times = ["`+window(um-30, um+30)+`"]`, `}`)},
			runOpts{Env: []string{"TZ=Asia/Kolkata"}})
		if got, _ := getFrom(t, "127.0.0.1", s.addr("local")); got != "served\n" {
			t.Errorf("window around Kolkata time %s: got %q, want served", ln.Format("15:04"), got)
		}
		remote := refusedFrom(t, "127.0.0.1", s.addr("utc"), "")
		s.mustLog(5*time.Second, "refused reason=time", msgIs("refused", "service", "utc", "reason", "time", "remote", remote))
	})
}

// TestAccessCheckErrors checks that malformed allow/deny/times entries
// are reported each at its own FILE:LINE:COL, all of them (check_test.go
// covers one bad entry per kind).
func TestAccessCheckErrors(t *testing.T) {
	t.Parallel()
	allow := `    allow = ["127.0.0.1", "www.example.com", "10.0.0.0/", "fe80::1%eth0", "::1"]`
	deny := `    deny  = ["1.2.3", "10.0.0.0/8", "::1/129", "10.0.0.0/8/8"]`
	times := `    times = ["08:00-09:00", "25:00-26:00", "8-9"]`
	content := service("a", `listen  = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`,
		`access {`, allow, deny, times, `}`)
	dir := writeConfig(t, map[string]string{"a.hcl": content})
	stdout, stderr, code := runSuperd(t, 10*time.Second, "check", "-config", dir)
	if code != 1 {
		t.Errorf("superd check exit code = %d, want 1", code)
	}
	lines := strings.Split(content, "\n")
	bad := []string{"www.example.com", "10.0.0.0/", "fe80::1%eth0", "1.2.3", "::1/129", "10.0.0.0/8/8", "25:00-26:00", "8-9"}
	for _, b := range bad {
		quoted := `"` + b + `"`
		line := 0
		col := 0
		for i, l := range lines {
			if j := strings.Index(l, quoted); j >= 0 {
				line, col = i+1, j+1
				break
			}
		}
		want := fmt.Sprintf("a.hcl:%d:%d: ", line, col)
		found := false
		for _, l := range strings.Split(stderr+stdout, "\n") {
			if strings.Contains(l, want) && strings.Contains(l, b) {
				found = true
			}
		}
		if !found {
			t.Errorf("no error for %s at %s", quoted, want)
		}
	}
	// The good entries have no error.
	for _, good := range []string{`"127.0.0.1"`, `"::1"`, `"10.0.0.0/8"`, `"08:00-09:00"`} {
		for _, l := range strings.Split(stderr+stdout, "\n") {
			if strings.Contains(l, good) {
				t.Errorf("error for a valid entry %s: %s", good, l)
			}
		}
	}
	if t.Failed() {
		t.Logf("config:\n%s\nstdout:\n%s\nstderr:\n%s", numbered(content), stdout, stderr)
	}
}

// TestAccessUDP checks access rules on datagrams: a refused datagram gets
// no reply and starts nothing; on a UDP wait service the rules apply to the
// datagram that would start the handler.
func TestAccessUDP(t *testing.T) {
	t.Parallel()
	mark := markerDir(t)
	s := startSuperd(t, map[string]string{
		"udp.hcl": service("ucat", `protocol = "udp"`, `listen = ["127.0.0.1:0"]`, userLine,
			`command = `+shCmd(fmt.Sprintf(`touch %s/ucat-$REMOTE_ADDR-$$; exec /bin/cat`, mark)),
			`access {`, `  allow = ["127.0.0.1"]`, `  deny_message = "not for datagrams\n"`, `}`) +
			service("uecho", `protocol = "udp"`, `builtin = "echo"`, `listen = ["127.0.0.1:0"]`,
				`access {`, `  deny = ["127.0.0.2"]`, `}`) +
			service("uwait", `protocol = "udp"`, `mode = "wait"`, `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("wait-udp", "0"),
				`access {`, `  allow = ["127.0.0.1"]`, `}`),
	})
	const quiet = 700 * time.Millisecond
	for _, name := range []string{"ucat", "uecho"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			addr := s.addr(name)
			reply, local, ok := udpFrom(t, "127.0.0.2", addr, "refused?", quiet)
			if ok {
				t.Errorf("refused datagram from %s got a reply %q", local, reply)
			}
			s.mustLog(5*time.Second, "refused remote="+local, msgIs("refused", "service", name, "reason", "acl", "remote", local))
			reply, local, ok = udpFrom(t, "127.0.0.1", addr, "allowed", ioTimeout)
			if !ok || reply != "allowed" {
				t.Errorf("datagram from %s: reply %q (%v), want the echo", local, reply, ok)
			}
		})
	}
	t.Run("no handler for a refused datagram", func(t *testing.T) {
		t.Parallel()
		for i := 0; i < 3; i++ {
			if reply, _, ok := udpFrom(t, "127.0.0.3", s.addr("ucat"), "x", 300*time.Millisecond); ok {
				t.Errorf("refused datagram got a reply %q", reply)
			}
		}
		if got := markers(t, mark, "ucat-127.0.0.3-"); len(got) != 0 {
			t.Errorf("handlers ran for refused datagrams: %q", got)
		}
	})
	t.Run("wait", func(t *testing.T) {
		t.Parallel()
		addr := s.addr("uwait")
		reply, local, ok := udpFrom(t, "127.0.0.2", addr, "refused?", quiet)
		if ok {
			t.Errorf("refused datagram from %s got a reply %q", local, reply)
		}
		s.mustLog(5*time.Second, "refused remote="+local, msgIs("refused", "service", "uwait", "reason", "acl", "remote", local))
		reply, local, ok = udpFrom(t, "127.0.0.1", addr, "allowed", ioTimeout)
		if !ok {
			t.Fatalf("datagram from %s: no reply", local)
		}
		pid := helloPid(t, reply)
		s.mustLog(5*time.Second, "handler exited pid="+strconv.Itoa(pid), msgIs("handler exited", "service", "uwait", "pid", strconv.Itoa(pid)))
		if n := s.countLogs(msgIs("handler exited", "service", "uwait")); n != 1 {
			t.Errorf("uwait handlers that ran: %d, want 1", n)
		}
	})
}

// TestAccessRefusalLogSuppression floods one service with refusals: at
// most 5 `refused` lines per service and reason per 10 s, then a summary
// with the number left out (SPEC §7). It waits for the 10 s window.
func TestAccessRefusalLogSuppression(t *testing.T) {
	t.Parallel()
	s := startSuperd(t, map[string]string{
		"flood.hcl": service("flood", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo served"),
			`access {`, `  allow = ["127.0.0.1"]`, `}`) +
			service("quiet", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo served"),
				`access {`, `  allow = ["127.0.0.1"]`, `}`),
	})
	addr := s.addr("flood")
	const total, workers = 200, 8
	start := time.Now()
	errs := make(chan error, total)
	jobs := make(chan int, total)
	for i := 0; i < total; i++ {
		jobs <- i
	}
	close(jobs)
	for w := 0; w < workers; w++ {
		go func() {
			for range jobs {
				got, err := fetchFrom("127.0.0.2", addr)
				if err == nil && got != "" {
					err = fmt.Errorf("refused client got %q", got)
				}
				errs <- err
			}
		}()
	}
	for i := 0; i < total; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	flood := time.Since(start)
	if flood > 8*time.Second {
		t.Fatalf("the flood took %v; the test needs it inside one 10 s window", flood)
	}
	// Another service's refusals are counted on their own.
	quietRemote := refusedFrom(t, "127.0.0.2", s.addr("quiet"), "")

	sum := s.mustLog(15*time.Second, "refusals suppressed service=flood", msgIs("refusals suppressed", "service", "flood", "reason", "acl"))
	if got := sum.Get("suppressed"); got != strconv.Itoa(total-5) {
		t.Errorf("refusals suppressed: suppressed=%s, want %d (%s)", got, total-5, sum.Raw)
	}
	if n := s.countLogs(msgIs("refused", "service", "flood", "reason", "acl")); n != 5 {
		t.Errorf("%d refused lines for service flood, want 5", n)
	}
	for _, l := range s.snapshot() {
		if l.Msg() == "refused" && l.Get("service") == "flood" && !strings.HasPrefix(l.Get("remote"), "127.0.0.2:") {
			t.Errorf("refused line with remote %q: %s", l.Get("remote"), l.Raw)
		}
	}
	if _, ok := s.waitLog(0, msgIs("refused", "service", "quiet", "reason", "acl", "remote", quietRemote)); !ok {
		t.Errorf("no refused line for service quiet: one service's flood silenced another's")
	}
	if n := s.countLogs(msgIs("refusals suppressed", "service", "quiet")); n != 0 {
		t.Errorf("a summary for service quiet, which had one refusal")
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(s.Pid)); err != nil {
		t.Errorf("superd gone after the flood: %v", err)
	}
}

// TestAccessRefusalSummaryNotLost checks that a pending refusal summary
// is written when its service goes away before the 10 s window ends:
// removed by a reload, or at shutdown (SPEC §7: the number left out).
func TestAccessRefusalSummaryNotLost(t *testing.T) {
	t.Parallel()
	deny := func(name string) string {
		return service(name, `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo served"),
			`access {`, `  allow = ["127.0.0.1"]`, `}`)
	}
	s := startSuperd(t, map[string]string{"stay.hcl": deny("stay"), "gone.hcl": deny("gone")})
	const refused, refusalBurst = 8, 5 // 5 lines, 3 left out
	stay, gone := s.addr("stay"), s.addr("gone")
	start := time.Now()
	for i := 0; i < refused; i++ {
		refusedFrom(t, "127.0.0.2", stay, "")
		refusedFrom(t, "127.0.0.2", gone, "")
	}
	summary := func(name string) func(logLine) bool {
		return msgIs("refusals suppressed", "service", name, "reason", "acl")
	}
	h2RemoveConf(t, s, "gone.hcl")
	s.h2HupAndWait("reloaded")
	l := s.mustLog(5*time.Second, "summary of the removed service", summary("gone"))
	if got := l.Get("suppressed"); got != strconv.Itoa(refused-refusalBurst) {
		t.Errorf("gone: suppressed=%s, want %d (%s)", got, refused-refusalBurst, l.Raw)
	}
	if n := s.countLogs(summary("stay")); n != 0 && time.Since(start) < 9*time.Second {
		t.Fatalf("a summary for service stay before its window ended or superd stopped")
	}
	s.stop()
	l, ok := s.waitLog(0, summary("stay"))
	if !ok {
		t.Fatalf("no refusals suppressed line for service stay after SIGTERM:\n%s", s.logText())
	}
	if got := l.Get("suppressed"); got != strconv.Itoa(refused-refusalBurst) {
		t.Errorf("stay: suppressed=%s, want %d (%s)", got, refused-refusalBurst, l.Raw)
	}
}
