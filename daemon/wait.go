package daemon

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/superd-dev/superd/spawner"
)

// A wait-mode handler that exits sooner than quickExit leaving its socket
// readable is restarted after a back-off from waitBackoffMin doubling to
// waitBackoffMax; superd never drains the socket.
const (
	quickExit      = time.Second
	waitBackoffMin = time.Second
	waitBackoffMax = 60 * time.Second
)

// waitLoop serves a wait-mode service: when the socket becomes readable,
// one handler gets the socket itself, and superd stops watching it until
// that handler exits.
func (d *Daemon) waitLoop(s *socket) {
	var backoff time.Duration
	deferred := false // a start is being held back by a refusal
	fd := s.sock.FD()
	for {
		if err := s.sock.WaitReadable(); err != nil {
			if errors.Is(err, net.ErrClosed) || isClosed(s.stop) {
				return
			}
			s.svc.log.Warn("wait for socket", "error", err)
			if !sleep(minBackoff, s.stop) {
				return
			}
			continue
		}
		if isClosed(s.stop) {
			return
		}
		svc := s.svc
		st := svc.state.Load()
		now := time.Now()
		var client netip.AddrPort
		if st.protocol == "udp" {
			src, err := s.sock.PeekFrom()
			if err != nil {
				continue // spurious wake-up or closed: WaitReadable tells
			}
			client = src
		}
		var addr netip.Addr
		if client.IsValid() {
			addr = client.Addr()
		}
		ticket, reason, ok := d.admit(svc, addr, now)
		if !ok {
			if st.protocol == "udp" {
				svc.refuse(reason, remoteString(client))
				s.sock.Discard()
				continue
			}
			// A TCP or Unix wait service cannot drop the client (only
			// max_load can refuse here): the start waits, counted and
			// logged once per wait, and is tried again shortly.
			if !deferred {
				svc.refuse(reason, "-")
				deferred = true
			}
			if !sleep(waitBackoffMin, s.stop) {
				return
			}
			continue
		}
		deferred = false
		f := spawner.Files{Stdin: -1, Stdout: -1, Extra: -1, Stderr: st.stderr}
		if st.passFD {
			f.Extra = fd
			f.StdoutIsStderr = st.stderr == spawner.StderrLog
		} else {
			f.Stdin, f.Stdout = fd, fd
		}
		if err := s.sock.SetBlocking(true); err != nil {
			svc.log.Warn("socket to blocking mode", "error", err)
		}
		svc.active.Add(1)
		started := time.Now()
		h, exited := d.start(svc, st, f, "-", ticket, now)
		if h != nil {
			select {
			case <-exited:
			case <-d.done:
				// SIGTERM at once, SIGKILL kill_delay later (SPEC §5).
				h.Signal(syscall.SIGTERM)
				kill := time.NewTimer(d.killWait)
				select {
				case <-exited:
				case <-kill.C:
					h.Signal(syscall.SIGKILL)
					<-exited
				}
				kill.Stop()
			}
		}
		if isClosed(s.stop) {
			return
		}
		if err := s.sock.SetBlocking(false); err != nil {
			svc.log.Warn("socket to non-blocking mode", "error", err)
		}
		if h != nil && time.Since(started) >= quickExit {
			backoff = 0
			continue
		}
		if h != nil && !readable(fd) {
			continue
		}
		if h != nil {
			svc.results[resSpawnError].Add(1)
		}
		if backoff == 0 {
			backoff = waitBackoffMin
		} else if backoff *= 2; backoff > waitBackoffMax {
			backoff = waitBackoffMax
		}
		svc.log.Warn("wait-mode handler exited at once leaving its socket readable; backing off", "retry_in", backoff)
		if !sleep(backoff, s.stop) {
			return
		}
	}
}

// readable polls fd without blocking.
func readable(fd int) bool {
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(p, 0)
	return err == nil && n > 0 && p[0].Revents&unix.POLLIN != 0
}
