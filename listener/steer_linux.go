package listener

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Steering unconnected datagrams to the listening UDP socket.
//
// A UDP nowait reply socket (DialReply) is made with socket, SO_REUSEPORT,
// bind(service address:port), connect(client). Between bind and connect
// it is an unconnected member of the port's SO_REUSEPORT group, and the
// kernel's reuseport selection could hand it another client's datagram,
// which nobody would then read for that client.
//
// The listening socket's group therefore carries a one-instruction classic
// BPF program, `ret #0` (SO_ATTACH_REUSEPORT_CBPF): whenever the kernel
// picks a member of the group for a datagram, it picks socks[0], the
// listener. Against udp4_lib_lookup2 / udp6_lib_lookup2 (Linux 5.x-6.x):
//
//   - The hash2 chain of (local address, port) is scored. A connected reply
//     socket scores -1 for every 4-tuple but its own and higher than any
//     unconnected socket for its own (remote address and port add to the
//     score), and is taken directly (TCP_ESTABLISHED) without reuseport
//     selection: later datagrams from a handler's client still reach the
//     handler, as SPEC §3 wants.
//   - For any other unconnected match, listener or a reply socket still
//     between bind and connect, the kernel runs the group's selection: the
//     program returns index 0, the listener. If the group has connected
//     members (reuseport_has_conns), the kernel goes on scoring, the
//     listener keeps the score of an unconnected socket and only a socket
//     connected to that very client can beat it; without connected members
//     the listener is returned at once. An unconnected reply socket is never
//     chosen.
//
// This holds only while socks[0] is the listener. Members are appended at
// bind and a leaving member is replaced by the last one, so the first
// socket of a group stays at index 0 for as long as it lives. bindSteered
// makes sure the listener is that first socket (see there); Close detaches
// the program before the listener leaves the group, since the group, its
// program included, outlives the listener while reply sockets remain, and
// a program still returning 0 would then send every unconnected datagram
// to whatever reply socket (maybe a connected one) moved to index 0.
//
// Linux 6.13 and later put a connected UDP socket in a 4-tuple hash
// (hash4) and take it out of its reuseport group, while it stays in the
// port's list with SO_REUSEPORT set. A socket bound later joins the group
// of the first compatible socket in that list; AF_INET sockets are added
// at its head, so a new IPv4 reply socket may find a connected reply
// socket first and start a new group with it, without the program, where
// it is the only unconnected member and wins: for IPv4 services on those
// kernels the program narrows the window but does not close it (measured:
// 14 to 27 of 4000 requests steered away without it, 0 to 7 with it).
// Those datagrams wait in the reply socket's queue, and TakeQueued gives
// them back to the caller, which serves them as the listener's before
// the handler gets the socket: none is lost. AF_INET6 sockets
// are added at the tail of that list, so a new IPv6 reply socket finds the
// listener first and joins its group (measured: 16 of 4000 lost without
// the program, none with it).
//
// Only sockets bound to the same address share a group: a reply socket
// bound to 127.0.0.1:7 never joins the group of a listener bound to
// 0.0.0.0:7 or [::]:7 (nor an AF_INET6 one of an AF_INET listener, nor one
// with a different IPV6_V6ONLY). For such wildcard listeners the program
// changes nothing, and a reply socket between bind and connect, being a
// more specific match than the wildcard listener, can still take another
// client's datagram, which TakeQueued gives back too. Builtins avoid reply
// sockets altogether with Socket.Reply.
//
// Inherited (systemd) sockets get no program: systemd normally binds them
// before anything else, but whether a socket is the first of its group
// cannot be read back from the kernel, and a wrong guess (say the socket
// unit was restarted while an old handler's connected reply socket held
// the port) would steer every datagram to that handler.

// steerFirst is `ret #0` (BPF_RET|BPF_K, k=0): choose socks[0].
var steerFirst = [1]unix.SockFilter{{Code: 0x06, K: 0}}

func attachSteer(fd int) error {
	prog := unix.SockFprog{Len: uint16(len(steerFirst)), Filter: &steerFirst[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &prog); err != nil {
		return os.NewSyscallError("setsockopt SO_ATTACH_REUSEPORT_CBPF", err)
	}
	return nil
}

// detachSteer removes the group's program; a group without one (ENOENT)
// or an old kernel is fine.
func detachSteer(fd int) {
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DETACH_REUSEPORT_BPF, 0)
}

// errShared reports that the address is already bound by another socket:
// bindInet then binds a fresh socket with bindShared.
var errShared = errors.New("address in use: bind to share it")

// bindSteered binds a UDP socket (SO_REUSEPORT already set) so that it is
// the first member, socks[0], of its reuseport group, with steerFirst
// attached, and reports whether it managed to.
//
// Attaching the program to an unbound socket with SO_REUSEPORT creates the
// socket's own one-member group, the socket at index 0. The bind is then
// made with SO_REUSEPORT cleared: it succeeds only if no other socket holds
// the address and port (any holder conflicts), so the socket keeps its own
// group instead of joining one; SO_REUSEPORT is set again right after, and
// reply sockets bound later join this group behind the listener.
//
// If the address is in use (say, by reply sockets of handlers that
// outlived a previous superd), it returns errShared: a socket that has a
// group of its own can share no port (udp_lib_lport_inuse), so bindInet
// starts over with a fresh socket and bindShared. If the kernel refuses
// the program (before Linux 4.5, or a seccomp filter), the socket binds
// as before.
func bindSteered(fd int, sa unix.Sockaddr) (steered bool, err error) {
	if attachSteer(fd) != nil {
		return false, bindErr(unix.Bind(fd, sa))
	}
	if err := setInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, false, "SO_REUSEPORT"); err != nil {
		return false, err
	}
	berr := unix.Bind(fd, sa)
	if errors.Is(berr, unix.EADDRINUSE) {
		return false, errShared
	}
	if berr != nil {
		return false, bindErr(berr)
	}
	if err := setInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, true, "SO_REUSEPORT"); err != nil {
		return false, err
	}
	return true, nil
}

// bindShared binds a UDP socket that joins the group already on the
// address, at some later index, and detaches any program left in that
// group by a listener that died without Close: that group's socks[0] may
// now be a connected reply socket. The group then picks members by hash,
// as without steering.
func bindShared(fd int, sa unix.Sockaddr) error {
	if err := unix.Bind(fd, sa); err != nil {
		return os.NewSyscallError("bind", err)
	}
	detachSteer(fd)
	return nil
}

func bindErr(err error) error {
	if err != nil {
		return os.NewSyscallError("bind", err)
	}
	return nil
}
