package listener

import (
	"fmt"
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reply sends b as one datagram from the UDP socket to remote, with local
// as its source address (IP_PKTINFO or IPV6_PKTINFO), in one non-blocking
// sendmsg: builtins answer without a reply socket. local is normally
// Datagram.Local and remote Datagram.Remote; local's port must be the
// socket's (or 0), and an invalid local lets the kernel choose the
// source. An IPv4 remote on a dual-stack socket is sent to as a v4-mapped
// address with a v4-mapped IPV6_PKTINFO source. A link-local remote
// without a zone takes local's. A full send buffer is an error wrapping
// EAGAIN: the reply is dropped, as UDP may.
func (s *Socket) Reply(local, remote netip.AddrPort, b []byte) error {
	if s.sotype != unix.SOCK_DGRAM {
		return fmt.Errorf("reply %s %s: %w", s.addr.Network, s.addr, errNotDatagram)
	}
	op := s.getRecvOp()
	defer s.putRecvOp(op)
	if err := op.prepareSend(s, local, remote, b); err != nil {
		return fmt.Errorf("reply %s -> %s: %w", local, remote, err)
	}
	err := s.rc.Control(op.sfn)
	op.iov.Base = nil // do not keep the caller's buffer alive in the pool
	op.msg.Iov = nil
	if err != nil {
		return s.opError("reply", err)
	}
	if op.errno != 0 {
		return fmt.Errorf("reply %s -> %s: %w", local, remote, os.NewSyscallError("sendmsg", op.errno))
	}
	return nil
}

// prepareSend fills op's sockaddr, iovec and control message for Reply.
func (op *recvOp) prepareSend(s *Socket, local, remote netip.AddrPort, b []byte) error {
	rip := remote.Addr()
	lip := local.Addr()
	if !rip.IsValid() {
		return fmt.Errorf("invalid remote address")
	}
	if local.Port() != 0 && local.Port() != s.local.Port() {
		return fmt.Errorf("source port %d is not the socket's %d", local.Port(), s.local.Port())
	}
	v4 := rip.Unmap().Is4()
	if lip.IsValid() && lip.Unmap().Is4() != v4 {
		return fmt.Errorf("address families differ")
	}
	if s.family == unix.AF_INET && !v4 || s.family == unix.AF_INET6 && v4 && s.v6only {
		return fmt.Errorf("address family not served by the socket")
	}
	op.msg = unix.Msghdr{}
	op.iov = unix.Iovec{}
	op.rsa = unix.RawSockaddrAny{}
	op.oob = [16]uint64{}
	if len(b) > 0 {
		op.iov.Base = &b[0]
		op.iov.SetLen(len(b))
		op.msg.Iov = &op.iov
		op.msg.SetIovlen(1)
	}
	op.msg.Name = (*byte)(unsafe.Pointer(&op.rsa))
	oob := unsafe.Slice((*byte)(unsafe.Pointer(&op.oob[0])), len(op.oob)*8)
	if s.family == unix.AF_INET {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&op.rsa))
		sa.Family = unix.AF_INET
		sa.Port = htons(remote.Port())
		sa.Addr = rip.Unmap().As4()
		op.msg.Namelen = unix.SizeofSockaddrInet4
		if lip.IsValid() {
			h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
			h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
			h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
			pi.Spec_dst = lip.Unmap().As4()
			op.msg.Control = &oob[0]
			op.msg.SetControllen(unix.CmsgSpace(unix.SizeofInet4Pktinfo))
		}
		return nil
	}
	var ifindex uint32
	if lip.IsValid() && lip.Zone() != "" {
		var err error
		if ifindex, err = scopeID(lip.Zone()); err != nil {
			return err
		}
	}
	sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&op.rsa))
	sa.Family = unix.AF_INET6
	sa.Port = htons(remote.Port())
	sa.Addr = rip.As16() // As16 maps an IPv4 address
	if rip.Zone() != "" {
		id, err := scopeID(rip.Zone())
		if err != nil {
			return err
		}
		sa.Scope_id = id
	} else if rip.IsLinkLocalUnicast() || rip.IsLinkLocalMulticast() {
		sa.Scope_id = ifindex
	}
	op.msg.Namelen = unix.SizeofSockaddrInet6
	if lip.IsValid() {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
		pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
		pi.Addr = lip.As16()
		pi.Ifindex = ifindex
		op.msg.Control = &oob[0]
		op.msg.SetControllen(unix.CmsgSpace(unix.SizeofInet6Pktinfo))
	}
	return nil
}

// send is the rc.Control callback of Reply: one sendmsg, never blocking.
func (op *recvOp) send(fd uintptr) {
	r, _, e := unix.Syscall(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&op.msg)), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
	op.n, op.errno = int(r), e
}

// htons encodes a port for a raw sockaddr (network byte order).
func htons(p uint16) uint16 {
	var v uint16
	b := (*[2]byte)(unsafe.Pointer(&v))
	b[0], b[1] = byte(p>>8), byte(p)
	return v
}
