package daemon

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/superd-dev/superd/acl"
	"github.com/superd-dev/superd/builtin"
	"github.com/superd-dev/superd/listener"
	"github.com/superd-dev/superd/spawner"
)

// maxDatagram is the largest UDP payload; a pipe (64 KiB) holds it whole.
const maxDatagram = 65536

// datagramLoop serves a nowait UDP service: each datagram that passes the
// checks starts a handler (or gets a builtin's reply).
func (d *Daemon) datagramLoop(s *socket) {
	buf := make([]byte, maxDatagram)
	reply := make([]byte, 0, 1024)
	var delay time.Duration
	for {
		if !s.svc.waitPause(s.stop) {
			return
		}
		dg, err := s.sock.RecvFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || isClosed(s.stop) {
				return
			}
			if listener.IsTemporary(err) {
				delay = nextBackoff(delay)
				if !sleep(delay, s.stop) {
					return
				}
				continue
			}
			s.svc.log.Error("receive", "error", err)
			if !sleep(maxBackoff, s.stop) {
				return
			}
			continue
		}
		delay = 0
		d.serveDatagram(s, dg, buf[:dg.N], true, reply)
	}
}

// serveDatagram checks one datagram and answers it (a builtin, with
// reply as scratch space) or starts its handler in a goroutine of its
// own, which gets a copy of payload if payload is borrowed.
func (d *Daemon) serveDatagram(s *socket, dg listener.Datagram, payload []byte, borrowed bool, reply []byte) {
	svc := s.svc
	// Never answer what could be a forged packet-storm source.
	if !builtin.AllowedSource(dg.Remote) {
		svc.ignored.Add(1)
		svc.log.Debug("dropped datagram from a reserved source", "remote", dg.Remote.String())
		return
	}
	st := svc.state.Load()
	now := time.Now()
	ticket, reason, ok := d.admit(svc, dg.Remote.Addr(), now)
	if !ok {
		svc.refuse(reason, dg.Remote.String())
		return
	}
	if st.builtin != "" {
		svc.results[resAccepted].Add(1)
		out := builtin.Reply(st.builtin, payload, now, st.loc, reply[:0])
		if out != nil {
			d.sendReply(s, dg, out)
		}
		ticket.Release()
		return
	}
	if borrowed {
		payload = append([]byte(nil), payload...)
	}
	svc.active.Add(1)
	d.loops.Add(1)
	go func() {
		defer d.loops.Done()
		d.spawnDatagram(s, st, dg, payload, ticket, now)
	}()
}

// sendReply answers a datagram from the listening socket itself, from
// the address the client reached.
func (d *Daemon) sendReply(s *socket, dg listener.Datagram, out []byte) {
	if err := s.sock.Reply(dg.Local, dg.Remote, out); err != nil {
		s.svc.log.Debug("reply", "remote", dg.Remote.String(), "error", err)
	}
}

// spawnDatagram starts a handler for one datagram: the payload on a pipe
// as stdin, a reply socket connected to the client on fd 1 (stdio) or 3.
// Datagrams that reached the reply socket before its connect are served
// as the listener's first.
func (d *Daemon) spawnDatagram(s *socket, st *state, dg listener.Datagram, payload []byte, ticket acl.Ticket, accepted time.Time) {
	svc := s.svc
	fail := func(what string, err error) {
		svc.active.Add(-1)
		ticket.Release()
		svc.spawnFailed(dg.Remote.String(), fmt.Errorf("%s: %w", what, err))
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		fail("pipe", err)
		return
	}
	if len(payload) > 0 {
		if _, err := unix.Write(p[1], payload); err != nil {
			unix.Close(p[0])
			unix.Close(p[1])
			fail("pipe", err)
			return
		}
	}
	unix.Close(p[1])
	rfd, err := listener.DialReply(dg.Local, dg.Remote)
	if err != nil {
		unix.Close(p[0])
		fail("reply socket", err)
		return
	}
	for {
		qd, q, ok := listener.TakeQueued(rfd, dg.Local)
		if !ok {
			break
		}
		svc.log.Debug("datagram taken back from a reply socket", "remote", qd.Remote.String())
		d.serveDatagram(s, qd, q, false, nil)
	}
	f := spawner.Files{Stdin: p[0], Stdout: -1, Extra: -1, Stderr: st.stderr}
	if st.passFD {
		f.Extra = rfd
		f.StdoutIsStderr = st.stderr == spawner.StderrLog
	} else {
		f.Stdout = rfd
	}
	f.Env = datagramEnv(dg)
	d.launch(svc, st, f, dg.Remote.String(), ticket, accepted)
	unix.Close(p[0])
	unix.Close(rfd)
	d.sp.Reap() // see handleConn
}

// datagramEnv is what one datagram adds to the service's environment.
func datagramEnv(dg listener.Datagram) []string {
	return append(make([]string, 0, 4),
		"REMOTE_ADDR="+dg.Remote.Addr().String(), "REMOTE_PORT="+strconv.Itoa(int(dg.Remote.Port())),
		"LOCAL_ADDR="+dg.Local.Addr().String(), "LOCAL_PORT="+strconv.Itoa(int(dg.Local.Port())))
}
