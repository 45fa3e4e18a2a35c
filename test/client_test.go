package test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Clients, the handler report, and /proc helpers.

const ioTimeout = 5 * time.Second

// roundTrip connects, sends in (then half-closes if closeWrite), and
// reads until EOF, all within ioTimeout.
func roundTrip(t *testing.T, network, addr, in string, closeWrite bool) string {
	t.Helper()
	c, err := net.DialTimeout(network, addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	if in != "" {
		if _, err := io.WriteString(c, in); err != nil {
			t.Fatalf("write %s: %v", addr, err)
		}
	}
	if closeWrite {
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read %s %s: %v (got %q)", network, addr, err, b)
	}
	return string(b)
}

// FD and Report mirror testdata/handler.
type FD struct {
	FD         int    `json:"fd"`
	Target     string `json:"target"`
	NonBlock   bool   `json:"nonblock"`
	IsSocket   bool   `json:"is_socket"`
	SockType   int    `json:"sock_type"`
	SockDomain int    `json:"sock_domain"`
	Listening  bool   `json:"listening"`
	Local      string `json:"local"`
	Peer       string `json:"peer"`
}

type Report struct {
	Args    []string             `json:"args"`
	Pid     int                  `json:"pid"`
	Ppid    int                  `json:"ppid"`
	Pgid    int                  `json:"pgid"`
	Sid     int                  `json:"sid"`
	TtyNr   int                  `json:"tty_nr"`
	Nice    int                  `json:"nice"`
	UID     int                  `json:"uid"`
	EUID    int                  `json:"euid"`
	GID     int                  `json:"gid"`
	EGID    int                  `json:"egid"`
	Groups  []int                `json:"groups"`
	Env     []string             `json:"env"`
	Cwd     string               `json:"cwd"`
	Umask   string               `json:"umask"`
	Status  map[string]string    `json:"status"`
	Rlimits map[string][2]uint64 `json:"rlimits"`
	FDs     []FD                 `json:"fds"`
	Stdin   string               `json:"stdin"`
	Errors  []string             `json:"errors"`
}

func parseReport(t *testing.T, b string) *Report {
	t.Helper()
	var r Report
	if err := json.Unmarshal([]byte(b), &r); err != nil {
		t.Fatalf("handler report %q: %v", b, err)
	}
	if len(r.Errors) > 0 {
		t.Logf("handler report errors: %q", r.Errors)
	}
	return &r
}

// getReport connects to a service whose handler writes a report, and
// returns it with the client's own local address.
func getReport(t *testing.T, network, addr string) (*Report, string) {
	t.Helper()
	c, err := net.DialTimeout(network, addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read report from %s: %v (got %q)", addr, err, b)
	}
	return parseReport(t, string(b)), c.LocalAddr().String()
}

// udpExchange sends payload from a fresh 127.0.0.1 socket to addr and
// returns the first reply and the address it came from.
func udpExchange(t *testing.T, addr, payload string) (string, *net.UDPAddr) {
	t.Helper()
	c := udpClient(t, "udp4", "127.0.0.1:0")
	return udpSendRecv(t, c, addr, payload)
}

func udpClient(t *testing.T, network, laddr string) *net.UDPConn {
	t.Helper()
	la, err := net.ResolveUDPAddr(network, laddr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP(network, la)
	if err != nil {
		t.Fatalf("listen udp %s: %v", laddr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func udpSendRecv(t *testing.T, c *net.UDPConn, addr, payload string) (string, *net.UDPAddr) {
	t.Helper()
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteToUDP([]byte(payload), ra); err != nil {
		t.Fatalf("send to %s: %v", addr, err)
	}
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	buf := make([]byte, 65536)
	n, from, err := c.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("no reply from %s: %v", addr, err)
	}
	return string(buf[:n]), from
}

// udpTry is udpExchange for goroutines: no t.
func udpTry(addr, payload string) (string, error) {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := c.Write([]byte(payload)); err != nil {
		return "", err
	}
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	return string(buf[:n]), err
}

// env turns a KEY=VALUE list into a map, failing on duplicates.
func envMap(t *testing.T, env []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := m[k]; dup {
			t.Errorf("environment has %s twice: %q", k, env)
		}
		m[k] = v
	}
	return m
}

func keys(m map[string]string) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

// fdTable is the report's fds by number.
func (r *Report) fdTable() map[int]FD {
	m := map[int]FD{}
	for _, f := range r.FDs {
		m[f.FD] = f
	}
	return m
}

// ---- /proc ----

// procStat returns state and ppid of pid from /proc/PID/stat.
func procStat(pid int) (state string, ppid int, comm string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, "", false
	}
	s := string(b)
	i := strings.IndexByte(s, '(')
	j := strings.LastIndexByte(s, ')')
	if i < 0 || j < i {
		return "", 0, "", false
	}
	f := strings.Fields(s[j+1:])
	if len(f) < 2 {
		return "", 0, "", false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0], ppid, s[i+1 : j], true
}

// children lists the processes whose parent is pid: "pid comm state".
func children(pid int) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, ppid, comm, ok := procStat(p)
		if ok && ppid == pid {
			out = append(out, fmt.Sprintf("%d %s %s", p, comm, state))
		}
	}
	return out
}

