// Command loadgen is a loopback-only load generator for comparing
// super-servers (superd, xinetd, inetd, tcpserver, a C accept+fork+exec
// loop) on the same handler.
//
// TCP: each of -c workers connects, optionally writes -send (then
// half-closes so a handler such as /bin/cat sees EOF), reads until EOF and
// closes, again and again until -d has passed or -n connections were made.
// It reports connections per second, connect→first byte and connect→EOF
// latency percentiles, and errors by kind.
//
// UDP: each worker sends -send from a fresh socket (a fresh source port,
// like a new client) and waits -timeout for a reply datagram.
//
// -mode refuse counts connections that are accepted and closed at once
// with no bytes (or exactly -expect, the deny message) as successes: the
// rate of refusals a server sustains.
//
//	loadgen -addr 127.0.0.1:20001 -c 32 -d 5s -expect 'hello\n'
//	loadgen -addr 127.0.0.1:20002 -send 'ping\n' -expect 'ping\n'
//	loadgen -addr 127.0.0.1:20003 -mode refuse -src 127.0.0.2
//	loadgen -addr 127.0.0.1:20004 -proto udp -send 'ping\n' -expect 'ping\n'
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const maxDuration = 60 * time.Second

type options struct {
	addr    string
	proto   string
	mode    string
	c       int
	d       time.Duration
	n       int64
	send    []byte
	expect  []byte
	anyData bool
	timeout time.Duration
	src     string
	linger0 bool
	json    bool
	label   string
}

// errKind names the ways one connection can fail.
var errKinds = []string{"refused", "reset", "timeout", "short_read", "wrong_bytes", "addr_unavail", "other"}

type result struct {
	ok        bool
	kind      string // when !ok
	firstByte time.Duration
	total     time.Duration
	end       time.Duration // since the run's start
	detail    string
}

type workerStats struct {
	ok        int64
	errs      map[string]int64
	firstByte []time.Duration
	total     []time.Duration
	lastEnd   time.Duration
	sample    map[string]string
}

// Report is what -json prints.
type Report struct {
	Label      string            `json:"label,omitempty"`
	Addr       string            `json:"addr"`
	Proto      string            `json:"proto"`
	Mode       string            `json:"mode"`
	Src        string            `json:"src,omitempty"`
	C          int               `json:"concurrency"`
	Duration   float64           `json:"duration_s"`
	Elapsed    float64           `json:"elapsed_s"`
	OK         int64             `json:"ok"`
	Errors     int64             `json:"errors"`
	ErrorKinds map[string]int64  `json:"error_kinds"`
	ErrSample  map[string]string `json:"error_sample,omitempty"`
	Rate       float64           `json:"rate_per_s"`
	FirstByte  Percentiles       `json:"first_byte_ms"`
	Total      Percentiles       `json:"total_ms"`
}

// Percentiles in milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var send, expect string
	fs.StringVar(&o.addr, "addr", "", "server address, host:port on loopback (required)")
	fs.StringVar(&o.proto, "proto", "tcp", "tcp | udp")
	fs.StringVar(&o.mode, "mode", "request", "request: expect a reply | refuse: count accepted-then-closed connections")
	fs.IntVar(&o.c, "c", 1, "concurrent workers")
	fs.DurationVar(&o.d, "d", 5*time.Second, "run time (at most 60s)")
	fs.Int64Var(&o.n, "n", 2_000_000, "at most this many connections or requests")
	fs.StringVar(&send, "send", "", `bytes to write after connecting (Go escapes allowed, e.g. "ping\n"); TCP half-closes after`)
	fs.StringVar(&expect, "expect", "", `bytes expected back before EOF (escapes allowed); empty: any non-empty reply (refuse mode: nothing, or this deny message)`)
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "per connection or request")
	fs.StringVar(&o.src, "src", "", "source IP to bind (loopback), e.g. 127.0.0.2")
	fs.BoolVar(&o.linger0, "linger0", false, "close with SO_LINGER 0 (RST) after EOF, so the client keeps no TIME_WAIT")
	fs.BoolVar(&o.json, "json", false, "print a JSON report")
	fs.StringVar(&o.label, "label", "", "label copied into the report")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := o.check(send, expect); err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	rep := load(&o)
	if o.json {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
	} else {
		printText(stdout, rep)
	}
	return 0
}

func unescape(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := strconv.Unquote(`"` + strings.ReplaceAll(s, `"`, `\"`) + `"`)
	if err != nil {
		return "", fmt.Errorf("bad escapes in %q: %w", s, err)
	}
	return u, nil
}

