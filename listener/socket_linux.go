package listener

import (
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Socket owns one bound listening (tcp/unix) or receiving (udp) socket fd:
// close-on-exec, registered with the Go runtime poller (os.NewFile),
// non-blocking except while Accept uses it (hot_linux.go). Accept,
// RecvFrom and the other methods are safe for concurrent use; the kernel
// hands each connection to one of the concurrent Accepts.
type Socket struct {
	f  *os.File
	rc syscall.RawConn
	fd int

	addr      Addr           // as bound (port filled in)
	local     netip.AddrPort // bound inet address as the kernel reports it (zone kept); zero for unix
	connLocal netip.AddrPort // Conn.Local / Datagram.Local when not wildcard: unmapped, zone dropped
	wildcard  bool           // bound to an unspecified address: ask getsockname per connection
	family    int            // AF_INET, AF_INET6, AF_UNIX
	sotype    int            // SOCK_STREAM or SOCK_DGRAM
	v6only    bool
	scope     uint32 // sin6_scope_id of the bound address
	listening bool   // SO_ACCEPTCONN
	inherited bool
	steered   bool // UDP: first of its reuseport group, steerFirst attached

	// unlinkPath is the unix socket path this Socket bound itself (empty
	// for inet and inherited sockets); unlinkDev/unlinkIno identify the
	// file it created so Close never removes a successor's socket.
	unlinkPath string
	unlinkDev  uint64
	unlinkIno  uint64

	closed atomic.Bool

	// born is when the Socket was made; lastConn is when Accept last
	// returned a connection, in nanoseconds since born (hot_linux.go).
	// acceptReady: the socket is blocking with a receive timeout, as
	// Accept wants it.
	born        time.Time
	lastConn    atomic.Int64
	acceptReady atomic.Bool

	// A spare per-call scratch state (an acceptOp or a recvOp, by socket
	// type) so that the hot path does not allocate a closure and sockaddr
	// per call; concurrent calls beyond the first allocate their own.
	spareAccept atomic.Pointer[acceptOp]
	spareRecv   atomic.Pointer[recvOp]

	// Arming on a Watcher (watcher_linux.go). watchMu guards the fields
	// below and is held while the Watcher calls watchFn; lock order:
	// watchMu, then Watcher.mu.
	watchMu sync.Mutex
	watcher *Watcher // the Watcher s was registered with; nil if none
	watchID uint64   // s's id on watcher
	watchFn func()   // the callback of the last WatchOnce
	armed   bool     // armed and not yet called back
}

func (s *Socket) getAcceptOp() *acceptOp {
	if op := s.spareAccept.Swap(nil); op != nil {
		return op
	}
	op := &acceptOp{}
	op.fn = op.accept
	return op
}

func (s *Socket) putAcceptOp(op *acceptOp) { s.spareAccept.Store(op) }

func (s *Socket) getRecvOp() *recvOp {
	if op := s.spareRecv.Swap(nil); op != nil {
		return op
	}
	op := &recvOp{}
	op.fn, op.sfn = op.recv, op.send
	return op
}

func (s *Socket) putRecvOp(op *recvOp) { s.spareRecv.Store(op) }

// newSocket wraps a non-blocking fd whose bound state is already known.
func newSocket(fd int, a Addr, family, sotype int) (*Socket, error) {
	s := &Socket{fd: fd, addr: a, family: family, sotype: sotype, born: time.Now()}
	s.lastConn.Store(-int64(hotWindow)) // not busy
	s.f = os.NewFile(uintptr(fd), "socket:"+a.Network+":"+a.String())
	rc, err := s.f.SyscallConn()
	if err != nil {
		s.f.Close()
		return nil, err
	}
	s.rc = rc
	return s, nil
}

// fillInet reads the bound address back from the kernel (port 0 becomes
// the chosen port) and derives what Accept and RecvFrom report as local.
func (s *Socket) fillInet() error {
	sa, err := unix.Getsockname(s.fd)
	if err != nil {
		return os.NewSyscallError("getsockname", err)
	}
	ap, scope, ok := sockaddrAddrPort(sa)
	if !ok {
		return fmt.Errorf("getsockname: unexpected address family %T", sa)
	}
	s.scope = scope
	s.local = ap
	if s.addr.IP.IsValid() && s.addr.IP.Zone() != "" {
		s.local = netip.AddrPortFrom(ap.Addr().WithZone(s.addr.IP.Zone()), ap.Port())
	}
	s.addr.Port = ap.Port()
	s.wildcard = ap.Addr().IsUnspecified()
	if !s.wildcard {
		s.connLocal = netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
	}
	return nil
}

// Addr returns the address as bound: a kernel-chosen port is filled in,
// and ":0" dual-stack keeps DualStack (even where IPv6 is off and the
// socket is really 0.0.0.0; LocalAddr tells which).
func (s *Socket) Addr() Addr { return s.addr }

// LocalAddr returns the bound inet address as the socket has it: [::]:79
// for a dual-stack socket, 0.0.0.0:79 where IPv6 is off, 127.0.0.1:79 or
// [fe80::1%eth0]:79 for a specific address. Zero for unix sockets.
func (s *Socket) LocalAddr() netip.AddrPort { return s.local }

// Inherited reports whether the socket came from Inherit (systemd).
func (s *Socket) Inherited() bool { return s.inherited }

// FD returns the raw fd, still owned by the Socket: valid until Close.
func (s *Socket) FD() int { return s.fd }

// SetBlocking sets (true) or clears (false) blocking mode on the socket's
// open file description, and clears the receive timeout that Accept sets.
// Wait-mode services hand the listening socket to a handler in blocking
// mode and make it non-blocking again once the handler is gone; do not
// call Accept or RecvFrom while it is blocking.
func (s *Socket) SetBlocking(b bool) error {
	var serr error
	s.acceptReady.Store(false)
	err := s.rc.Control(func(fd uintptr) {
		if serr = unix.SetNonblock(int(fd), !b); serr != nil {
			return
		}
		if s.sotype == unix.SOCK_STREAM {
			serr = unix.SetsockoptTimeval(int(fd), unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{})
		}
	})
	if err != nil {
		return s.opError("set blocking", err)
	}
	if serr != nil {
		return fmt.Errorf("set blocking %s %s: %w", s.addr.Network, s.addr, os.NewSyscallError("fcntl", serr))
	}
	return nil
}

// WaitReadable blocks, through the runtime poller, until the socket is
// readable (a connection or datagram is waiting, or an error is pending).
// After Close it returns an error wrapping net.ErrClosed.
func (s *Socket) WaitReadable() error {
	var perr error
	err := s.rc.Read(func(fd uintptr) bool {
		fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds[:], 0)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				perr = err
				return true
			}
			return n > 0
		}
	})
	if err != nil {
		return s.opError("wait", err)
	}
	if perr != nil {
		return fmt.Errorf("wait %s %s: %w", s.addr.Network, s.addr, os.NewSyscallError("poll", perr))
	}
	return nil
}

