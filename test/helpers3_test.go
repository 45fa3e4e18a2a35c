package test

// Helpers shared by access_test.go, limits_test.go and convert_test.go:
// clients with a chosen loopback source address, marker directories that
// record which handlers ran, free ports picked ahead of time, and reading
// the metrics endpoint.

import (
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dialSrc connects to a TCP addr from the local IP src ("" for any) with
// ioTimeout as deadline. The connection is closed at cleanup.
func dialSrc(t *testing.T, src, addr string) *net.TCPConn {
	t.Helper()
	c, err := dialSrcErr(src, addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dialSrcErr(src, addr string) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: ioTimeout}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(ioTimeout))
	return c.(*net.TCPConn), nil
}

// fetchFrom connects to addr from src and reads until EOF (for goroutines:
// no t). A connection reset after the data counts as the end.
func fetchFrom(src, addr string) (string, error) {
	c, err := dialSrcErr(src, addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		return string(b), fmt.Errorf("read from %s: %w", addr, err)
	}
	return string(b), nil
}

// getFrom connects to addr from src, reads until EOF and returns what it
// got and the client's own address.
func getFrom(t *testing.T, src, addr string) (string, string) {
	t.Helper()
	c := dialSrc(t, src, addr)
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read %s from %s: %v (got %q)", addr, src, err, b)
	}
	return string(b), c.LocalAddr().String()
}

// holdFrom connects to a service whose handler is testdata/handler
// "sleep": it reads the "started PID" line and returns the connection and
// the handler's pid. The handler is killed at cleanup.
func holdFrom(t *testing.T, src, addr string) (*net.TCPConn, int) {
	t.Helper()
	c := dialSrc(t, src, addr)
	pid := startedPid(t, readLine(t, c))
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	return c, pid
}

// refusedFrom connects from src and expects superd to close the connection
// at once without a byte (or with want, the deny_message). It returns the
// client's address, as superd logs it.
func refusedFrom(t *testing.T, src, addr, want string) string {
	t.Helper()
	got, local := getFrom(t, src, addr)
	if got != want {
		t.Errorf("client %s of %s got %q, want %q (refused)", local, addr, got, want)
	}
	return local
}

// markerDir makes a directory every handler user can write into, outside
// t.TempDir() (whose 0700 parent the user nobody cannot traverse), and
// removes it at cleanup.
func markerDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "superd-marker-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// markerCmd is an HCL command list: a shell that leaves the file
// DIR/TAG-REMOTE_ADDR-PID behind, then writes "served\n" to the client.
func markerCmd(dir, tag string) string {
	return shCmd(fmt.Sprintf(`touch %s/%s-$REMOTE_ADDR-$$; echo served`, dir, tag))
}

// markers lists the marker files in dir whose names start with prefix.
func markers(t *testing.T, dir, prefix string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read marker dir: %v", err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// countLogs counts superd's log lines so far matching pred.
func (s *superd) countLogs(pred func(logLine) bool) int {
	n := 0
	for _, l := range s.snapshot() {
		if pred(l) {
			n++
		}
	}
	return n
}

// pickPorts returns n distinct loopback ports that are free for both TCP
// and UDP right now. They come from below the kernel's ephemeral range, so
// other tests binding ":0" cannot be handed them.
func pickPorts(t *testing.T, n int) []int {
	t.Helper()
	rnd := rand.New(rand.NewSource(time.Now().UnixNano()))
	seen := map[int]bool{}
	var out []int
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000 {
			t.Fatalf("found only %d free ports", len(out))
		}
		p := 20000 + rnd.Intn(12000)
		if seen[p] {
			continue
		}
		seen[p] = true
		a := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		l, err := net.Listen("tcp4", a)
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp4", a)
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		out = append(out, p)
	}
	return out
}

// udpFrom sends payload to addr from a fresh socket bound to src and waits
// up to wait for a reply; ok is false if none came.
func udpFrom(t *testing.T, src, addr, payload string, wait time.Duration) (reply string, local string, ok bool) {
	t.Helper()
	c := udpClient(t, "udp4", net.JoinHostPort(src, "0"))
	ra, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteToUDP([]byte(payload), ra); err != nil {
		t.Fatalf("send to %s: %v", addr, err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 65536)
	n, _, err := c.ReadFromUDP(buf)
	if err != nil {
		return "", c.LocalAddr().String(), false
	}
	return string(buf[:n]), c.LocalAddr().String(), true
}

// metricsDaemon is a daemon block that serves metrics on a kernel-chosen
// port; find it with metricsAddr.
const metricsDaemon = "daemon {\n  metrics_listen = \"127.0.0.1:0\"\n  shutdown_grace = \"1s\"\n  kill_delay = \"1s\"\n}\n"

// metricsAddr is the address superd's metrics endpoint listens on.
func (s *superd) metricsAddr() string {
	s.t.Helper()
	l := s.mustLog(5*time.Second, "metrics listening", func(l logLine) bool {
		return strings.Contains(l.Msg(), "metrics") && l.Get("addr") != ""
	})
	return l.Get("addr")
}

// connections reads superd_connections_total{service,result} from the
// metrics endpoint at maddr.
func connections(t *testing.T, maddr, svc, result string) int {
	t.Helper()
	hc := http.Client{Timeout: ioTimeout}
	resp, err := hc.Get("http://" + maddr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	re := regexp.MustCompile(`(?m)^superd_connections_total\{([^}]*)\} (\d+)$`)
	for _, m := range re.FindAllStringSubmatch(string(body), -1) {
		if strings.Contains(m[1], `service="`+svc+`"`) && strings.Contains(m[1], `result="`+result+`"`) {
			n, _ := strconv.Atoi(m[2])
			return n
		}
	}
	t.Fatalf("/metrics has no superd_connections_total{service=%q,result=%q}:\n%s", svc, result, body)
	return 0
}
