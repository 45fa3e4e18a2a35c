package metrics

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/superd-dev/superd/daemon"
)

// listenTest serves a registry with one service on a loopback port and
// closes the server when the test ends.
func listenTest(t *testing.T) *Server {
	t.Helper()
	src := &fakeSource{st: daemon.Stats{Services: []daemon.ServiceStats{oneService("echo")}}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := Listen("127.0.0.1:0", NewRegistry(src), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rawScrape sends req on a new connection to addr, half-closes it, and
// returns the whole response.
func rawScrape(t *testing.T, addr, req string) *http.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatalf("write request: %v", err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	return resp
}

func TestHalfCloseGetsMetrics(t *testing.T) {
	s := listenTest(t)
	for _, tc := range []struct{ name, req string }{
		{"HTTP/1.0", "GET /metrics HTTP/1.0\r\n\r\n"},
		{"HTTP/1.1", "GET /metrics HTTP/1.1\r\nHost: " + s.Addr() + "\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := rawScrape(t, s.Addr(), tc.req)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %s, want 200 OK; body %q", resp.Status, body)
			}
			if want := `superd_connections_total{result="accepted",service="echo"} 7`; !strings.Contains(string(body), want) {
				t.Errorf("body has no %q:\n%s", want, body)
			}
		})
	}
}

// openSockets counts this process's open socket descriptors.
func openSockets(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

func TestConnectionCap(t *testing.T) {
	s := listenTest(t)
	const extra = 36
	base := openSockets(t)

	// Idle clients that send nothing: each one the server accepts holds a
	// descriptor until its header timeout.
	conns := make([]net.Conn, 0, maxConns+extra)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range maxConns + extra {
		c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
	}

	// The clients' own sockets live in this process too. Wait until the
	// server has accepted what it will, then check it stopped at the cap.
	clients := len(conns)
	limit := base + clients + maxConns + 4
	var n int
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		n = openSockets(t)
		if n > limit {
			break
		}
	}
	if n > limit {
		t.Fatalf("open sockets with %d idle clients = %d, want at most %d (baseline %d, cap %d)",
			clients, n, limit, base, maxConns)
	}
	if n < base+clients+maxConns-4 {
		t.Logf("server accepted fewer than the cap: %d sockets, baseline %d", n, base)
	}

	// A scrape while the cap is full waits in the backlog; once the idle
	// clients leave it is served.
	for _, c := range conns {
		c.Close()
	}
	conns = conns[:0]
	resp := rawScrape(t, s.Addr(), "GET /metrics HTTP/1.0\r\n\r\n")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape after idle clients left: status = %s, want 200 OK", resp.Status)
	}

	// Every slot came back: the cap's worth of clients can be accepted again
	// and the server still answers the next one.
	for range maxConns - 1 {
		c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
	}
	resp = rawScrape(t, s.Addr(), "GET /metrics HTTP/1.0\r\n\r\n")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape beside %d idle clients: status = %s, want 200 OK", len(conns), resp.Status)
	}
}

func TestCloseWithFullCap(t *testing.T) {
	src := &fakeSource{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := Listen("127.0.0.1:0", NewRegistry(src), log)
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range maxConns + 8 {
		c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Close()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close with the connection cap full did not return")
	}
	if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		c.Close()
		t.Error("dial after Close succeeded; want the port closed")
	}
}
