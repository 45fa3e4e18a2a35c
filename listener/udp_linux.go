package listener

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Datagram describes one datagram read by RecvFrom.
type Datagram struct {
	N      int            // bytes stored in buf; a longer datagram is truncated
	Remote netip.AddrPort // the sender, unmapped, zone dropped
	// Local is the destination address from pktinfo plus the socket's
	// port, unmapped: the address the client reached, which DialReply
	// binds so that the reply leaves from it. A link-local IPv6 address
	// keeps the interface index as a numeric zone (bind needs it).
	Local netip.AddrPort
}

// recvOp is the scratch state of one recvmsg (or of Reply's sendmsg),
// pooled per Socket. oob is
// made of uint64s so that the control messages in it are aligned.
type recvOp struct {
	rsa   unix.RawSockaddrAny
	iov   unix.Iovec
	msg   unix.Msghdr
	oob   [16]uint64
	flags int
	n     int
	errno syscall.Errno
	fn    func(uintptr) bool // op.recv
	sfn   func(uintptr)      // op.send (Reply)
}

// recv is the poller callback: false (wait) on EAGAIN, true otherwise.
func (op *recvOp) recv(fd uintptr) bool {
	op.msg.Name = (*byte)(unsafe.Pointer(&op.rsa))
	op.msg.Namelen = unix.SizeofSockaddrAny
	op.msg.Flags = 0
	r, _, e := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&op.msg)), uintptr(op.flags))
	if e == unix.EAGAIN {
		return false
	}
	op.n, op.errno = int(r), e
	return true
}

// do runs one recvmsg through the poller with the given buffer (may be
// empty), flags and, if withOOB, room for control messages.
func (s *Socket) recvmsg(op *recvOp, buf []byte, flags int, withOOB bool) error {
	op.msg = unix.Msghdr{}
	op.iov = unix.Iovec{}
	if len(buf) > 0 {
		op.iov.Base = &buf[0]
		op.iov.SetLen(len(buf))
		op.msg.Iov = &op.iov
		op.msg.SetIovlen(1)
	}
	if withOOB {
		op.msg.Control = (*byte)(unsafe.Pointer(&op.oob[0]))
		op.msg.SetControllen(len(op.oob) * 8)
	}
	op.flags = flags
	err := s.rc.Read(op.fn)
	op.iov.Base = nil // do not keep the caller's buffer alive in the pool
	op.msg.Iov = nil
	return err
}

var errNotDatagram = errors.New("not a UDP socket")

// RecvFrom reads one datagram into buf (which should hold 65536 bytes;
// a longer datagram is truncated) through the poller with recvmsg, and
// reports its sender and the local address it was sent to.
func (s *Socket) RecvFrom(buf []byte) (Datagram, error) {
	if s.sotype != unix.SOCK_DGRAM {
		return Datagram{}, fmt.Errorf("recvmsg %s %s: %w", s.addr.Network, s.addr, errNotDatagram)
	}
	op := s.getRecvOp()
	defer s.putRecvOp(op)
	if err := s.recvmsg(op, buf, 0, true); err != nil {
		return Datagram{}, s.opError("recvmsg", err)
	}
	if op.errno != 0 {
		return Datagram{}, fmt.Errorf("recvmsg %s %s: %w", s.addr.Network, s.addr, os.NewSyscallError("recvmsg", op.errno))
	}
	d := Datagram{N: op.n, Remote: rawAddrPort(&op.rsa)}
	if d.N > len(buf) {
		d.N = len(buf)
	}
	oob := unsafe.Slice((*byte)(unsafe.Pointer(&op.oob[0])), int(op.msg.Controllen))
	if ip, ok := pktinfoDst(oob); ok {
		d.Local = netip.AddrPortFrom(ip, s.local.Port())
	} else {
		d.Local = s.connLocal
	}
	return d, nil
}

// PeekFrom waits for the next datagram and returns its sender without
// reading it (MSG_PEEK): wait-mode UDP services decide on the first
// datagram before a handler reads it.
func (s *Socket) PeekFrom() (netip.AddrPort, error) {
	if s.sotype != unix.SOCK_DGRAM {
		return netip.AddrPort{}, fmt.Errorf("peek %s %s: %w", s.addr.Network, s.addr, errNotDatagram)
	}
	op := s.getRecvOp()
	defer s.putRecvOp(op)
	if err := s.recvmsg(op, nil, unix.MSG_PEEK, false); err != nil {
		return netip.AddrPort{}, s.opError("peek", err)
	}
	if op.errno != 0 {
		return netip.AddrPort{}, fmt.Errorf("peek %s %s: %w", s.addr.Network, s.addr, os.NewSyscallError("recvmsg", op.errno))
	}
	return rawAddrPort(&op.rsa), nil
}

