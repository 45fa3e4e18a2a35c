package listener

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn is one accepted connection.
type Conn struct {
	FD     int            // blocking, close-on-exec; the caller owns it and must close it
	Remote netip.AddrPort // v4-mapped unmapped to plain IPv4, zone dropped; zero for unix
	Local  netip.AddrPort // the address the client reached, unmapped, zone dropped; zero for unix
	Cred   *unix.Ucred    // unix sockets: SO_PEERCRED; nil otherwise
}

// acceptOp is the scratch state of one Accept, kept spare per Socket: its
// fn (a method value made once) and sockaddr buffer are reused, so Accept
// allocates nothing for TCP.
type acceptOp struct {
	rsa   unix.RawSockaddrAny
	alen  uint32
	nfd   int
	errno syscall.Errno
	got   bool
	fn    func(uintptr)
}

// accept is acceptOp's callback for RawConn.Control.
func (op *acceptOp) accept(fd uintptr) { op.got = op.acceptOnce(fd) }

// acceptOnce makes one blocking accept4 on fd; it reports whether it
// got a connection or an error other than its timeout or a signal.
func (op *acceptOp) acceptOnce(fd uintptr) bool {
	op.alen = unix.SizeofSockaddrAny
	r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, fd,
		uintptr(unsafe.Pointer(&op.rsa)), uintptr(unsafe.Pointer(&op.alen)),
		unix.SOCK_CLOEXEC, 0, 0)
	if e == unix.EAGAIN || e == unix.EINTR {
		return false
	}
	op.nfd, op.errno = int(r), e
	return true
}

// clearRcvTimeout sets fd's SO_RCVTIMEO to none.
func (op *acceptOp) clearRcvTimeout(fd int) syscall.Errno {
	var tv unix.Timeval
	_, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_RCVTIMEO,
		uintptr(unsafe.Pointer(&tv)), unsafe.Sizeof(tv), 0)
	return e
}

// getsockname fills op.rsa with the local address of fd.
func (op *acceptOp) getsockname(fd int) syscall.Errno {
	op.alen = unix.SizeofSockaddrAny
	_, _, e := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd),
		uintptr(unsafe.Pointer(&op.rsa)), uintptr(unsafe.Pointer(&op.alen)))
	return e
}

var errNotListening = errors.New("socket is not listening")

// Accept waits for a connection (see hot_linux.go for how) and accepts
// it with accept4(SOCK_CLOEXEC) and without SOCK_NONBLOCK: Conn.FD is
// blocking and close-on-exec. Temporary errors (see IsTemporary) call for
// a back-off; after Close the error wraps net.ErrClosed.
func (s *Socket) Accept() (Conn, error) { return s.accept(false) }

// AcceptOrIdle is Accept for a caller that waits for quiet sockets
// elsewhere (a Watcher): where Accept would wait in the runtime poller,
// once the socket has been quiet for a while, it returns ErrIdle instead.
func (s *Socket) AcceptOrIdle() (Conn, error) { return s.accept(true) }

func (s *Socket) accept(orIdle bool) (Conn, error) {
	if !s.listening {
		return Conn{}, fmt.Errorf("accept %s %s: %w", s.addr.Network, s.addr, errNotListening)
	}
	if err := s.acceptMode(); err != nil {
		return Conn{}, err
	}
	op := s.getAcceptOp()
	defer s.putAcceptOp(op)
	for {
		op.got = false
		if err := s.rc.Control(op.fn); err != nil {
			return Conn{}, s.opError("accept", err)
		}
		if op.got {
			break
		}
		if s.closed.Load() {
			return Conn{}, s.opError("accept", closedError{})
		}
		if s.busy() {
			continue
		}
		if orIdle {
			return Conn{}, ErrIdle
		}
		if err := s.WaitReadable(); err != nil {
			return Conn{}, err
		}
	}
	if op.errno == 0 {
		s.markBusy()
	}
	if op.errno != 0 {
		return Conn{}, fmt.Errorf("accept %s %s: %w", s.addr.Network, s.addr, os.NewSyscallError("accept4", op.errno))
	}
	c := Conn{FD: op.nfd}
	// The connection inherits the listening socket's receive timeout
	// (hot_linux.go); a handler's reads must block as long as they like.
	if e := op.clearRcvTimeout(c.FD); e != 0 {
		unix.Close(c.FD)
		return Conn{}, fmt.Errorf("accept %s %s: %w", s.addr.Network, s.addr, os.NewSyscallError("setsockopt SO_RCVTIMEO", e))
	}
	if s.family == unix.AF_UNIX {
		cred, err := unix.GetsockoptUcred(c.FD, unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			unix.Close(c.FD)
			return Conn{}, fmt.Errorf("accept %s %s: %w", s.addr.Network, s.addr, os.NewSyscallError("getsockopt SO_PEERCRED", err))
		}
		c.Cred = cred
		return c, nil
	}
	c.Remote = rawAddrPort(&op.rsa)
	if !s.wildcard {
		c.Local = s.connLocal
		return c, nil
	}
	if e := op.getsockname(c.FD); e != 0 {
		unix.Close(c.FD)
		// The connection went away already (ENOTCONN...): worth a retry.
		return Conn{}, fmt.Errorf("accept %s %s: %w", s.addr.Network, s.addr, os.NewSyscallError("getsockname", e))
	}
	c.Local = rawAddrPort(&op.rsa)
	return c, nil
}
