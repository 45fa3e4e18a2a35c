package listener

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// Bind creates, configures and binds the socket for a; TCP and Unix
// sockets also listen(backlog). TCP sets SO_REUSEADDR; UDP sets
// SO_REUSEPORT (never SO_REUSEADDR) and asks for the destination address
// of each datagram (IP_PKTINFO, IPV6_RECVPKTINFO). A dual-stack address
// falls back to 0.0.0.0 when the kernel has no IPv6. The error names the
// network and address, and wraps the errno (errors.Is(err,
// unix.EADDRINUSE) works).
func Bind(a Addr, o Options) (*Socket, error) {
	if o.Backlog < 0 {
		return nil, fmt.Errorf("listen %s %s: negative backlog %d", a.Network, a, o.Backlog)
	}
	var s *Socket
	var err error
	switch a.Network {
	case "tcp", "udp":
		s, err = bindInet(a, o)
	case "unix":
		s, err = bindUnix(a, o)
	default:
		return nil, fmt.Errorf("listen %q %s: unknown network", a.Network, a)
	}
	if err != nil {
		return nil, fmt.Errorf("listen %s %s: %w", a.Network, a, err)
	}
	return s, nil
}

func bindInet(a Addr, o Options) (*Socket, error) {
	sotype := unix.SOCK_STREAM
	if a.Network == "udp" {
		sotype = unix.SOCK_DGRAM
	}
	ip := a.IP
	switch {
	case a.DualStack:
		ip = netip.IPv6Unspecified()
	case !ip.IsValid():
		return nil, errors.New("no IP address")
	}
	family := familyOf(ip)
	fd, err := unix.Socket(family, sotype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err == unix.EAFNOSUPPORT && a.DualStack {
		// IPv6 is off (ipv6.disable=1): ":port" means 0.0.0.0.
		ip, family = netip.IPv4Unspecified(), unix.AF_INET
		fd, err = unix.Socket(family, sotype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	}
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	v6only := family == unix.AF_INET6 && !a.DualStack
	steered, err := setupInet(fd, a, o, ip, family, sotype, v6only, true)
	if err == errShared {
		unix.Close(fd)
		fd, err = unix.Socket(family, sotype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, os.NewSyscallError("socket", err)
		}
		steered, err = setupInet(fd, a, o, ip, family, sotype, v6only, false)
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	s, err := newSocket(fd, a, family, sotype) // owns fd from here on, even on error
	if err != nil {
		return nil, err
	}
	s.v6only = v6only
	s.steered = steered
	s.listening = sotype == unix.SOCK_STREAM
	if err := s.fillInet(); err != nil {
		s.f.Close()
		return nil, err
	}
	return s, nil
}

// setupInet sets the options, binds and listens. With steer, a UDP socket
// is bound as the first member of its reuseport group with steerFirst
// attached where possible (steered), or errShared is returned when
// another socket has the address; without, it joins that socket's group
// (see steer_linux.go).
func setupInet(fd int, a Addr, o Options, ip netip.Addr, family, sotype int, v6only, steer bool) (steered bool, err error) {
	if family == unix.AF_INET6 {
		if err := setInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only, "IPV6_V6ONLY"); err != nil {
			return false, err
		}
	}
	if err := setOptions(fd, o, family, sotype); err != nil {
		return false, err
	}
	sa, err := inetSockaddr(family, ip, a.Port)
	if err != nil {
		return false, err
	}
	if sotype == unix.SOCK_DGRAM {
		if steer {
			return bindSteered(fd, sa)
		}
		return false, bindShared(fd, sa)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return false, os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(fd, o.backlog()); err != nil {
		return false, os.NewSyscallError("listen", err)
	}
	return false, nil
}

// setOptions applies the socket options of o that fit the socket type.
func setOptions(fd int, o Options, family, sotype int) error {
	if sotype == unix.SOCK_STREAM {
		if err := setInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, true, "SO_REUSEADDR"); err != nil {
			return err
		}
		if o.Keepalive {
			if err := setInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, true, "SO_KEEPALIVE"); err != nil {
				return err
			}
		}
		if o.NoDelay {
			if err := setInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, true, "TCP_NODELAY"); err != nil {
				return err
			}
		}
	} else {
		if err := setInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, true, "SO_REUSEPORT"); err != nil {
			return err
		}
		if err := setPktinfo(fd, family); err != nil {
			return err
		}
	}
	if o.FreeBind {
		if family == unix.AF_INET6 {
			err := setInt(fd, unix.IPPROTO_IPV6, unix.IPV6_FREEBIND, true, "IPV6_FREEBIND")
			if !errors.Is(err, unix.ENOPROTOOPT) {
				return err
			}
			// Before Linux 4.15, IP_FREEBIND covers IPv6 sockets too.
		}
		if err := setInt(fd, unix.IPPROTO_IP, unix.IP_FREEBIND, true, "IP_FREEBIND"); err != nil {
			return err
		}
	}
	return nil
}

// setPktinfo asks for the destination address of each datagram. A
// dual-stack AF_INET6 socket also gets IP_PKTINFO for its IPv4 clients
// where the kernel allows it.
func setPktinfo(fd, family int) error {
	if family == unix.AF_INET {
		return setInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, true, "IP_PKTINFO")
	}
	if err := setInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, true, "IPV6_RECVPKTINFO"); err != nil {
		return err
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
	return nil
}

func setInt(fd, level, opt int, on bool, name string) error {
	v := 0
	if on {
		v = 1
	}
	if err := unix.SetsockoptInt(fd, level, opt, v); err != nil {
		return fmt.Errorf("setsockopt %s: %w", name, err)
	}
	return nil
}
