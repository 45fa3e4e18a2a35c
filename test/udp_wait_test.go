package test

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestUDPStdio(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"svc.hcl": service("ucat", `protocol = "udp"`, `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`) +
			service("ureport", `protocol = "udp"`, `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("report-stdin", "1")) +
			service("utwice", `protocol = "udp"`, `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("udp-twice", "1")),
	}
	v6 := ipv6OK()
	if v6 {
		files["dual.hcl"] = service("udual", `protocol = "udp"`, `listen = [":0"]`, userLine, `command = ["/bin/cat"]`)
	}
	s := startSuperd(t, files)

	t.Run("echo", func(t *testing.T) {
		t.Parallel()
		addr := s.addr("ucat")
		for i := range 3 {
			msg := fmt.Sprintf("ping %d", i)
			got, from := udpExchange(t, addr, msg)
			if got != msg {
				t.Errorf("udp cat reply = %q, want %q", got, msg)
			}
			if from.String() != addr {
				t.Errorf("udp reply came from %s, want %s", from, addr)
			}
		}
	})
	t.Run("report", func(t *testing.T) {
		t.Parallel()
		addr := s.addr("ureport")
		c := udpClient(t, "udp4", "127.0.0.1:0")
		got, from := udpSendRecv(t, c, addr, "payload-1")
		if from.String() != addr {
			t.Errorf("udp reply came from %s, want %s", from, addr)
		}
		r := parseReport(t, got)
		if r.Stdin != "payload-1" {
			t.Errorf("handler stdin = %q, want the datagram %q", r.Stdin, "payload-1")
		}
		env := envMap(t, r.Env)
		local := c.LocalAddr().String()
		want := map[string]string{
			"PROTO": "UDP", "SUPERD_SERVICE": "ureport",
			"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": portOf(local),
			"LOCAL_ADDR": "127.0.0.1", "LOCAL_PORT": s.port("ureport"),
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("handler env %s = %q, want %q", k, env[k], v)
			}
		}
		fds := r.fdTable()
		if f := fds[0]; f.IsSocket || !strings.HasPrefix(f.Target, "pipe:") {
			t.Errorf("fd 0 = %+v, want a pipe", f)
		}
		if f := fds[1]; !f.IsSocket || f.SockType != syscall.SOCK_DGRAM || f.Peer != local || f.Local != addr || f.NonBlock {
			t.Errorf("fd 1 = %+v, want a blocking UDP socket %s connected to %s", f, addr, local)
		}
		if _, ok := fds[3]; ok {
			t.Errorf("fd 3 open in a stdio handler: %+v", fds[3])
		}
	})
	t.Run("same client reaches running handler", func(t *testing.T) {
		t.Parallel()
		addr := s.addr("utwice")
		c := udpClient(t, "udp4", "127.0.0.1:0")
		if got, _ := udpSendRecv(t, c, addr, "a"); got != "first:a" {
			t.Fatalf("first reply = %q, want %q", got, "first:a")
		}
		if got, _ := udpSendRecv(t, c, addr, "b"); got != "second:b" {
			t.Errorf("second datagram from the same client: reply %q, want %q (the running handler's reply socket should get it)", got, "second:b")
		}
	})
	t.Run("dual-stack reply source", func(t *testing.T) {
		t.Parallel()
		if !v6 {
			t.Skip("needs IPv6 on loopback")
		}
		port := s.port("udual")
		// Sent to 127.0.0.2, the reply must come from 127.0.0.2.
		c := udpClient(t, "udp4", "127.0.0.1:0")
		got, from := udpSendRecv(t, c, "127.0.0.2:"+port, "to .2")
		if got != "to .2" || from.String() != "127.0.0.2:"+port {
			t.Errorf("reply %q from %s, want %q from 127.0.0.2:%s", got, from, "to .2", port)
		}
		c6 := udpClient(t, "udp6", "[::1]:0")
		got, from = udpSendRecv(t, c6, "[::1]:"+port, "to ::1")
		if got != "to ::1" || from.String() != "[::1]:"+port {
			t.Errorf("reply %q from %s, want %q from [::1]:%s", got, from, "to ::1", port)
		}
	})
}

func TestUDPPassFD(t *testing.T) {
	t.Parallel()
	s := startSuperd(t, map[string]string{
		"svc.hcl": service("ufd", `protocol = "udp"`, `pass = "fd"`, `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("report-stdin", "3")),
	})
	addr := s.addr("ufd")
	c := udpClient(t, "udp4", "127.0.0.1:0")
	got, from := udpSendRecv(t, c, addr, "dgram")
	if from.String() != addr {
		t.Errorf("reply came from %s, want %s", from, addr)
	}
	r := parseReport(t, got)
	local := c.LocalAddr().String()
	env := envMap(t, r.Env)
	want := map[string]string{
		"LISTEN_FDS": "1", "LISTEN_PID": strconv.Itoa(r.Pid), "LISTEN_FDNAMES": "ufd",
		"PROTO": "UDP", "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": portOf(local),
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("handler env %s = %q, want %q", k, env[k], v)
		}
	}
	if r.Stdin != "dgram" {
		t.Errorf("handler stdin = %q, want %q", r.Stdin, "dgram")
	}
	fds := r.fdTable()
	if f := fds[0]; f.IsSocket || !strings.HasPrefix(f.Target, "pipe:") {
		t.Errorf("fd 0 = %+v, want a pipe carrying the datagram", f)
	}
	if f := fds[3]; !f.IsSocket || f.SockType != syscall.SOCK_DGRAM || f.Peer != local || f.Local != addr || f.NonBlock {
		t.Errorf("fd 3 = %+v, want a blocking UDP socket %s connected to %s", f, addr, local)
	}
}

func TestWaitTCP(t *testing.T) {
	t.Parallel()
	s := startSuperd(t, map[string]string{
		"svc.hcl": service("wstdio", `mode = "wait"`, `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("wait-accept", "0")) +
			service("wfd", `mode = "wait"`, `pass = "fd"`, `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("wait-accept", "3")),
	})
	for _, name := range []string{"wstdio", "wfd"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p1 := helloPid(t, roundTrip(t, "tcp", s.addr(name), "", false))
			s.mustLog(5*time.Second, fmt.Sprintf("handler exited pid=%d", p1), msgIs("handler exited", "service", name, "pid", strconv.Itoa(p1)))
			p2 := helloPid(t, roundTrip(t, "tcp", s.addr(name), "", false))
			if p1 == p2 {
				t.Errorf("second connection served by the same pid %d", p1)
			}
		})
	}
}

func TestWaitUDP(t *testing.T) {
	t.Parallel()
	s := startSuperd(t, map[string]string{
		"svc.hcl": service("wudp", `protocol = "udp"`, `mode = "wait"`, `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("wait-udp", "0")) +
			service("wudpfd", `protocol = "udp"`, `mode = "wait"`, `pass = "fd"`, `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("wait-udp", "3")),
	})
	for _, name := range []string{"wudp", "wudpfd"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			addr := s.addr(name)
			got, from := udpExchange(t, addr, "x")
			p1 := helloPid(t, got)
			if from.String() != addr {
				t.Errorf("reply came from %s, want %s", from, addr)
			}
			s.mustLog(5*time.Second, fmt.Sprintf("handler exited pid=%d", p1), msgIs("handler exited", "service", name, "pid", strconv.Itoa(p1)))
			got, _ = udpExchange(t, addr, "y")
			if p2 := helloPid(t, got); p2 == p1 {
				t.Errorf("second datagram served by the same pid %d", p1)
			}
		})
	}
}
