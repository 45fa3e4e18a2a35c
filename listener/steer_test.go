package listener

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// serveDialReply answers every datagram on s the way daemon does for a
// UDP nowait service: RecvFrom, then in a goroutine DialReply(d.Local,
// d.Remote), serve what TakeQueued takes back from the reply socket the
// same way, write the payload back, close. It returns when s is closed,
// with the number of datagrams taken back.
func serveDialReply(t *testing.T, s *Socket) (wait func() int) {
	t.Helper()
	var (
		wg    sync.WaitGroup
		taken atomic.Int64
	)
	var answer func(d Datagram, payload []byte)
	answer = func(d Datagram, payload []byte) {
		defer wg.Done()
		fd, err := DialReply(d.Local, d.Remote)
		if err != nil {
			t.Errorf("DialReply(%v, %v) error %v", d.Local, d.Remote, err)
			return
		}
		for {
			qd, q, ok := TakeQueued(fd, d.Local)
			if !ok {
				break
			}
			if qd.Local != d.Local || qd.N != len(q) {
				t.Errorf("TakeQueued() = %+v with %d bytes, want Local %v", qd, len(q), d.Local)
			}
			taken.Add(1)
			wg.Add(1)
			go answer(qd, q)
		}
		unix.Write(fd, payload)
		unix.Close(fd)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			d, err := s.RecvFrom(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				t.Errorf("RecvFrom() error %v", err)
				return
			}
			wg.Add(1)
			go answer(d, append([]byte(nil), buf[:d.N]...))
		}
	}()
	return func() int {
		wg.Wait()
		return int(taken.Load())
	}
}

// serveReply answers every datagram on s with Socket.Reply (as builtins
// can), in the receiving goroutine.
func serveReply(t *testing.T, s *Socket) (wait func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			d, err := s.RecvFrom(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				t.Errorf("RecvFrom() error %v", err)
				return
			}
			if err := s.Reply(d.Local, d.Remote, buf[:d.N]); err != nil {
				t.Errorf("Reply(%v, %v) error %v", d.Local, d.Remote, err)
			}
		}
	}()
	return func() { <-done }
}

// TestUDPConcurrentClients: with several clients sending at once, every
// request gets its reply. With DialReply, no datagram may be steered to
// another request's half-made reply socket (bound, not yet connected).
func TestUDPConcurrentClients(t *testing.T) {
	tests := []struct {
		name, listen, client string
		reply                bool // serve with Socket.Reply, not DialReply
	}{
		{"dial reply ipv6", "[::1]:0", "::1", false},
		{"dial reply ipv4", "127.0.0.1:0", "127.0.0.1", false},
		{"reply ipv4 wildcard", "0.0.0.0:0", "127.0.0.1", true},
		{"reply ipv4", "127.0.0.1:0", "127.0.0.1", true},
		{"reply dual stack via ipv4", ":0", "127.0.0.1", true},
		{"reply dual stack via ipv6", ":0", "::1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.listen == ":0" || tt.client == "::1" {
				needIPv6(t)
			}
			s, err := Bind(mustParse(t, "udp", tt.listen), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !s.steered {
				t.Error("listener has no steering program")
			}
			var wait func() int
			if tt.reply {
				w := serveReply(t, s)
				wait = func() int { w(); return 0 }
			} else {
				wait = serveDialReply(t, s)
			}
			const clients, requests = 8, 500
			ip := netip.MustParseAddr(tt.client)
			lost := hammer(t, netip.AddrPortFrom(ip, s.Addr().Port), ip, clients, requests)
			s.Close()
			if taken := wait(); taken > 0 {
				t.Logf("%d datagrams taken back from reply sockets", taken)
			}
			if lost != 0 {
				t.Errorf("%d of %d requests got no reply", lost, clients*requests)
			}
		})
	}
}

// TestUDPSteerToListener: an unconnected member of the listener's
// reuseport group (a reply socket between bind and connect) never gets a
// datagram, with or without a connected member in the group.
func TestUDPSteerToListener(t *testing.T) {
	for _, connected := range []bool{false, true} {
		t.Run(fmt.Sprintf("connected member %v", connected), func(t *testing.T) {
			s := mustBind(t, mustParse(t, "udp", "127.0.0.1:0"), Options{})
			local := s.LocalAddr()
			member := func() int {
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { unix.Close(fd) })
				unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
				if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: local.Addr().As4(), Port: int(local.Port())}); err != nil {
					t.Fatal(err)
				}
				return fd
			}
			half := member()
			if connected {
				fd := member()
				if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 9}, Port: 9}); err != nil {
					t.Fatal(err)
				}
			}
			const n = 50
			for range n {
				sendTo(t, udpClient(t, "127.0.0.1"), local, "x")
			}
			buf := make([]byte, 16)
			for i := range n {
				if d := recvTimeout(t, s, buf); d.N != 1 {
					t.Fatalf("datagram %d: %+v", i, d)
				}
			}
			if readable(t, half, 0) {
				t.Error("the unconnected member got a datagram")
			}
		})
	}
}

