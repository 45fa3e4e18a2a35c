package test

// Helpers shared by systemd_test.go, metrics_test.go and reload_test.go.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// h2MetricsDaemon is a daemon block serving metrics on a kernel-chosen
// loopback port, with short shutdowns.
const h2MetricsDaemon = `daemon {
  metrics_listen = "127.0.0.1:0"
  shutdown_grace = "1s"
  kill_delay     = "1s"
}
`

// h2MetricsAddr is the address superd's metrics server listens on, from its
// "metrics listening" log line.
func (s *superd) h2MetricsAddr() string {
	s.t.Helper()
	l := s.mustLog(5*time.Second, "metrics listening", msgIs("metrics listening"))
	a := l.Get("addr")
	if a == "" {
		s.t.Fatalf("metrics listening line without addr: %s", l)
	}
	return a
}

// scrape GETs http://addr/metrics and returns the body.
func h2Scrape(t *testing.T, addr string) string {
	t.Helper()
	body, err := h2TryScrape(addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// h2TryScrape is scrape for goroutines and retries: no t.
func h2TryScrape(addr string, timeout time.Duration) (string, error) {
	hc := http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get("http://" + addr + "/metrics")
	if err != nil {
		return "", fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("read /metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %s: %s", resp.Status, b)
	}
	return string(b), nil
}

// h2Sample is one line of the Prometheus text format.
type h2Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

func (s h2Sample) String() string {
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(s.Labels[k])
	}
	return fmt.Sprintf("%s{%s} %g", s.Name, strings.Join(parts, ","), s.Value)
}

// h2Parse parses the h2Sample lines of the text exposition format.
func h2Parse(t *testing.T, text string) []h2Sample {
	t.Helper()
	var out []h2Sample
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := h2ParseLine(line)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out = append(out, s)
	}
	return out
}

func h2ParseLine(line string) (h2Sample, error) {
	s := h2Sample{Labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, errors.New("no value")
	}
	s.Name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, ", ")
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.IndexByte(rest, '=')
			if eq < 0 || eq+1 >= len(rest) || rest[eq+1] != '"' {
				return s, errors.New("bad label")
			}
			name := rest[:eq]
			j := quotedEnd(rest, eq+1)
			v, err := strconv.Unquote(rest[eq+1 : j])
			if err != nil {
				return s, fmt.Errorf("label %s: %w", name, err)
			}
			s.Labels[name] = v
			rest = rest[j:]
		}
	}
	f := strings.Fields(rest)
	if len(f) < 1 {
		return s, errors.New("no value")
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, err
	}
	s.Value = v
	return s, nil
}

