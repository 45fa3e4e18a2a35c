package test

import (
	"encoding/binary"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// dialFrom connects to addr from local IP src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: ioTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(ioTimeout))
	return c
}

func readConn(t *testing.T, c net.Conn) string {
	t.Helper()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read %s: %v (got %q)", c.RemoteAddr(), err, b)
	}
	return string(b)
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	s := startSuperd(t, map[string]string{
		"svc.hcl": service("acl", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo served"),
			`access {`, `  allow = ["127.0.0.2"]`, `  deny_message = "go away\r\n"`, `}`) +
			service("longest", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo served"),
				`access {`, `  allow = ["127.0.0.0/8"]`, `  deny = ["127.0.0.2"]`, `}`) +
			service("one", `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("sleep", "1", "60"),
				`limits {`, `  instances = 1`, `}`) +
			service("ucat", `protocol = "udp"`, `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`),
	})
	t.Run("acl deny_message", func(t *testing.T) {
		t.Parallel()
		c := dialFrom(t, "127.0.0.1", s.addr("acl"))
		if got := readConn(t, c); got != "go away\r\n" {
			t.Errorf("refused client got %q, want the deny_message", got)
		}
		s.mustLog(5*time.Second, "refused reason=acl", msgIs("refused", "service", "acl", "reason", "acl", "remote", c.LocalAddr().String()))
		if got := readConn(t, dialFrom(t, "127.0.0.2", s.addr("acl"))); got != "served\n" {
			t.Errorf("allowed client got %q, want served", got)
		}
	})
	t.Run("longer prefix wins", func(t *testing.T) {
		t.Parallel()
		if got := readConn(t, dialFrom(t, "127.0.0.2", s.addr("longest"))); got != "" {
			t.Errorf("denied 127.0.0.2 got %q, want nothing", got)
		}
		if got := readConn(t, dialFrom(t, "127.0.0.1", s.addr("longest"))); got != "served\n" {
			t.Errorf("allowed 127.0.0.1 got %q, want served", got)
		}
	})
	t.Run("instances", func(t *testing.T) {
		t.Parallel()
		_, pid := dialHold(t, s.addr("one"))
		c := dialFrom(t, "127.0.0.1", s.addr("one"))
		if got := readConn(t, c); got != "" {
			t.Errorf("second client got %q, want to be closed at once", got)
		}
		s.mustLog(5*time.Second, "refused reason=instances", msgIs("refused", "service", "one", "reason", "instances"))
		if processGone(pid) {
			t.Errorf("first handler %d gone", pid)
		}
	})
	t.Run("udp reserved source port", func(t *testing.T) {
		t.Parallel()
		if !isRoot() {
			t.Skip("needs root: binding a source port below 1024")
		}
		var c *net.UDPConn
		for p := 900; p < 1000 && c == nil; p++ {
			c, _ = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		}
		if c == nil {
			t.Skip("no free port below 1024")
		}
		defer c.Close()
		ra, _ := net.ResolveUDPAddr("udp", s.addr("ucat"))
		c.WriteToUDP([]byte("storm"), ra)
		c.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
		if n, from, err := c.ReadFromUDP(make([]byte, 100)); err == nil {
			t.Errorf("got a %d-byte reply from %s to a datagram from port %d", n, from, c.LocalAddr().(*net.UDPAddr).Port)
		}
		if got, _ := udpExchange(t, s.addr("ucat"), "fine"); got != "fine" {
			t.Errorf("ordinary client got %q", got)
		}
	})
}

func TestBuiltins(t *testing.T) {
	t.Parallel()
	s := startSuperd(t, map[string]string{
		"svc.hcl": service("echo", `builtin = "echo"`, `listen = ["127.0.0.1:0"]`) +
			service("uecho", `builtin = "echo"`, `protocol = "udp"`, `listen = ["127.0.0.1:0"]`) +
			service("daytime", `builtin = "daytime"`, `listen = ["127.0.0.1:0"]`) +
			service("time", `builtin = "time"`, `protocol = "udp"`, `listen = ["127.0.0.1:0"]`) +
			service("chargen", `builtin = "chargen"`, `listen = ["127.0.0.1:0"]`) +
			service("discard", `builtin = "discard"`, `listen = ["127.0.0.1:0"]`),
	})
	if got := roundTrip(t, "tcp", s.addr("echo"), "abc\r\n", true); got != "abc\r\n" {
		t.Errorf("echo = %q", got)
	}
	if got, from := udpExchange(t, s.addr("uecho"), "dgram"); got != "dgram" || from.String() != s.addr("uecho") {
		t.Errorf("udp echo = %q from %s", got, from)
	}
	day := roundTrip(t, "tcp", s.addr("daytime"), "", false)
	if !regexp.MustCompile(`^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\r\n$`).MatchString(day) {
		t.Errorf("daytime = %q, want Mon Jan _2 15:04:05 2006\\r\\n", day)
	}
	got, _ := udpExchange(t, s.addr("time"), "")
	if len(got) != 4 {
		t.Fatalf("time reply %q, want 4 bytes", got)
	}
	secs := int64(binary.BigEndian.Uint32([]byte(got)))
	if want := (time.Now().Unix() + 2208988800) % (1 << 32); secs < want-5 || secs > want+5 {
		t.Errorf("time = %d, want about %d", secs, want)
	}
	c, err := net.DialTimeout("tcp", s.addr("chargen"), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(ioTimeout))
	buf := make([]byte, 74*3)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("chargen: %v", err)
	}
	c.Close()
	lines := strings.SplitAfter(string(buf), "\r\n")
	for i := 0; i < 2; i++ {
		if len(lines[i]) != 74 || !strings.HasSuffix(lines[i], "\r\n") {
			t.Errorf("chargen line %d = %q, want 72 characters and CRLF", i, lines[i])
		}
	}
	if len(lines[0]) == 74 && len(lines[1]) == 74 && lines[0][1:72] != lines[1][:71] {
		t.Errorf("chargen lines %q, %q do not rotate by one", lines[0], lines[1])
	}
	if got := roundTrip(t, "tcp", s.addr("discard"), "into the void", true); got != "" {
		t.Errorf("discard answered %q", got)
	}
}
