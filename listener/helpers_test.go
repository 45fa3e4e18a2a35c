package listener

import (
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// mustParse parses a listen address or fails the test.
func mustParse(t testing.TB, network, s string) Addr {
	t.Helper()
	a, err := ParseAddr(network, s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// mustBind binds a and closes the socket at the end of the test.
func mustBind(t testing.TB, a Addr, o Options) *Socket {
	t.Helper()
	s, err := Bind(a, o)
	if err != nil {
		t.Fatalf("Bind(%v) error %v", a, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// needIPv6 skips the test where ::1 cannot be bound.
func needIPv6(t testing.TB) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no IPv6: %v", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet6{Addr: netip.IPv6Loopback().As16()}); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
}

// dial connects to ap over TCP and closes the client at the end of the test.
func dial(t testing.TB, ap netip.AddrPort) *net.TCPConn {
	t.Helper()
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(ap))
	if err != nil {
		t.Fatalf("dial %v: %v", ap, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// acceptTimeout runs Accept with a deadline on the test.
func acceptTimeout(t testing.TB, s *Socket) Conn {
	t.Helper()
	type res struct {
		c   Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := s.Accept()
		ch <- res{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Accept() error %v", r.err)
		}
		t.Cleanup(func() { unix.Close(r.c.FD) })
		return r.c
	case <-time.After(5 * time.Second):
		t.Fatal("Accept() did not return")
	}
	panic("unreachable")
}

// sockInt reads an int socket option or fails the test.
func sockInt(t testing.TB, fd, level, opt int) int {
	t.Helper()
	v, err := unix.GetsockoptInt(fd, level, opt)
	if err != nil {
		t.Fatalf("getsockopt(%d, %d, %d): %v", fd, level, opt, err)
	}
	return v
}

// isBlocking reports whether O_NONBLOCK is clear on fd.
func isBlocking(t testing.TB, fd int) bool {
	t.Helper()
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fl&unix.O_NONBLOCK == 0
}

// isCloexec reports whether FD_CLOEXEC is set on fd.
func isCloexec(t testing.TB, fd int) bool {
	t.Helper()
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fl&unix.FD_CLOEXEC != 0
}

// openFDs counts this process's open descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// loopback returns the address to connect to for a socket bound to a
// wildcard or specific address.
func loopback(s *Socket) netip.AddrPort {
	ap := s.LocalAddr()
	ip := ap.Addr()
	if ip.IsUnspecified() {
		if ip.Is4() {
			ip = netip.MustParseAddr("127.0.0.1")
		} else {
			ip = netip.IPv6Loopback()
		}
	}
	return netip.AddrPortFrom(ip, ap.Port())
}
