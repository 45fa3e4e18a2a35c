package listener

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// systemdSocket makes a socket the way systemd hands it over: blocking,
// bound, listening for stream sockets, wrapped in an os.File.
func systemdSocket(t *testing.T, family, sotype int, sa unix.Sockaddr, v6only int) *os.File {
	t.Helper()
	fd, err := unix.Socket(family, sotype|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if v6only >= 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	if sotype == unix.SOCK_STREAM {
		if err := unix.Listen(fd, 16); err != nil {
			t.Fatal(err)
		}
	}
	return os.NewFile(uintptr(fd), "LISTEN_FD_3")
}

func TestInheritMatches(t *testing.T) {
	dir := t.TempDir()
	sockPath := filepath.Join(dir, "x.sock")
	lo4 := [4]byte{127, 0, 0, 1}
	lo6 := netip.IPv6Loopback().As16()
	tests := []struct {
		name    string
		ipv6    bool
		family  int
		sotype  int
		sa      unix.Sockaddr
		v6only  int
		network string
		matches []string // listen entries it matches; {port} is the bound port
		not     []string
	}{
		{"tcp ipv4", false, unix.AF_INET, unix.SOCK_STREAM, &unix.SockaddrInet4{Addr: lo4}, -1, "tcp",
			[]string{"127.0.0.1:{port}"},
			[]string{"127.0.0.2:{port}", ":{port}", "[::1]:{port}", "0.0.0.0:{port}", "127.0.0.1:1"}},
		{"tcp ipv6", true, unix.AF_INET6, unix.SOCK_STREAM, &unix.SockaddrInet6{Addr: lo6}, 1, "tcp",
			[]string{"[::1]:{port}"},
			[]string{":{port}", "127.0.0.1:{port}", "[::]:{port}"}},
		{"tcp dual stack", true, unix.AF_INET6, unix.SOCK_STREAM, &unix.SockaddrInet6{}, 0, "tcp",
			[]string{":{port}"},
			[]string{"[::]:{port}", "0.0.0.0:{port}"}},
		{"tcp ipv6 any v6only", true, unix.AF_INET6, unix.SOCK_STREAM, &unix.SockaddrInet6{}, 1, "tcp",
			[]string{"[::]:{port}"},
			[]string{":{port}"}},
		{"udp ipv4 any", false, unix.AF_INET, unix.SOCK_DGRAM, &unix.SockaddrInet4{}, -1, "udp",
			[]string{"0.0.0.0:{port}"},
			[]string{":{port}", "127.0.0.1:{port}"}},
		{"unix", false, unix.AF_UNIX, unix.SOCK_STREAM, &unix.SockaddrUnix{Name: sockPath}, -1, "unix",
			[]string{sockPath},
			[]string{sockPath + "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.ipv6 {
				needIPv6(t)
			}
			f := systemdSocket(t, tt.family, tt.sotype, tt.sa, tt.v6only)
			s, err := Inherit(f)
			if err != nil {
				f.Close()
				t.Fatalf("Inherit() error %v", err)
			}
			defer s.Close()
			if !s.Inherited() {
				t.Error("Inherited() = false")
			}
			if isBlocking(t, s.FD()) || !isCloexec(t, s.FD()) {
				t.Error("inherited fd is not non-blocking and close-on-exec")
			}
			port := s.Addr().Port
			expand := func(p string) string {
				if tt.network == "unix" {
					return p
				}
				return strings.ReplaceAll(p, "{port}", strconv.Itoa(int(port)))
			}
			for _, m := range tt.matches {
				a := mustParse(t, tt.network, expand(m))
				if !s.Matches(a) {
					t.Errorf("Matches(%v) = false, want true (socket %+v)", a, s.Addr())
				}
				if s.Addr() != a {
					t.Errorf("Addr() = %+v, want %+v", s.Addr(), a)
				}
			}
			for _, m := range tt.not {
				a := mustParse(t, tt.network, expand(m))
				if s.Matches(a) {
					t.Errorf("Matches(%v) = true, want false", a)
				}
			}
			for _, other := range []string{"tcp", "udp", "unix"} {
				if other != tt.network && s.Matches(Addr{Network: other, Port: port, Path: sockPath, DualStack: true}) {
					t.Errorf("Matches(network %s) = true", other)
				}
			}

			// The socket works through the poller.
			switch tt.network {
			case "tcp":
				dial(t, loopback(s))
				acceptTimeout(t, s)
			case "unix":
				c, err := net.Dial("unix", sockPath)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if conn := acceptTimeout(t, s); conn.Cred == nil {
					t.Error("inherited unix socket: no peer credentials")
				}
			case "udp":
				c := udpClient(t, "127.0.0.1")
				sendTo(t, c, loopback(s), "x")
				d := recvTimeout(t, s, make([]byte, 16))
				if d.Local != loopback(s) {
					t.Errorf("inherited udp: Local = %v, want %v (pktinfo enabled)", d.Local, loopback(s))
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if tt.network == "unix" {
				if _, err := os.Lstat(sockPath); err != nil {
					t.Errorf("Close unlinked an inherited socket: %v", err)
				}
			}
		})
	}
}

func TestInheritNotListening(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	s, err := Inherit(os.NewFile(uintptr(fd), "bound"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := s.Addr()
	if s.Matches(a) {
		t.Errorf("Matches(%v) = true for a socket that does not listen", a)
	}
	if _, err := s.Accept(); err == nil {
		t.Error("Accept on a non-listening socket succeeded")
	}
}

func TestInheritRefuses(t *testing.T) {
	tests := []struct {
		name string
		open func(t *testing.T) *os.File
	}{
		{"regular file", func(t *testing.T) *os.File {
			f, err := os.Create(filepath.Join(t.TempDir(), "f"))
			if err != nil {
				t.Fatal(err)
			}
			return f
		}},
		{"unix datagram", func(t *testing.T) *os.File {
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			return os.NewFile(uintptr(fd), "dgram")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := openFDs(t)
			f := tt.open(t)
			if s, err := Inherit(f); err == nil {
				s.Close()
				t.Fatal("Inherit succeeded")
			}
			// f is still the caller's: closing it works.
			if err := f.Close(); err != nil {
				t.Errorf("f.Close() after failed Inherit: %v", err)
			}
			if after := openFDs(t); after != before {
				t.Errorf("open fds: %d before, %d after", before, after)
			}
		})
	}
}

func TestBoundSocketMatchesItself(t *testing.T) {
	needIPv6(t)
	for _, l := range []string{"127.0.0.1:0", "[::1]:0", ":0"} {
		s := mustBind(t, mustParse(t, "tcp", l), Options{})
		if !s.Matches(s.Addr()) {
			t.Errorf("Bind(%s).Matches(Addr() = %v) = false", l, s.Addr())
		}
	}
}
