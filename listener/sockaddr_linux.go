package listener

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ntohs decodes a port stored in network byte order in a raw sockaddr.
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// rawAddrPort converts a raw inet sockaddr to an address without
// allocating: v4-mapped addresses are unmapped, the zone is dropped. It
// returns the zero AddrPort for other families.
func rawAddrPort(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), ntohs(sa.Port))
	}
	return netip.AddrPort{}
}

// sockaddrAddrPort converts a unix.Sockaddr (from Getsockname) to an
// address, keeping v4-mapped form and the scope id as returned.
func sockaddrAddrPort(sa unix.Sockaddr) (ap netip.AddrPort, scope uint32, ok bool) {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)), 0, true
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)), sa.ZoneId, true
	}
	return netip.AddrPort{}, 0, false
}

// scopeID turns a zone (an interface name or a number) into the scope id
// that sin6_scope_id takes. The name lookup is local (netlink), never DNS.
func scopeID(zone string) (uint32, error) {
	if zone == "" {
		return 0, nil
	}
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n), nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, fmt.Errorf("zone %q: %w", zone, err)
	}
	return uint32(ifi.Index), nil
}

// inetSockaddr builds the sockaddr to bind or connect ip:port for a socket
// of the given family. An IPv4 address on an AF_INET6 socket is mapped.
func inetSockaddr(family int, ip netip.Addr, port uint16) (unix.Sockaddr, error) {
	if family == unix.AF_INET {
		if !ip.Is4() {
			return nil, errors.New("not an IPv4 address: " + ip.String())
		}
		return &unix.SockaddrInet4{Port: int(port), Addr: ip.As4()}, nil
	}
	sid, err := scopeID(ip.Zone())
	if err != nil {
		return nil, err
	}
	return &unix.SockaddrInet6{Port: int(port), Addr: ip.As16(), ZoneId: sid}, nil
}

func familyOf(ip netip.Addr) int {
	if ip.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// interfaceName returns the name of interface index i (a local netlink
// query).
func interfaceName(i uint32) (string, error) {
	ifi, err := net.InterfaceByIndex(int(i))
	if err != nil {
		return "", err
	}
	return ifi.Name, nil
}