// Discard waits for the next datagram and drops it (a refused one).
func (s *Socket) Discard() error {
	if s.sotype != unix.SOCK_DGRAM {
		return fmt.Errorf("discard %s %s: %w", s.addr.Network, s.addr, errNotDatagram)
	}
	op := s.getRecvOp()
	defer s.putRecvOp(op)
	if err := s.recvmsg(op, nil, unix.MSG_TRUNC, false); err != nil {
		return s.opError("discard", err)
	}
	if op.errno != 0 {
		return fmt.Errorf("discard %s %s: %w", s.addr.Network, s.addr, os.NewSyscallError("recvmsg", op.errno))
	}
	return nil
}

// pktinfoDst finds the destination address in IP_PKTINFO or IPV6_PKTINFO
// control messages, without allocating (except the zone string of a
// link-local IPv6 destination).
func pktinfoDst(oob []byte) (netip.Addr, bool) {
	hdrLen := unix.CmsgLen(0)
	for len(oob) >= hdrLen {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdrLen || l > len(oob) {
			break
		}
		data := oob[hdrLen:l]
		switch {
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
			// ipi_spec_dst is the local address the kernel would answer
			// from: the destination for unicast, an interface address for
			// a broadcast (which cannot be bound).
			ip := netip.AddrFrom4(pi.Spec_dst)
			if ip.IsUnspecified() {
				ip = netip.AddrFrom4(pi.Addr)
			}
			return ip, true
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			ip := netip.AddrFrom16(pi.Addr)
			if ip.Is4In6() {
				return ip.Unmap(), true
			}
			if (ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast()) && pi.Ifindex != 0 {
				ip = ip.WithZone(strconv.FormatUint(uint64(pi.Ifindex), 10))
			}
			return ip, true
		}
		next := cmsgAlign(l)
		if next >= len(oob) {
			break
		}
		oob = oob[next:]
	}
	return netip.Addr{}, false
}

func cmsgAlign(n int) int {
	const a = int(unsafe.Sizeof(uintptr(0)))
	return (n + a - 1) &^ (a - 1)
}

// DialReply makes the reply socket of a UDP nowait handler: SO_REUSEPORT
// (never SO_REUSEADDR), bound to local (the address and port the client
// reached, Datagram.Local) and connected to remote, so each write(2) is one
// reply datagram from the service's address, and later datagrams from
// remote reach this socket rather than the listener. The fd is blocking
// and close-on-exec; the caller owns it.
//
// Between bind and connect, a datagram meant for the listener can be
// steered to this socket (steer_linux.go says when); the caller takes such
// datagrams back with TakeQueued before the handler gets the socket.
func DialReply(local, remote netip.AddrPort) (fd int, err error) {
	lip := local.Addr().Unmap()
	rip := remote.Addr().Unmap()
	if !lip.IsValid() || !rip.IsValid() {
		return -1, fmt.Errorf("dial reply %s -> %s: invalid address", local, remote)
	}
	if lip.Is4() != rip.Is4() {
		return -1, fmt.Errorf("dial reply %s -> %s: address families differ", local, remote)
	}
	family := familyOf(lip)
	fd, err = unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("dial reply %s -> %s: %w", local, remote, os.NewSyscallError("socket", err))
	}
	if err := dialReply(fd, family, netip.AddrPortFrom(lip, local.Port()), netip.AddrPortFrom(rip, remote.Port())); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("dial reply %s -> %s: %w", local, remote, err)
	}
	return fd, nil
}

func dialReply(fd, family int, local, remote netip.AddrPort) error {
	if err := setInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, true, "SO_REUSEPORT"); err != nil {
		return err
	}
	lsa, err := inetSockaddr(family, local.Addr(), local.Port())
	if err != nil {
		return err
	}
	if err := unix.Bind(fd, lsa); err != nil {
		return os.NewSyscallError("bind", err)
	}
	rsa, err := inetSockaddr(family, remote.Addr(), remote.Port())
	if err != nil {
		return err
	}
	if err := unix.Connect(fd, rsa); err != nil {
		return os.NewSyscallError("connect", err)
	}
	return nil
}

// TakeQueued reads, without waiting, a datagram queued on fd, a reply
// socket from DialReply bound to local, before its connect took effect:
// it was meant for the listener, and the caller serves it as if the
// listener had received it. ok is false when nothing is queued (the
// common case costs one recvfrom).
func TakeQueued(fd int, local netip.AddrPort) (d Datagram, payload []byte, ok bool) {
	n, _, err := unix.Recvfrom(fd, nil, unix.MSG_DONTWAIT|unix.MSG_PEEK|unix.MSG_TRUNC)
	if err != nil || n < 0 {
		return Datagram{}, nil, false
	}
	payload = make([]byte, n)
	n, from, err := unix.Recvfrom(fd, payload, unix.MSG_DONTWAIT)
	if err != nil {
		return Datagram{}, nil, false
	}
	remote, _, valid := sockaddrAddrPort(from)
	if !valid {
		return Datagram{}, nil, false
	}
	remote = netip.AddrPortFrom(remote.Addr().Unmap().WithZone(""), remote.Port())
	return Datagram{N: n, Remote: remote, Local: local}, payload[:n], true
}