func (o *options) check(send, expect string) error {
	ap, err := netip.ParseAddrPort(o.addr)
	if err != nil {
		return fmt.Errorf("-addr %q: want IP:port: %w", o.addr, err)
	}
	if !ap.Addr().IsLoopback() {
		return fmt.Errorf("-addr %s: only loopback targets are allowed", o.addr)
	}
	if o.src != "" {
		a, err := netip.ParseAddr(o.src)
		if err != nil || !a.IsLoopback() {
			return fmt.Errorf("-src %q: want a loopback IP", o.src)
		}
	}
	switch o.proto {
	case "tcp", "udp":
	default:
		return fmt.Errorf("-proto %q: want tcp or udp", o.proto)
	}
	switch o.mode {
	case "request", "refuse":
	default:
		return fmt.Errorf("-mode %q: want request or refuse", o.mode)
	}
	if o.proto == "udp" && o.mode == "refuse" {
		return errors.New("-mode refuse is TCP only (a refused datagram is dropped)")
	}
	if o.c < 1 || o.c > 10000 {
		return fmt.Errorf("-c %d: want 1..10000", o.c)
	}
	if o.d <= 0 || o.d > maxDuration {
		return fmt.Errorf("-d %s: want (0, %s]", o.d, maxDuration)
	}
	if o.n < 1 {
		return fmt.Errorf("-n %d: want >= 1", o.n)
	}
	if o.timeout <= 0 || o.timeout > maxDuration {
		return fmt.Errorf("-timeout %s: want (0, %s]", o.timeout, maxDuration)
	}
	s, err := unescape(send)
	if err != nil {
		return fmt.Errorf("-send: %w", err)
	}
	e, err := unescape(expect)
	if err != nil {
		return fmt.Errorf("-expect: %w", err)
	}
	o.send, o.expect = []byte(s), []byte(e)
	o.anyData = e == ""
	if o.proto == "udp" && len(o.send) == 0 {
		return errors.New("-proto udp needs -send")
	}
	return nil
}