// hammer sends requests from clients goroutines, each request from a new
// client socket bound to ip:0 (a reply socket stays connected to its
// client until closed, and would take that client's next datagram), and
// waits for each reply. It returns how many got none within 100 ms.
func hammer(t *testing.T, dst netip.AddrPort, ip netip.Addr, clients, requests int) (lost int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64)
			n := 0
			// The last sockets stay open a while, so that no request
			// comes from the port of one just answered: a datagram from
			// an address and port whose reply socket is still open goes
			// to that socket, by design (a follow-up to a running
			// handler), and the test's server closes it unread.
			var recent [16]*net.UDPConn
			defer func() {
				for _, c := range recent {
					if c != nil {
						c.Close()
					}
				}
			}()
			for j := range requests {
				c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
				if err != nil {
					t.Error(err)
					return
				}
				if old := recent[j%len(recent)]; old != nil {
					old.Close()
				}
				recent[j%len(recent)] = c
				msg := []byte{byte(i), byte(j), byte(j >> 8)}
				if _, err := c.WriteToUDPAddrPort(msg, dst); err != nil {
					t.Error(err)
					return
				}
				c.SetReadDeadline(time.Now().Add(time.Second))
				if m, _, err := c.ReadFromUDPAddrPort(buf); err != nil || string(buf[:m]) != string(msg) {
					n++
				}
			}
			mu.Lock()
			lost += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	return lost
}

func TestUDPSocketReply(t *testing.T) {
	tests := []struct {
		name     string
		listen   string
		ipv6     bool
		clientIP string
		dstIP    string // where the client sends: the reply must come from here
	}{
		{"ipv4 wildcard", "0.0.0.0:0", false, "127.0.0.1", "127.0.0.2"},
		{"ipv4 specific", "127.0.0.3:0", false, "127.0.0.1", "127.0.0.3"},
		{"ipv6", "[::1]:0", true, "::1", "::1"},
		{"dual stack via ipv6", ":0", true, "::1", "::1"},
		{"dual stack via ipv4", ":0", true, "127.0.0.1", "127.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.ipv6 {
				needIPv6(t)
			}
			s := mustBind(t, mustParse(t, "udp", tt.listen), Options{})
			dst := netip.AddrPortFrom(netip.MustParseAddr(tt.dstIP), s.Addr().Port)
			c := udpClient(t, tt.clientIP)
			sendTo(t, c, dst, "ping")
			buf := make([]byte, 65536)
			d := recvTimeout(t, s, buf)
			if err := s.Reply(d.Local, d.Remote, []byte("pong")); err != nil {
				t.Fatalf("Reply(%v, %v) error %v", d.Local, d.Remote, err)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatal(err)
			}
			if string(buf[:n]) != "pong" || from.Addr().Unmap() != dst.Addr() || from.Port() != dst.Port() {
				t.Errorf("client got %q from %v, want pong from %v", buf[:n], from, dst)
			}
			// Empty payload: still one datagram.
			if err := s.Reply(d.Local, d.Remote, nil); err != nil {
				t.Fatal(err)
			}
			if n, _, err := c.ReadFromUDPAddrPort(buf); err != nil || n != 0 {
				t.Errorf("empty reply: %d bytes, %v", n, err)
			}
		})
	}
}

func TestUDPSocketReplyErrors(t *testing.T) {
	s := mustBind(t, mustParse(t, "udp", "127.0.0.1:0"), Options{})
	port := s.Addr().Port
	local := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
	tests := []struct {
		name          string
		local, remote netip.AddrPort
	}{
		{"zero remote", local, netip.AddrPort{}},
		{"ipv6 remote on ipv4 socket", netip.AddrPort{}, netip.MustParseAddrPort("[::1]:9")},
		{"families differ", local, netip.MustParseAddrPort("[::1]:9")},
		{"other port", netip.AddrPortFrom(local.Addr(), port+1), netip.MustParseAddrPort("127.0.0.1:9")},
		{"foreign source", netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), port), netip.MustParseAddrPort("127.0.0.1:9")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Reply(tt.local, tt.remote, []byte("x")); err == nil {
				t.Errorf("Reply(%v, %v) succeeded", tt.local, tt.remote)
			}
		})
	}
	tcp := mustBind(t, mustParse(t, "tcp", "127.0.0.1:0"), Options{})
	if err := tcp.Reply(local, local, nil); err == nil {
		t.Error("Reply on a TCP socket succeeded")
	}
	s.Close()
	if err := s.Reply(local, local, nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Reply after Close: %v, want net.ErrClosed", err)
	}
}

func TestUDPSocketReplyAllocs(t *testing.T) {
	s := mustBind(t, mustParse(t, "udp", "127.0.0.1:0"), Options{})
	c := udpClient(t, "127.0.0.1")
	remote := c.LocalAddr().(*net.UDPAddr).AddrPort()
	b := []byte("x")
	n := testing.AllocsPerRun(100, func() { s.Reply(s.LocalAddr(), remote, b) })
	if n != 0 {
		t.Errorf("Reply allocates %v times, want 0", n)
	}
}

// TestUDPBindShared: a second Bind of a UDP address in use shares it
// (SO_REUSEPORT) without steering.
func TestUDPBindShared(t *testing.T) {
	u := mustBind(t, mustParse(t, "udp", "127.0.0.1:0"), Options{})
	u2 := mustBind(t, u.Addr(), Options{})
	if !u.steered || u2.steered {
		t.Errorf("steered = %v, %v, want true, false", u.steered, u2.steered)
	}
}
