package test

// Helpers of the reliability tests (reliability_test.go, hostile_test.go).
// Their names start with "rel" so they do not clash with other files of
// the package.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// relDaemon is a daemon block with a metrics endpoint on a free port and
// short shutdowns.
const relDaemon = "daemon {\n  metrics_listen = \"127.0.0.1:0\"\n  shutdown_grace = \"1s\"\n  kill_delay = \"1s\"\n}\n"

// relMetricsAddr returns the address of superd's metrics endpoint, from
// its "metrics listening" log line.
func relMetricsAddr(t *testing.T, s *superd) string {
	t.Helper()
	l := s.mustLog(5*time.Second, "metrics listening", func(l logLine) bool {
		return l.Msg() == "metrics listening" && l.Get("addr") != ""
	})
	return l.Get("addr")
}

// relScrape fetches /metrics.
func relScrape(addr string) (string, error) {
	hc := http.Client{Timeout: ioTimeout}
	resp, err := hc.Get("http://" + addr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// relMetric sums the values of the series of name whose labels include
// every label="value" given (in any order).
func relMetric(text, name string, labels ...string) float64 {
	var sum float64
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		var lbl string
		switch {
		case strings.HasPrefix(rest, "{"):
			j := strings.Index(rest, "} ")
			if j < 0 {
				continue
			}
			lbl, rest = rest[1:j], rest[j+2:]
		case strings.HasPrefix(rest, " "):
			rest = rest[1:]
		default:
			continue // a longer name
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			if !strings.Contains(","+lbl+",", ","+labels[i]+"="+strconv.Quote(labels[i+1])+",") {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// relMustScrape is relScrape failing the test.
func relMustScrape(t *testing.T, addr string) string {
	t.Helper()
	text, err := relScrape(addr)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	return text
}

// relProcStatus returns the "Key:" fields of /proc/PID/status.
func relProcStatus(pid int) (map[string]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	return relParseStatus(string(b)), nil
}

func relParseStatus(text string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// relRSS is VmRSS of pid in KiB.
func relRSS(t *testing.T, pid int) int {
	t.Helper()
	st, err := relProcStatus(pid)
	if err != nil {
		t.Fatalf("status of %d: %v", pid, err)
	}
	f := strings.Fields(st["VmRSS"])
	if len(f) == 0 {
		t.Fatalf("no VmRSS for %d", pid)
	}
	kb, _ := strconv.Atoi(f[0])
	return kb
}

// relCPU is the user+system CPU time pid has used (clock ticks of 10 ms,
// USER_HZ on Linux).
func relCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("stat of %d: %v", pid, err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// f[0] is field 3 (state): utime is field 14, stime 15.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// relTry connects to addr, sends in, half-closes and reads to EOF; it
// returns what came back. For goroutines: no t.
func relTry(addr, in string) (string, error) { return h2Fetch("", addr, in) }

// relProber checks a service every interval until stopped and counts the
// round trips that failed.
type relProber struct {
	addr, in, want string
	stop           chan struct{}
	done           chan struct{}
	mu             sync.Mutex
	ok             int
	failures       []string
	worst          time.Duration
}

func relStartProber(addr, in, want string, every time.Duration) *relProber {
	p := &relProber{addr: addr, in: in, want: want, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			start := time.Now()
			got, err := relTry(addr, in)
			d := time.Since(start)
			p.mu.Lock()
			if d > p.worst {
				p.worst = d
			}
			if err != nil || got != want {
				p.failures = append(p.failures, fmt.Sprintf("%s: got %q, %v", start.Format("15:04:05.000"), got, err))
			} else {
				p.ok++
			}
			p.mu.Unlock()
			select {
			case <-p.stop:
				return
			case <-time.After(every):
			}
		}
	}()
	return p
}

// Stop stops the prober and reports successes, failures and the slowest
// round trip.
func (p *relProber) Stop() (ok int, failures []string, worst time.Duration) {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ok, p.failures, p.worst
}

// relCountLog counts superd's log lines matching pred.
func relCountLog(s *superd, pred func(logLine) bool) int {
	n := 0
	for _, l := range s.snapshot() {
		if pred(l) {
			n++
		}
	}
	return n
}

// relRefusalLinesBounded checks SPEC §7: at most 5 "refused" lines per
// service and reason per 10 s window (the test runs well within a
// window or two, so at most 5 per started window), plus summaries.
func relRefusalLinesBounded(t *testing.T, s *superd, elapsed time.Duration) {
	t.Helper()
	windows := int(elapsed/(10*time.Second)) + 1
	per := map[string]int{}
	for _, l := range s.snapshot() {
		if l.Msg() == "refused" {
			per[l.Get("service")+"/"+l.Get("reason")]++
		}
	}
	for k, n := range per {
		if n > 5*windows {
			t.Errorf("%d refused lines for %s in %v, want at most %d", n, k, elapsed, 5*windows)
		}
	}
}

// relSettled waits up to d for superd to have no children and its
// descriptor count back at base; it returns the last count and targets.
func relSettled(t *testing.T, s *superd, base int, d time.Duration) (bool, int, []string) {
	t.Helper()
	var n int
	var list []string
	ok := eventually(d, func() bool {
		n, list = fdCount(t, s.Pid)
		return n <= base && len(children(s.Pid)) == 0
	})
	return ok, n, list
}

// relGroupProcs lists the live processes of process group pgid: "pid uid
// comm".
func relGroupProcs(pgid int) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		j := strings.LastIndexByte(s, ')')
		if j < 0 {
			continue
		}
		f := strings.Fields(s[j+1:])
		// f[0] state, f[1] ppid, f[2] pgrp, f[3] session
		if len(f) < 4 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g != pgid {
			continue
		}
		st, err := relProcStatus(pid)
		if err != nil {
			continue
		}
		uid := strings.Fields(st["Uid"] + " ?")[0]
		out = append(out, fmt.Sprintf("%d %s %s", pid, uid, st["Name"]))
	}
	return out
}

var relHexRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

// relIsTimeout reports whether err is a deadline error.
func relIsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// relUDPTry sends payload from a fresh socket and waits up to d for the
// reply.
func relUDPTry(addr, payload string, d time.Duration) (string, error) {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte(payload)); err != nil {
		return "", err
	}
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	return string(buf[:n]), err
}