func load(o *options) Report {
	var issued int64
	var mu sync.Mutex // guards issued
	take := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if issued >= o.n {
			return false
		}
		issued++
		return true
	}

	start := time.Now()
	deadline := start.Add(o.d)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	stats := make([]*workerStats, o.c)
	var wg sync.WaitGroup
	for i := range stats {
		ws := &workerStats{errs: map[string]int64{}, sample: map[string]string{}}
		stats[i] = ws
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newWorker(o)
			for ctx.Err() == nil && take() {
				r := w.once(start)
				if r.end > ws.lastEnd {
					ws.lastEnd = r.end
				}
				if r.ok {
					ws.ok++
					ws.firstByte = append(ws.firstByte, r.firstByte)
					ws.total = append(ws.total, r.total)
					continue
				}
				ws.errs[r.kind]++
				if _, seen := ws.sample[r.kind]; !seen && r.detail != "" {
					ws.sample[r.kind] = r.detail
				}
				if r.kind == "refused" || r.kind == "addr_unavail" {
					// Do not spin on a dead port or an exhausted port range.
					select {
					case <-ctx.Done():
					case <-time.After(time.Millisecond):
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	rep := Report{
		Label: o.label, Addr: o.addr, Proto: o.proto, Mode: o.mode, Src: o.src, C: o.c,
		Duration: o.d.Seconds(), ErrorKinds: map[string]int64{}, ErrSample: map[string]string{},
	}
	for _, k := range errKinds {
		rep.ErrorKinds[k] = 0
	}
	var fb, tot []time.Duration
	var lastEnd time.Duration
	for _, ws := range stats {
		rep.OK += ws.ok
		for k, v := range ws.errs {
			rep.ErrorKinds[k] += v
			rep.Errors += v
		}
		for k, v := range ws.sample {
			if _, ok := rep.ErrSample[k]; !ok {
				rep.ErrSample[k] = v
			}
		}
		fb = append(fb, ws.firstByte...)
		tot = append(tot, ws.total...)
		if ws.lastEnd > lastEnd {
			lastEnd = ws.lastEnd
		}
	}
	// The rate is over the time the work took: from the start to the end
	// of the last connection (at least -d, unless -n ran out first).
	if lastEnd <= 0 {
		lastEnd = elapsed
	}
	rep.Elapsed = lastEnd.Seconds()
	if rep.Elapsed > 0 {
		rep.Rate = float64(rep.OK) / rep.Elapsed
	}
	rep.FirstByte = percentiles(fb)
	rep.Total = percentiles(tot)
	return rep
}

func percentiles(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	at := func(q float64) float64 {
		i := int(q*float64(len(d)-1) + 0.5)
		return float64(d[i]) / 1e6
	}
	return Percentiles{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: float64(d[len(d)-1]) / 1e6}
}

func printText(w io.Writer, r Report) {
	fmt.Fprintf(w, "%s %s %s c=%d: %d ok in %.2fs = %.1f/s, %d errors",
		r.Proto, r.Addr, r.Mode, r.C, r.OK, r.Elapsed, r.Rate, r.Errors)
	for _, k := range errKinds {
		if v := r.ErrorKinds[k]; v > 0 {
			fmt.Fprintf(w, " %s=%d", k, v)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  first byte ms: p50 %.3f p90 %.3f p99 %.3f max %.3f\n", r.FirstByte.P50, r.FirstByte.P90, r.FirstByte.P99, r.FirstByte.Max)
	fmt.Fprintf(w, "  until EOF  ms: p50 %.3f p90 %.3f p99 %.3f max %.3f\n", r.Total.P50, r.Total.P90, r.Total.P99, r.Total.Max)
	for k, v := range r.ErrSample {
		fmt.Fprintf(w, "  e.g. %s: %s\n", k, v)
	}
}

type worker struct {
	o      *options
	dialer net.Dialer
	buf    []byte
	got    []byte
	raddr  *net.UDPAddr
	laddr  *net.UDPAddr
}

func newWorker(o *options) *worker {
	w := &worker{o: o, buf: make([]byte, 64<<10)}
	w.dialer.Timeout = o.timeout
	if o.src != "" {
		ip := net.ParseIP(o.src)
		if o.proto == "tcp" {
			w.dialer.LocalAddr = &net.TCPAddr{IP: ip}
		} else {
			w.laddr = &net.UDPAddr{IP: ip}
		}
	}
	if o.proto == "udp" {
		ap := netip.MustParseAddrPort(o.addr)
		w.raddr = net.UDPAddrFromAddrPort(ap)
	}
	return w
}

func (w *worker) once(start time.Time) result {
	if w.o.proto == "udp" {
		return w.udp(start)
	}
	return w.tcp(start)
}

func classify(err error) (kind, detail string) {
	detail = err.Error()
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused", detail
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset", detail
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return "addr_unavail", detail
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout", detail
	}
	return "other", detail
}

func (w *worker) tcp(start time.Time) (r result) {
	o := w.o
	t0 := time.Now()
	defer func() { r.end = time.Since(start) }()
	c, err := w.dialer.Dial("tcp", o.addr)
	if err != nil {
		r.kind, r.detail = classify(err)
		return r
	}
	tc := c.(*net.TCPConn)
	defer tc.Close()
	_ = tc.SetDeadline(t0.Add(o.timeout))
	if len(o.send) > 0 {
		if _, err := tc.Write(o.send); err != nil {
			r.kind, r.detail = classify(err)
			return r
		}
		if err := tc.CloseWrite(); err != nil {
			r.kind, r.detail = classify(err)
			return r
		}
	}
	w.got = w.got[:0]
	first := time.Duration(0)
	for {
		n, err := tc.Read(w.buf)
		if n > 0 {
			if first == 0 {
				first = time.Since(t0)
			}
			if len(w.got) < 1<<20 {
				w.got = append(w.got, w.buf[:n]...)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			r.kind, r.detail = classify(err)
			return r
		}
	}
	total := time.Since(t0)
	if o.linger0 {
		_ = tc.SetLinger(0)
	}
	if first == 0 {
		first = total
	}
	r.firstByte, r.total = first, total
	switch o.mode {
	case "refuse":
		if len(w.got) == 0 || (len(o.expect) > 0 && bytes.Equal(w.got, o.expect)) {
			r.ok = true
			return r
		}
		r.kind, r.detail = "wrong_bytes", fmt.Sprintf("got %q, want nothing or %q", trim(w.got), o.expect)
		return r
	default:
		if o.anyData {
			if len(w.got) == 0 {
				r.kind, r.detail = "short_read", "EOF before any byte"
				return r
			}
			r.ok = true
			return r
		}
		if bytes.Equal(w.got, o.expect) {
			r.ok = true
			return r
		}
		if len(w.got) < len(o.expect) && bytes.HasPrefix(o.expect, w.got) {
			r.kind, r.detail = "short_read", fmt.Sprintf("got %q, want %q", trim(w.got), o.expect)
			return r
		}
		r.kind, r.detail = "wrong_bytes", fmt.Sprintf("got %q, want %q", trim(w.got), o.expect)
		return r
	}
}

func (w *worker) udp(start time.Time) (r result) {
	o := w.o
	t0 := time.Now()
	defer func() { r.end = time.Since(start) }()
	// A fresh socket (so a fresh source port) per request: a new client to
	// the server, and no late reply from an earlier request can be taken
	// for this one.
	c, err := net.DialUDP("udp", w.laddr, w.raddr)
	if err != nil {
		r.kind, r.detail = classify(err)
		return r
	}
	defer c.Close()
	_ = c.SetDeadline(t0.Add(o.timeout))
	if _, err := c.Write(o.send); err != nil {
		r.kind, r.detail = classify(err)
		return r
	}
	n, err := c.Read(w.buf)
	if err != nil {
		r.kind, r.detail = classify(err)
		return r
	}
	r.total = time.Since(t0)
	r.firstByte = r.total
	got := w.buf[:n]
	switch {
	case o.anyData && n > 0, !o.anyData && bytes.Equal(got, o.expect):
		r.ok = true
	case n == 0:
		r.kind, r.detail = "short_read", "empty datagram"
	default:
		r.kind, r.detail = "wrong_bytes", fmt.Sprintf("got %q, want %q", trim(got), o.expect)
	}
	return r
}

func trim(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