// find returns the samples named name whose labels include kv pairs.
func h2Find(ss []h2Sample, name string, kv ...string) []h2Sample {
	var out []h2Sample
next:
	for _, s := range ss {
		if s.Name != name {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if v, ok := s.Labels[kv[i]]; !ok || v != kv[i+1] {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

// value is the value of the one h2Sample named name with labels kv; ok is
// false if there is none or several.
func h2Value(ss []h2Sample, name string, kv ...string) (float64, bool) {
	f := h2Find(ss, name, kv...)
	if len(f) != 1 {
		return 0, false
	}
	return f[0].Value, true
}

// h2Want checks the one h2Sample name{kv} has value want.
func h2Want(t *testing.T, ss []h2Sample, want float64, name string, kv ...string) {
	t.Helper()
	f := h2Find(ss, name, kv...)
	switch {
	case len(f) == 0:
		t.Errorf("no h2Sample %s%q", name, kv)
	case len(f) > 1:
		t.Errorf("%d samples %s%q, want one: %v", len(f), name, kv, f)
	case f[0].Value != want:
		t.Errorf("%s = %g, want %g", f[0], f[0].Value, want)
	}
}

// h2WaitScrape scrapes addr until cond holds on the samples (up to d) and
// returns the last samples and whether cond held.
func h2WaitScrape(t *testing.T, addr string, d time.Duration, cond func([]h2Sample) bool) ([]h2Sample, bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ss := h2Parse(t, h2Scrape(t, addr))
		if cond(ss) {
			return ss, true
		}
		if time.Now().After(deadline) {
			return ss, false
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// h2WriteConf writes one file into superd's config directory.
func h2WriteConf(t *testing.T, s *superd, name, content string) {
	t.Helper()
	p := filepath.Join(s.Dir, name)
	tmp := filepath.Join(s.Dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}

// h2RemoveConf removes one file of superd's config directory.
func h2RemoveConf(t *testing.T, s *superd, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(s.Dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
}

// h2ReloadEnds counts the "reloaded" and "reload failed" lines so far.
func (s *superd) h2ReloadEnds() int {
	n := 0
	for _, l := range s.snapshot() {
		if l.Msg() == "reloaded" || l.Msg() == "reload failed" {
			n++
		}
	}
	return n
}

// h2CountMsg counts the log lines so far matching pred.
func (s *superd) h2CountMsg(pred func(logLine) bool) int {
	n := 0
	for _, l := range s.snapshot() {
		if pred(l) {
			n++
		}
	}
	return n
}

// h2HupAndWait sends SIGHUP to superd and waits for the line ending that
// reload ("reloaded" or "reload failed"), failing unless it is want.
func (s *superd) h2HupAndWait(want string) logLine {
	s.t.Helper()
	before := s.h2ReloadEnds()
	s.Signal(syscall.SIGHUP)
	n := 0
	l := s.mustLog(10*time.Second, "ending reload "+strconv.Itoa(before+1), func(l logLine) bool {
		if l.Msg() == "reloaded" || l.Msg() == "reload failed" {
			n++
			return n > before
		}
		return false
	})
	if l.Msg() != want {
		s.t.Fatalf("reload ended with %s, want msg=%q", l, want)
	}
	return l
}

// h2LastListening is the address of the last "listening" line of service
// name so far.
func (s *superd) h2LastListening(name string) string {
	s.t.Helper()
	addr := ""
	for _, l := range s.snapshot() {
		if msgIs("listening", "service", name)(l) {
			addr = l.Get("addr")
		}
	}
	if addr == "" {
		s.t.Fatalf("no listening line for service %q", name)
	}
	return addr
}

// h2FreeAddr returns a loopback address with a port that was free a moment
// ago on network ("tcp" or "udp"), for tools that need a port up front.
// Both TCP and UDP are checked, so the port suits either.
func h2FreeAddr(t *testing.T) string {
	t.Helper()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		u, err := net.ListenPacket("udp4", addr)
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return addr
	}
	t.Fatal("no free loopback port for both TCP and UDP")
	return ""
}

// h2DialFrom connects to a TCP addr from local IP src, without t.
func h2DialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: ioTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(ioTimeout))
	return c, nil
}

// h2Fetch connects to a TCP addr (from src if not ""), sends in,
// half-closes and reads to EOF, without t: for goroutines and retries.
func h2Fetch(src, addr, in string) (string, error) {
	var c net.Conn
	var err error
	if src != "" {
		c, err = h2DialFrom(src, addr)
	} else {
		c, err = net.DialTimeout("tcp", addr, ioTimeout)
	}
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	if in != "" {
		if _, err := io.WriteString(c, in); err != nil {
			return "", err
		}
	}
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	return string(b), err
}

// h2Refused reports whether connecting to a TCP addr is refused.
func h2Refused(addr string) (bool, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
		return false, nil
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true, nil
	}
	return false, err
}

// h2SocketInodes is the set of "socket:[N]" targets among pid's descriptors.
func h2SocketInodes(t *testing.T, pid int) []string {
	t.Helper()
	_, targets := fdCount(t, pid)
	var out []string
	for _, tg := range targets {
		if _, l, ok := strings.Cut(tg, " -> "); ok && strings.HasPrefix(l, "socket:") {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}
