package listener

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestBindAcceptTCP(t *testing.T) {
	tests := []struct {
		name       string
		listen     string
		ipv6       bool
		dial       string // client connects to this IP on the bound port
		wantRemote string // the client's address as Accept reports it
		wantLocal  string
		wantFamily int
		wantV6Only int // -1: not an AF_INET6 socket
	}{
		{"ipv4", "127.0.0.1:0", false, "127.0.0.1", "127.0.0.1", "127.0.0.1", unix.AF_INET, -1},
		{"ipv4 wildcard", "0.0.0.0:0", false, "127.0.0.2", "127.0.0.1", "127.0.0.2", unix.AF_INET, -1},
		{"ipv6", "[::1]:0", true, "::1", "::1", "::1", unix.AF_INET6, 1},
		{"dual stack via ipv4", ":0", true, "127.0.0.1", "127.0.0.1", "127.0.0.1", unix.AF_INET6, 0},
		{"dual stack via ipv6", ":0", true, "::1", "::1", "::1", unix.AF_INET6, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.ipv6 {
				needIPv6(t)
			}
			a := mustParse(t, "tcp", tt.listen)
			s := mustBind(t, a, Options{})
			got := s.Addr()
			if got.Port == 0 {
				t.Fatalf("Addr().Port = 0, want the kernel-chosen port")
			}
			if got.DualStack != a.DualStack || got.IP != a.IP || got.Network != "tcp" {
				t.Errorf("Addr() = %+v, want %+v with a port", got, a)
			}
			if f := sockInt(t, s.FD(), unix.SOL_SOCKET, unix.SO_DOMAIN); f != tt.wantFamily {
				t.Errorf("SO_DOMAIN = %d, want %d", f, tt.wantFamily)
			}
			if tt.wantV6Only >= 0 {
				if v := sockInt(t, s.FD(), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY); v != tt.wantV6Only {
					t.Errorf("IPV6_V6ONLY = %d, want %d", v, tt.wantV6Only)
				}
			}
			if v := sockInt(t, s.FD(), unix.SOL_SOCKET, unix.SO_ACCEPTCONN); v != 1 {
				t.Errorf("SO_ACCEPTCONN = %d, want 1 (listen called)", v)
			}
			if v := sockInt(t, s.FD(), unix.SOL_SOCKET, unix.SO_REUSEADDR); v != 1 {
				t.Errorf("SO_REUSEADDR = %d, want 1", v)
			}
			if isBlocking(t, s.FD()) || !isCloexec(t, s.FD()) {
				t.Errorf("listening fd: blocking=%v cloexec=%v, want non-blocking, close-on-exec", isBlocking(t, s.FD()), isCloexec(t, s.FD()))
			}

			c := dial(t, netip.AddrPortFrom(netip.MustParseAddr(tt.dial), got.Port))
			conn := acceptTimeout(t, s)
			client := c.LocalAddr().(*net.TCPAddr).AddrPort()
			if conn.Remote.Addr().String() != tt.wantRemote || conn.Remote.Port() != client.Port() {
				t.Errorf("Remote = %v, want %s:%d", conn.Remote, tt.wantRemote, client.Port())
			}
			if conn.Local != netip.AddrPortFrom(netip.MustParseAddr(tt.wantLocal), got.Port) {
				t.Errorf("Local = %v, want %s:%d", conn.Local, tt.wantLocal, got.Port)
			}
			if conn.Cred != nil {
				t.Errorf("Cred = %+v, want nil for tcp", conn.Cred)
			}
			if !isBlocking(t, conn.FD) {
				t.Errorf("accepted fd is non-blocking, want blocking")
			}
			if !isCloexec(t, conn.FD) {
				t.Errorf("accepted fd lacks FD_CLOEXEC")
			}
			// The fd is a working connection.
			if _, err := unix.Write(conn.FD, []byte("hi")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 2)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(buf); err != nil || string(buf) != "hi" {
				t.Errorf("client read %q, %v, want hi", buf, err)
			}
		})
	}
}

func TestTCPOptionsInherited(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprint(on), func(t *testing.T) {
			s := mustBind(t, mustParse(t, "tcp", "127.0.0.1:0"), Options{Keepalive: on, NoDelay: on})
			want := 0
			if on {
				want = 1
			}
			dial(t, loopback(s))
			c := acceptTimeout(t, s)
			if v := sockInt(t, c.FD, unix.SOL_SOCKET, unix.SO_KEEPALIVE); v != want {
				t.Errorf("accepted SO_KEEPALIVE = %d, want %d", v, want)
			}
			if v := sockInt(t, c.FD, unix.IPPROTO_TCP, unix.TCP_NODELAY); v != want {
				t.Errorf("accepted TCP_NODELAY = %d, want %d", v, want)
			}
		})
	}
}

func TestBacklog(t *testing.T) {
	// The kernel queues backlog+1 completed connections and then drops
	// SYNs: count how many connects complete without an Accept.
	const backlog = 3
	s := mustBind(t, mustParse(t, "tcp", "127.0.0.1:0"), Options{Backlog: backlog})
	ap := loopback(s)
	n := 0
	for i := 0; i < backlog+5; i++ {
		c, err := net.DialTimeout("tcp", ap.String(), 300*time.Millisecond)
		if err != nil {
			break
		}
		defer c.Close()
		n++
	}
	if n != backlog+1 {
		t.Errorf("%d connections completed with backlog %d, want %d", n, backlog, backlog+1)
	}
}

