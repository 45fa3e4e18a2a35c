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

// acceptOp is the scratch state of one Accept, pooled per Socket: its fn
// (a method value made once) and sockaddr buffer are reused, so Accept
// allocates nothing for TCP.
type acceptOp struct {
	s      *Socket
	rsa    unix.RawSockaddrAny
	alen   uint32
	nfd    int
	errno  syscall.Errno
	orIdle bool // AcceptOrIdle: report idle rather than wait in the poller
	idle   bool // set by accept: no connection, and orIdle
	fn     func(uintptr) bool
}

// accept is the poller callback: false (wait in the poller) on EAGAIN,
// unless the socket is busy and the callback may wait in poll(2) itself
// (hotWait), or it is AcceptOrIdle's and reports idle instead; true
// otherwise.
func (op *acceptOp) accept(fd uintptr) bool {
	op.idle = false
	op.alen = unix.SizeofSockaddrAny
	r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, fd,
		uintptr(unsafe.Pointer(&op.rsa)), uintptr(unsafe.Pointer(&op.alen)),
		unix.SOCK_CLOEXEC, 0, 0)
	for e == unix.EAGAIN {
		if !op.s.hotWait(fd) {
			if op.orIdle {
				op.idle = true
				return true
			}
			return false
		}
		op.alen = unix.SizeofSockaddrAny
		r, _, e = unix.Syscall6(unix.SYS_ACCEPT4, fd,
			uintptr(unsafe.Pointer(&op.rsa)), uintptr(unsafe.Pointer(&op.alen)),
			unix.SOCK_CLOEXEC, 0, 0)
	}
	if e == 0 {
		op.s.markBusy()
	}
	op.nfd, op.errno = int(r), e
	return true
}

// getsockname fills op.rsa with the local address of fd.
func (op *acceptOp) getsockname(fd int) syscall.Errno {
	op.alen = unix.SizeofSockaddrAny
	_, _, e := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd),
		uintptr(unsafe.Pointer(&op.rsa)), uintptr(unsafe.Pointer(&op.alen)))
	return e
}

var errNotListening = errors.New("socket is not listening")

// Accept waits for a connection (see hot_linux.go for how) and accepts it with
// accept4(SOCK_CLOEXEC) and without SOCK_NONBLOCK: Conn.FD is blocking and
// close-on-exec. Temporary errors (see IsTemporary) call for a back-off;
// after Close the error wraps net.ErrClosed.
func (s *Socket) Accept() (Conn, error) { return s.accept(false) }

// AcceptOrIdle is Accept for a caller that waits for quiet sockets
// elsewhere (a Watcher): while the socket is busy it waits for the next
// connection in poll(2) as Accept does, but where Accept would wait in
// the runtime poller, once the socket has been quiet for a while, it
// returns ErrIdle at once. Concurrent calls on one Socket take turns with
// each other and with Accept.
func (s *Socket) AcceptOrIdle() (Conn, error) { return s.accept(true) }

func (s *Socket) accept(orIdle bool) (Conn, error) {
	if !s.listening {
		return Conn{}, fmt.Errorf("accept %s %s: %w", s.addr.Network, s.addr, errNotListening)
	}
	op := s.getAcceptOp()
	defer s.putAcceptOp(op)
	op.orIdle = orIdle
	if err := s.rc.Read(op.fn); err != nil {
		return Conn{}, s.opError("accept", err)
	}
	if op.idle {
		if s.closed.Load() {
			return Conn{}, s.opError("accept", closedError{})
		}
		return Conn{}, ErrIdle
	}
	if op.errno != 0 {
		return Conn{}, fmt.Errorf("accept %s %s: %w", s.addr.Network, s.addr, os.NewSyscallError("accept4", op.errno))
	}
	c := Conn{FD: op.nfd}
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
