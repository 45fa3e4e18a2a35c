// Package builtin implements the small services superd answers itself,
// without forking a handler: echo (RFC 862), discard (RFC 863), chargen
// (RFC 864), daytime (RFC 867) and time (RFC 868).
//
// ServeStream serves one TCP or Unix stream session on a connected socket
// that it takes over (and closes); Reply builds the single answer to
// a UDP datagram; AllowedSource keeps UDP builtins (and UDP nowait
// handlers) out of echo/chargen packet storms (CVE-1999-0103).
//
// Choices:
//   - chargen starts its rotation at the space character, as the BSD inetd
//     and xinetd do: line i holds ring characters i..i+71 (mod 95) then
//     "\r\n". Over UDP the reply is always the first line, 74 bytes: RFC 864
//     allows 0..512 bytes, and the smallest useful answer makes the service
//     the poorest amplifier (BSD inetd answers one line too).
//   - AllowedSource knows no interface addresses, so of the broadcast
//     addresses only the limited broadcast 255.255.255.255 is refused; a
//     subnet's directed broadcast (often x.y.z.255) is indistinguishable
//     from a host address here, and routers do not forward it by default.
//   - A stream session waits in Go's network poller, not in a thread of
//     its own (a flood of idle sessions costs descriptors and goroutines,
//     never thousands of threads): the socket is made non-blocking and
//     every read and write waits for readiness under the session's
//     deadline, which stop moves into the past; sends use MSG_NOSIGNAL so
//     a client that goes away yields EPIPE, never SIGPIPE.
//
// Usage, in the daemon's accept loop:
//
//	if builtin.Valid(svc.Builtin) {
//		err := builtin.ServeStream(svc.Builtin, conn.FD, time.Now().Add(timeout), stop, loc) // closes conn.FD
//	}
//
// and for a datagram:
//
//	if builtin.AllowedSource(dg.Remote) {
//		if out := builtin.Reply(name, buf[:dg.N], time.Now(), loc, reply[:0]); out != nil {
//			// send out to dg.Remote from dg.Local
//		}
//	}
package builtin