// serviceChildren lists pid's children that belong to service: their
// environment (the exec helper's too) holds SUPERD_SERVICE=service.
// Zombies have no environment left and are not listed; superd holds
// their instance slot until it reaps them.
func serviceChildren(pid int, service string) []string {
	want := []byte("\x00SUPERD_SERVICE=" + service + "\x00")
	var out []string
	for _, c := range children(pid) {
		p, _, _ := strings.Cut(c, " ")
		env, err := os.ReadFile("/proc/" + p + "/environ")
		if err == nil && bytes.Contains(append([]byte{0}, env...), want) {
			out = append(out, c)
		}
	}
	return out
}

// zombies lists pid's zombie children.
func zombies(pid int) []string {
	var z []string
	for _, c := range children(pid) {
		if strings.HasSuffix(c, " Z") {
			z = append(z, c)
		}
	}
	return z
}

// processGone reports whether pid no longer exists (or is a zombie).
func processGone(pid int) bool {
	state, _, _, ok := procStat(pid)
	return !ok || state == "Z" || state == "X"
}

// waitGone waits up to d for pid to go away.
func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if processGone(pid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fdCount(t *testing.T, pid int) (int, []string) {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	var targets []string
	for _, e := range ents {
		l, _ := os.Readlink(filepath.Join(dir, e.Name()))
		targets = append(targets, e.Name()+" -> "+l)
	}
	return len(ents), targets
}

// eventually polls cond every 20 ms for up to d.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readLine reads one '\n'-terminated line from c within ioTimeout.
func readLine(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read line from %s: %v (got %q)", c.RemoteAddr(), err, line)
	}
	return strings.TrimSuffix(line, "\n")
}

// startedPid parses "started PID".
func startedPid(t *testing.T, line string) int {
	t.Helper()
	var pid int
	if _, err := fmt.Sscanf(line, "started %d", &pid); err != nil {
		t.Fatalf("handler said %q, want \"started PID\"", line)
	}
	return pid
}

// ipv6OK reports whether [::1] can be bound.
func ipv6OK() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// dialHold connects and returns the conn after reading the handler's
// "started PID" line.
func dialHold(t *testing.T, addr string) (net.Conn, int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c, startedPid(t, readLine(t, c))
}

// waitEOF waits up to d for the peer to close c and returns how long it took.
func waitEOF(t *testing.T, c net.Conn, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(d))
	buf := make([]byte, 512)
	for {
		_, err := c.Read(buf)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("connection %s still open after %v", c.RemoteAddr(), d)
			}
			return time.Since(start)
		}
	}
}

// portOf is the port of a host:port address.
func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// helloPid parses "hello PID".
func helloPid(t *testing.T, s string) int {
	t.Helper()
	var pid int
	if _, err := fmt.Sscanf(strings.TrimSpace(s), "hello %d", &pid); err != nil {
		t.Fatalf("handler said %q, want \"hello PID\"", s)
	}
	return pid
}
