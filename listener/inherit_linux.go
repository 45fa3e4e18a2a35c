package listener

import (
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// Inherit wraps a socket passed in by systemd (LISTEN_FDS). It reads the
// socket's type, family, bound address, IPV6_V6ONLY and listening state
// from the kernel (Addr and Matches report them), makes the socket
// non-blocking and registers it with the runtime poller.
//
// On success the Socket holds its own duplicate of the descriptor and f is
// closed; on error f is left open for the caller to close. An inherited
// socket is never unlinked. Unix datagram and sequential-packet sockets,
// and families other than inet, inet6 and unix, are refused.
func Inherit(f *os.File) (*Socket, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("inherit %s: %w", f.Name(), err)
	}
	var nfd int
	var derr error
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, fmt.Errorf("inherit %s: %w", f.Name(), err)
	}
	if derr != nil {
		return nil, fmt.Errorf("inherit %s: %w", f.Name(), os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", derr))
	}
	s, err := inheritFD(nfd)
	if err != nil {
		unix.Close(nfd)
		return nil, fmt.Errorf("inherit %s: %w", f.Name(), err)
	}
	// Wrap first, then close the caller's copy (nfd is a separate fd).
	w, err := newSocketFrom(s, nfd)
	if err != nil {
		return nil, fmt.Errorf("inherit %s: %w", f.Name(), err)
	}
	f.Close()
	return w, nil
}

// inheritFD reads the state of fd into a Socket template (not yet wrapped).
func inheritFD(fd int) (*Socket, error) {
	s := &Socket{fd: fd, inherited: true}
	var err error
	if s.sotype, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil {
		return nil, os.NewSyscallError("getsockopt SO_TYPE", err)
	}
	if s.family, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil {
		return nil, os.NewSyscallError("getsockopt SO_DOMAIN", err)
	}
	acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err != nil {
		return nil, os.NewSyscallError("getsockopt SO_ACCEPTCONN", err)
	}
	s.listening = acc != 0
	switch {
	case s.family == unix.AF_UNIX && s.sotype == unix.SOCK_STREAM:
		s.addr.Network = "unix"
	case (s.family == unix.AF_INET || s.family == unix.AF_INET6) && s.sotype == unix.SOCK_STREAM:
		s.addr.Network = "tcp"
	case (s.family == unix.AF_INET || s.family == unix.AF_INET6) && s.sotype == unix.SOCK_DGRAM:
		s.addr.Network = "udp"
	default:
		return nil, fmt.Errorf("unsupported socket (family %d, type %d)", s.family, s.sotype)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, os.NewSyscallError("getsockname", err)
	}
	if s.family == unix.AF_UNIX {
		if su, ok := sa.(*unix.SockaddrUnix); ok {
			s.addr.Path = su.Name
		}
	} else {
		ap, scope, ok := sockaddrAddrPort(sa)
		if !ok {
			return nil, fmt.Errorf("getsockname: unexpected address %T", sa)
		}
		if s.family == unix.AF_INET6 {
			v, err := unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
			if err != nil {
				return nil, os.NewSyscallError("getsockopt IPV6_V6ONLY", err)
			}
			s.v6only = v != 0
		}
		s.scope = scope
		s.addr.Port = ap.Port()
		if s.family == unix.AF_INET6 && !s.v6only && ap.Addr().IsUnspecified() {
			s.addr.DualStack = true
		} else {
			ip := ap.Addr()
			if scope != 0 {
				ip = ip.WithZone(zoneName(scope))
			}
			s.addr.IP = ip
		}
		s.local = netip.AddrPortFrom(s.addr.IP, ap.Port())
		if s.addr.DualStack {
			s.local = ap
		}
		s.wildcard = ap.Addr().IsUnspecified()
		if !s.wildcard {
			s.connLocal = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		}
		if s.sotype == unix.SOCK_DGRAM {
			if err := setPktinfo(fd, s.family); err != nil {
				return nil, err
			}
		}
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, os.NewSyscallError("fcntl O_NONBLOCK", err)
	}
	return s, nil
}

// newSocketFrom wraps fd (non-blocking now) into a Socket carrying the
// state read into t. On error fd is closed.
func newSocketFrom(t *Socket, fd int) (*Socket, error) {
	s, err := newSocket(fd, t.addr, t.family, t.sotype)
	if err != nil {
		return nil, err
	}
	s.local, s.connLocal, s.wildcard = t.local, t.connLocal, t.wildcard
	s.v6only, s.scope, s.listening, s.inherited = t.v6only, t.scope, t.listening, true
	return s, nil
}

// zoneName names interface index i for an Addr zone: the interface name
// where the index is known, else the number.
func zoneName(i uint32) string {
	if n, err := interfaceName(i); err == nil {
		return n
	}
	return fmt.Sprint(i)
}

// Matches reports whether the socket is what a asks for: the same socket
// type and network, a listening socket for tcp and unix, and for inet the
// same family, address (a zone compared by interface index), port and
// IPV6_V6ONLY (a dual-stack ":port" wants an AF_INET6 [::] socket with
// V6ONLY off). SPEC §5: sockets passed in by systemd are used for the
// services they match.
func (s *Socket) Matches(a Addr) bool {
	if a.Network != s.addr.Network {
		return false
	}
	if s.sotype == unix.SOCK_STREAM && !s.listening {
		return false
	}
	if a.Network == "unix" {
		return s.family == unix.AF_UNIX && a.Path != "" && a.Path == s.addr.Path
	}
	if a.Port != s.addr.Port {
		return false
	}
	if a.DualStack {
		return s.family == unix.AF_INET6 && !s.v6only && s.local.Addr().IsUnspecified()
	}
	if !a.IP.IsValid() {
		return false
	}
	if a.IP.Is4() {
		return s.family == unix.AF_INET && s.local.Addr() == a.IP
	}
	if s.family != unix.AF_INET6 || !s.v6only {
		return false
	}
	if s.local.Addr().WithZone("") != a.IP.WithZone("") {
		return false
	}
	want, err := scopeID(a.IP.Zone())
	return err == nil && want == s.scope
}