// Close closes the socket. Goroutines blocked in Accept, AcceptOrIdle,
// RecvFrom, PeekFrom, Discard or WaitReadable return an error wrapping
// net.ErrClosed. If the socket is armed on a Watcher, it is removed from
// it first, and its callback never runs once Close has returned. A unix socket path is unlinked if this Socket bound it
// itself and the path still names that socket; inherited sockets are
// never unlinked. A second Close returns an error wrapping net.ErrClosed.
func (s *Socket) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return fmt.Errorf("close %s %s: %w", s.addr.Network, s.addr, closedError{})
	}
	// No Watcher may call back once Close has returned, nor keep an epoll
	// registration of the fd.
	s.unwatch()
	uerr := s.unlinkOwned()
	if s.steered {
		// The reuseport group outlives the listener while reply sockets
		// remain: its program must not (steer_linux.go).
		_ = s.rc.Control(func(fd uintptr) { detachSteer(int(fd)) })
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("close %s %s: %w", s.addr.Network, s.addr, err)
	}
	return uerr
}

// opError wraps an error of the runtime poller: after Close it is a
// closedError (net.ErrClosed), whatever the poller said.
func (s *Socket) opError(op string, err error) error {
	if s.closed.Load() {
		err = closedError{}
	}
	return fmt.Errorf("%s %s %s: %w", op, s.addr.Network, s.addr, err)
}
