package listener

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// udpClient is a UDP socket bound to laddr (port 0), closed at test end.
func udpClient(t *testing.T, laddr string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(laddr), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func sendTo(t *testing.T, c *net.UDPConn, to netip.AddrPort, msg string) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort([]byte(msg), to); err != nil {
		t.Fatal(err)
	}
}

// recvTimeout runs RecvFrom with a deadline on the test.
func recvTimeout(t *testing.T, s *Socket, buf []byte) Datagram {
	t.Helper()
	type res struct {
		d   Datagram
		err error
	}
	ch := make(chan res, 1)
	go func() {
		d, err := s.RecvFrom(buf)
		ch <- res{d, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("RecvFrom() error %v", r.err)
		}
		return r.d
	case <-time.After(5 * time.Second):
		t.Fatal("RecvFrom() did not return")
	}
	panic("unreachable")
}

// readable polls fd for up to d.
func readable(t *testing.T, fd int, d time.Duration) bool {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(d/time.Millisecond))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
}

func TestUDPSocketOptions(t *testing.T) {
	s := mustBind(t, mustParse(t, "udp", "127.0.0.1:0"), Options{})
	if v := sockInt(t, s.FD(), unix.SOL_SOCKET, unix.SO_REUSEPORT); v != 1 {
		t.Errorf("SO_REUSEPORT = %d, want 1", v)
	}
	if v := sockInt(t, s.FD(), unix.SOL_SOCKET, unix.SO_REUSEADDR); v != 0 {
		t.Errorf("SO_REUSEADDR = %d, want 0 (never on UDP)", v)
	}
	if v := sockInt(t, s.FD(), unix.IPPROTO_IP, unix.IP_PKTINFO); v != 1 {
		t.Errorf("IP_PKTINFO = %d, want 1", v)
	}
	if _, err := s.Accept(); err == nil {
		t.Error("Accept on a UDP socket succeeded")
	}
	needIPv6(t)
	s6 := mustBind(t, mustParse(t, "udp", ":0"), Options{})
	if v := sockInt(t, s6.FD(), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO); v != 1 {
		t.Errorf("IPV6_RECVPKTINFO = %d, want 1", v)
	}
	if v := sockInt(t, s6.FD(), unix.SOL_SOCKET, unix.SO_REUSEADDR); v != 0 {
		t.Errorf("SO_REUSEADDR = %d, want 0 (never on UDP)", v)
	}
}

func TestUDPReply(t *testing.T) {
	tests := []struct {
		name     string
		listen   string
		ipv6     bool
		clientIP string // the client's own address
		dstIP    string // where it sends: the reply must come from here
	}{
		{"ipv4 wildcard", "0.0.0.0:0", false, "127.0.0.1", "127.0.0.2"},
		{"ipv4 specific", "127.0.0.3:0", false, "127.0.0.1", "127.0.0.3"},
		{"dual stack via ipv4", ":0", true, "127.0.0.1", "127.0.0.2"},
		{"dual stack via ipv6", ":0", true, "::1", "::1"},
		{"ipv6 specific", "[::1]:0", true, "::1", "::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.ipv6 {
				needIPv6(t)
			}
			s := mustBind(t, mustParse(t, "udp", tt.listen), Options{})
			port := s.Addr().Port
			dst := netip.AddrPortFrom(netip.MustParseAddr(tt.dstIP), port)
			c := udpClient(t, tt.clientIP)
			sendTo(t, c, dst, "one")

			buf := make([]byte, 65536)
			d := recvTimeout(t, s, buf)
			if got := string(buf[:d.N]); got != "one" {
				t.Errorf("RecvFrom payload %q, want one", got)
			}
			client := c.LocalAddr().(*net.UDPAddr).AddrPort()
			if d.Remote != client {
				t.Errorf("Remote = %v, want %v (plain, unmapped)", d.Remote, client)
			}
			if d.Local != dst {
				t.Errorf("Local = %v, want %v (pktinfo destination)", d.Local, dst)
			}

			fd, err := DialReply(d.Local, d.Remote)
			if err != nil {
				t.Fatalf("DialReply(%v, %v) error %v", d.Local, d.Remote, err)
			}
			defer unix.Close(fd)
			if !isBlocking(t, fd) || !isCloexec(t, fd) {
				t.Error("reply fd is not blocking and close-on-exec")
			}
			if v := sockInt(t, fd, unix.SOL_SOCKET, unix.SO_REUSEPORT); v != 1 {
				t.Errorf("reply SO_REUSEPORT = %d, want 1", v)
			}
			if v := sockInt(t, fd, unix.SOL_SOCKET, unix.SO_REUSEADDR); v != 0 {
				t.Errorf("reply SO_REUSEADDR = %d, want 0", v)
			}
			if _, err := unix.Write(fd, []byte("reply")); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatal(err)
			}
			if string(buf[:n]) != "reply" || from.Addr().Unmap() != dst.Addr() || from.Port() != port {
				t.Errorf("client got %q from %v, want reply from %v", buf[:n], from, dst)
			}

			// A second datagram from the same client port reaches the
			// connected reply socket, not the listener.
			sendTo(t, c, dst, "two")
			if !readable(t, fd, 5*time.Second) {
				t.Fatal("second datagram did not reach the reply socket")
			}
			n, err = unix.Read(fd, buf)
			if err != nil || string(buf[:n]) != "two" {
				t.Errorf("reply socket read %q, %v, want two", buf[:n], err)
			}
			if readable(t, s.FD(), 50*time.Millisecond) {
				t.Error("listener got the second datagram too")
			}

			// Another client still reaches the listener.
			c2 := udpClient(t, tt.clientIP)
			sendTo(t, c2, dst, "three")
			d = recvTimeout(t, s, buf)
			if string(buf[:d.N]) != "three" || d.Remote != c2.LocalAddr().(*net.UDPAddr).AddrPort() {
				t.Errorf("listener got %q from %v, want three from the second client", buf[:d.N], d.Remote)
			}
			if readable(t, fd, 20*time.Millisecond) {
				t.Error("reply socket got another client's datagram")
			}
		})
	}
}

