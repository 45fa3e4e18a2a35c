package listener

import (
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkAccept measures one loopback connect + Accept + close. The
// client side uses raw system calls, so the allocations reported are
// Accept's own.
func BenchmarkAccept(b *testing.B) {
	for _, l := range []string{"127.0.0.1:0", "0.0.0.0:0"} {
		b.Run(l, func(b *testing.B) {
			s := mustBind(b, mustParse(b, "tcp", l), Options{})
			sa := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: int(s.Addr().Port)}
			linger := &unix.Linger{Onoff: 1, Linger: 0} // RST on close: no TIME_WAIT pile-up
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					b.Fatal(err)
				}
				if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, linger); err != nil {
					b.Fatal(err)
				}
				if err := unix.Connect(fd, sa); err != nil {
					b.Fatal(err)
				}
				c, err := s.Accept()
				if err != nil {
					b.Fatal(err)
				}
				unix.Close(c.FD)
				unix.Close(fd)
			}
		})
	}
}