func TestFreeBind(t *testing.T) {
	tests := []struct {
		name, addr string
		ipv6       bool
	}{
		{"ipv4", "192.0.2.1:0", false},
		{"ipv6", "[2001:db8::1]:0", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.ipv6 {
				needIPv6(t)
			}
			a := mustParse(t, "tcp", tt.addr)
			if s, err := Bind(a, Options{}); err == nil {
				s.Close()
				t.Skipf("%s is configured here; cannot test FreeBind", tt.addr)
			} else if !errors.Is(err, unix.EADDRNOTAVAIL) {
				t.Errorf("Bind(%v) without FreeBind error %v, want EADDRNOTAVAIL", a, err)
			}
			s := mustBind(t, a, Options{FreeBind: true})
			if s.Addr().Port == 0 {
				t.Errorf("Addr() = %v, want a port", s.Addr())
			}
		})
	}
}

func TestBindError(t *testing.T) {
	s := mustBind(t, mustParse(t, "tcp", "127.0.0.1:0"), Options{})
	a := s.Addr()
	_, err := Bind(a, Options{})
	if err == nil {
		t.Fatalf("second Bind(%v) succeeded", a)
	}
	if !errors.Is(err, unix.EADDRINUSE) {
		t.Errorf("Bind error %v, want EADDRINUSE", err)
	}
	if want := "listen tcp " + a.String(); !strings.Contains(err.Error(), want) {
		t.Errorf("Bind error %q, want it to name %q", err, want)
	}
	if _, err := Bind(a, Options{Backlog: -1}); err == nil {
		t.Error("Bind with negative backlog succeeded")
	}
	if _, err := Bind(Addr{Network: "tcp"}, Options{}); err == nil {
		t.Error("Bind of an empty address succeeded")
	}
	zoned := mustParse(t, "tcp", "[fe80::1%no-such-if0]:0")
	if _, err := Bind(zoned, Options{}); err == nil || !strings.Contains(err.Error(), "no-such-if0") {
		t.Errorf("Bind(%v) error %v, want it to name the zone", zoned, err)
	}
}

func TestCloseWakesAccept(t *testing.T) {
	s, err := Bind(mustParse(t, "tcp", "127.0.0.1:0"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() {
		_, err := s.Accept()
		done <- err
	}()
	go func() { done <- s.WaitReadable() }()
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error %v", err)
	}
	for i := 0; i < 2; i++ {
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) || !errors.Is(err, os.ErrClosed) {
				t.Errorf("blocked call after Close returned %v, want net.ErrClosed and os.ErrClosed", err)
			}
			if IsTemporary(err) {
				t.Errorf("IsTemporary(%v) = true after Close", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not wake a blocked Accept/WaitReadable")
		}
	}
	if _, err := s.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
	}
	if err := s.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close = %v, want net.ErrClosed", err)
	}
}

func TestWaitReadableAndSetBlocking(t *testing.T) {
	s := mustBind(t, mustParse(t, "tcp", "127.0.0.1:0"), Options{})
	done := make(chan error, 1)
	go func() { done <- s.WaitReadable() }()
	select {
	case err := <-done:
		t.Fatalf("WaitReadable returned %v before any client came", err)
	case <-time.After(100 * time.Millisecond):
	}
	dial(t, loopback(s))
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WaitReadable() = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitReadable did not return for a waiting connection")
	}
	// Still readable: WaitReadable does not consume.
	if err := s.WaitReadable(); err != nil {
		t.Fatal(err)
	}

	if err := s.SetBlocking(true); err != nil {
		t.Fatal(err)
	}
	if !isBlocking(t, s.FD()) {
		t.Error("SetBlocking(true) left O_NONBLOCK set")
	}
	if err := s.SetBlocking(false); err != nil {
		t.Fatal(err)
	}
	if isBlocking(t, s.FD()) {
		t.Error("SetBlocking(false) left O_NONBLOCK clear")
	}
	acceptTimeout(t, s)
}

func TestNoFDLeak(t *testing.T) {
	needIPv6(t)
	// Warm up: the runtime poller opens its own fds once.
	warm := mustBind(t, mustParse(t, "tcp", "127.0.0.1:0"), Options{})
	warm.Close()
	dir := t.TempDir()

	before := openFDs(t)
	for i := 0; i < 20; i++ {
		for _, la := range []struct{ network, addr string }{
			{"tcp", "127.0.0.1:0"}, {"tcp", ":0"}, {"tcp", "[::1]:0"}, {"unix", dir + "/s.sock"},
		} {
			s, err := Bind(mustParse(t, la.network, la.addr), Options{UnixUID: -1, UnixGID: -1})
			if err != nil {
				t.Fatal(err)
			}
			var c net.Conn
			if la.network == "unix" {
				c, err = net.Dial("unix", la.addr)
			} else {
				c, err = net.Dial("tcp", loopback(s).String())
			}
			if err != nil {
				t.Fatal(err)
			}
			conn, err := s.Accept()
			if err != nil {
				t.Fatal(err)
			}
			unix.Close(conn.FD)
			c.Close()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
		u, err := Bind(mustParse(t, "udp", "127.0.0.1:0"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		fd, err := DialReply(u.LocalAddr(), netip.MustParseAddrPort("127.0.0.1:9"))
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		// Failing calls leak nothing either.
		u2, err := Bind(u.Addr(), Options{})
		if err != nil {
			t.Fatalf("SO_REUSEPORT udp rebind: %v", err)
		}
		u2.Close()
		if _, err := Bind(mustParse(t, "tcp", "192.0.2.1:0"), Options{}); err == nil {
			t.Fatal("Bind of a foreign address succeeded")
		}
		if _, err := DialReply(netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("127.0.0.1:9")); err == nil {
			t.Fatal("DialReply from a foreign address succeeded")
		}
		u.Close()
	}
	if after := openFDs(t); after != before {
		t.Errorf("open fds: %d before, %d after", before, after)
	}
}