func TestUDPPeekDiscard(t *testing.T) {
	s := mustBind(t, mustParse(t, "udp", "127.0.0.1:0"), Options{})
	c := udpClient(t, "127.0.0.1")
	client := c.LocalAddr().(*net.UDPAddr).AddrPort()
	sendTo(t, c, s.LocalAddr(), "first")
	sendTo(t, c, s.LocalAddr(), "second")
	for i := 0; i < 2; i++ { // peeking does not consume
		src, err := s.PeekFrom()
		if err != nil || src != client {
			t.Fatalf("PeekFrom() = %v, %v, want %v", src, err, client)
		}
	}
	if err := s.Discard(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	d := recvTimeout(t, s, buf)
	if string(buf[:d.N]) != "second" {
		t.Errorf("after Discard, RecvFrom got %q, want second", buf[:d.N])
	}
	// A short buffer truncates.
	sendTo(t, c, s.LocalAddr(), "truncated")
	d = recvTimeout(t, s, buf[:4])
	if d.N != 4 || string(buf[:4]) != "trun" {
		t.Errorf("RecvFrom(4 bytes) = %d %q, want 4 trun", d.N, buf[:4])
	}
	// Empty datagram.
	sendTo(t, c, s.LocalAddr(), "")
	if d = recvTimeout(t, s, buf); d.N != 0 || d.Remote != client {
		t.Errorf("empty datagram: %+v", d)
	}
}

func TestUDPCloseWakesRecv(t *testing.T) {
	s, err := Bind(mustParse(t, "udp", "127.0.0.1:0"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 3)
	go func() {
		_, err := s.RecvFrom(make([]byte, 16))
		done <- err
	}()
	go func() {
		_, err := s.PeekFrom()
		done <- err
	}()
	go func() { done <- s.Discard() }()
	time.Sleep(50 * time.Millisecond)
	s.Close()
	for i := 0; i < 3; i++ {
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("after Close: %v, want net.ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not wake a blocked receive")
		}
	}
}

func TestDialReplyErrors(t *testing.T) {
	tests := []struct {
		name          string
		local, remote netip.AddrPort
	}{
		{"zero", netip.AddrPort{}, netip.MustParseAddrPort("127.0.0.1:9")},
		{"families differ", netip.MustParseAddrPort("127.0.0.1:9"), netip.MustParseAddrPort("[::1]:9")},
		{"foreign local", netip.MustParseAddrPort("192.0.2.1:9"), netip.MustParseAddrPort("127.0.0.1:9")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if fd, err := DialReply(tt.local, tt.remote); err == nil {
				unix.Close(fd)
				t.Errorf("DialReply(%v, %v) succeeded", tt.local, tt.remote)
			}
		})
	}
}

func TestPktinfoDstGarbage(t *testing.T) {
	// Malformed control data is ignored, never read past.
	for _, b := range [][]byte{nil, {1, 2, 3}, make([]byte, 16), {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		if ip, ok := pktinfoDst(b); ok {
			t.Errorf("pktinfoDst(%x) = %v, true", b, ip)
		}
	}
}
