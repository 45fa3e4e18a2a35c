package builtin

import (
	"net/netip"
	"time"
)

// Reply builds the one UDP answer to the request datagram req, appended to
// buf[:0] (pass a buffer of 512 bytes or more, or of len(req) for echo, to
// avoid allocating). It returns nil when there is no answer: discard, or
// a name that is not a builtin.
//
//   - echo: the request itself.
//   - daytime: now in loc (nil: time.Local) as "Mon Jan _2 15:04:05 2006\r\n";
//     the request's content is ignored.
//   - time: now as 4 bytes, big-endian seconds since 1900 modulo 2^32.
//   - chargen: the first 74-byte line of the RFC 864 pattern.
//
// Reply does not check the source: call AllowedSource first.
func Reply(name string, req []byte, now time.Time, loc *time.Location, buf []byte) []byte {
	b := buf[:0]
	switch name {
	case Echo:
		return append(b, req...)
	case Daytime:
		return appendDaytime(b, now, loc)
	case Time:
		return appendTime(b, now)
	case Chargen:
		return appendChargenLine(b, 0)
	}
	return nil
}

// AllowedSource reports whether a datagram from src may be answered: its
// port is 1024 or more and its address (v4-mapped addresses unmapped) is
// valid and not unspecified, in 0.0.0.0/8, multicast or the limited
// broadcast 255.255.255.255. Directed subnet broadcasts cannot be known
// without the interfaces' netmasks and are not refused here.
func AllowedSource(src netip.AddrPort) bool {
	if src.Port() < 1024 {
		return false
	}
	a := src.Addr().Unmap()
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() {
		return false
	}
	if a.Is4() {
		if b := a.As4(); b == [4]byte{255, 255, 255, 255} || b[0] == 0 {
			return false
		}
	}
	return true
}
