package daemon

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/superd-dev/superd/acl"
	"github.com/superd-dev/superd/builtin"
	"github.com/superd-dev/superd/listener"
	"github.com/superd-dev/superd/spawner"
)

// Accept errors such as EMFILE back off from minBackoff doubling to
// maxBackoff, never spinning.
const (
	minBackoff = 5 * time.Millisecond
	maxBackoff = time.Second
)

// maxExtraAcceptors bounds the extra acceptors (all but the first of
// each socket) of the whole daemon. A busy socket's acceptors each block
// in accept4 on a thread of their own, and the Go runtime dies past 10000
// threads: however many services are busy at once, superd stays far
// below.
const maxExtraAcceptors = 512

// acceptorsPerSocket bounds the extra goroutines accepting (and
// spawning) on one socket at once, besides its first, while a spawn waits
// for the handler's exec (spawner.LaunchWaits; otherwise one acceptor
// does, see ensureAcceptor): three quarters of GOMAXPROCS, at least 2.
// Each blocked acceptor holds a runtime P while
// in accept4; with every P held so, the runtime's monitor takes them back
// every 20 µs, which cost more CPU than the extra acceptors gained
// (measured on 2 cores, GOMAXPROCS 8, /bin/cat at 32 clients: 16 extra
// acceptors 1,500 conn/s and 241 µs of superd CPU a connection, 6 extra
// acceptors 1,713 conn/s and 186 µs; the hello handler the same within
// noise).
func acceptorsPerSocket() int32 {
	return max(2, int32(runtime.GOMAXPROCS(0))*3/4)
}

// streamLoop accepts connections of a nowait TCP or Unix service until the
// socket is retired or goes idle. It starts a handler in the goroutine
// that accepted the connection: handing each connection to a new
// goroutine costs a thread wake-up on the way to every fork. So that
// spawns still overlap, an acceptor about to spawn while another
// connection waits first makes sure another acceptor is waiting in
// accept, starting one if needed (at most acceptorsPerSocket). Extra acceptors
// stay while the socket is busy, so a steady load keeps its acceptors
// instead of starting goroutines as it goes.
//
// An idle socket keeps no goroutine: once it has been quiet for a while
// (listener.ErrIdle) the extra acceptors retire, and the first one (extra
// false) arms the socket on the watcher and ends; the watcher starts it
// again at the next connection (wake).
func (d *Daemon) streamLoop(s *socket, extra bool) {
	var (
		delay time.Duration
		y     yielder
	)
	for {
		if !s.svc.waitPause(s.stop) {
			return
		}
		if s.svc.state.Load().builtin == "" && !d.pacer.pace(d.sp, s.stop) {
			return
		}
		s.waiting.Add(1)
		c, err := s.sock.AcceptOrIdle()
		s.waiting.Add(-1)
		if errors.Is(err, listener.ErrIdle) {
			if extra {
				s.acceptors.Add(-1)
				return
			}
			if d.idle(s) {
				return
			}
			s.waiting.Add(1)
			c, err = s.sock.Accept()
			s.waiting.Add(-1)
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) || isClosed(s.stop) {
				return
			}
			if listener.IsTemporary(err) {
				delay = nextBackoff(delay)
				s.svc.log.Warn("accept", "error", err, "retry_in", delay)
				if !sleep(delay, s.stop) {
					return
				}
				continue
			}
			s.svc.log.Error("accept", "error", err)
			if !sleep(maxBackoff, s.stop) {
				return
			}
			continue
		}
		delay = 0
		d.handleConn(s, c)
		y.maybe()
	}
}

// idle arms a quiet nowait stream socket on the watcher, so that its next
// connection starts a first acceptor (wake). It reports whether the
// caller may end: true once armed, or if the socket is retired; false if
// arming failed, and the caller must wait in Accept instead.
func (d *Daemon) idle(s *socket) bool {
	err := s.sock.WatchOnce(d.watcher, s.wake)
	if err == nil || errors.Is(err, net.ErrClosed) || isClosed(s.stop) {
		return true
	}
	s.svc.log.Warn("watch idle socket; waiting in accept instead", "error", err)
	return false
}

// wake starts the first acceptor of an armed socket that has a connection
// waiting. The watcher calls it on its goroutine, which d.loops counts
// until Shutdown has closed every socket and then the watcher: so the Add
// never meets a Wait at zero, and a retired socket starts nothing.
func (d *Daemon) wake(s *socket) {
	if isClosed(s.stop) {
		return
	}
	d.loops.Add(1)
	go func() {
		defer d.loops.Done()
		d.streamLoop(s, false)
	}()
}

// ensureAcceptor starts another acceptor for s, so that the next
// connection does not wait for this spawn, unless one is waiting in
// accept already, there are acceptorsPerSocket, or no connection is waiting in
// the backlog: clients one at a time gain nothing from a second acceptor,
// which costs a thread and a wake-up per connection of its own. Nor while
// a spawn does not wait for the handler's exec: then the one acceptor is
// back in accept within microseconds, and extra ones only cost CPU that
// the handlers need (measured on 2 cores against up to 6 extra acceptors
// a socket: hello at 32 clients 10.1k against 10.6k conn/s, p99 6.2
// against 8.8 ms; /bin/cat at 32 clients 1,700 against 1,600 conn/s with
// a quarter less superd CPU).
func (d *Daemon) ensureAcceptor(s *socket) {
	if !d.sp.LaunchWaits() || s.waiting.Load() > 0 || isClosed(s.stop) || !s.sock.Pending() {
		return
	}
	if n := s.acceptors.Add(1); n > acceptorsPerSocket() {
		s.acceptors.Add(-1)
		return
	}
	if n := d.extraAcceptors.Add(1); n > maxExtraAcceptors {
		d.extraAcceptors.Add(-1)
		s.acceptors.Add(-1)
		return
	}
	d.loops.Add(1)
	go func() {
		defer d.loops.Done()
		defer d.extraAcceptors.Add(-1)
		d.streamLoop(s, true)
	}()
}

func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		return minBackoff
	}
	if d *= 2; d > maxBackoff {
		d = maxBackoff
	}
	return d
}

// sleep waits d or until stop is closed; it reports whether d passed.
func sleep(d time.Duration, stop <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// admit is svc.gate.Admit, but a client refused for instances or
// per_source gets a second chance after a reap: handlers that have exited
// but are not reaped yet (under load they are reaped inline, after
// spawns) still hold their slots. A refused Admit takes nothing.
func (d *Daemon) admit(svc *service, client netip.Addr, now time.Time) (acl.Ticket, acl.Reason, bool) {
	ticket, reason, ok := svc.gate.Admit(client, now)
	if !ok && (reason == acl.ReasonInstances || reason == acl.ReasonPerSource) {
		d.sp.Reap()
		ticket, reason, ok = svc.gate.Admit(client, now)
	}
	return ticket, reason, ok
}

// handleConn decides on one accepted connection and hands it on. It owns
// c.FD and closes it on every path.
func (d *Daemon) handleConn(s *socket, c listener.Conn) {
	svc := s.svc
	accepted := time.Now()
	st := svc.state.Load()
	var client netip.Addr
	if c.Remote.IsValid() {
		client = c.Remote.Addr()
	}
	ticket, reason, ok := d.admit(svc, client, accepted)
	if !ok {
		svc.refuse(reason, remoteString(c.Remote))
		if len(st.denyMsg) > 0 {
			// One non-blocking write; a client that does not read loses it.
			unix.Sendto(c.FD, st.denyMsg, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, nil)
		}
		unix.Close(c.FD)
		return
	}
	svc.active.Add(1)
	if st.builtin != "" {
		// Builtin sessions last as long as their clients: each gets a
		// goroutine.
		d.loops.Add(1)
		go func() {
			defer d.loops.Done()
			d.serveBuiltin(svc, st, c, ticket, accepted)
		}()
		return
	}
	d.ensureAcceptor(s)
	d.spawnConn(svc, st, c, ticket, accepted)
	// Reap what has exited meanwhile here, while the new handler starts
	// up: under load this saves the reaper a wake-up per handler.
	d.sp.Reap()
}

func (d *Daemon) serveBuiltin(svc *service, st *state, c listener.Conn, ticket acl.Ticket, accepted time.Time) {
	svc.results[resAccepted].Add(1)
	var deadline time.Time
	if st.timeout > 0 {
		deadline = accepted.Add(st.timeout)
	}
	// ServeStream owns c.FD: it closes it on every path.
	err := builtin.ServeStream(st.builtin, c.FD, deadline, d.cut, st.loc)
	elapsed := time.Since(accepted)
	svc.handler.observe(elapsed)
	status := exitSuccess
	switch {
	case err == nil:
	case errors.Is(err, builtin.ErrStopped):
		status = exitSignal // cut at the end of shutdown_grace
	case !deadline.IsZero() && !time.Now().Before(deadline):
		status = exitTimeout
	default:
		status = exitFailure
	}
	svc.exits[status].Add(1)
	svc.active.Add(-1)
	ticket.Release()
	svc.logExit(remoteString(c.Remote), 0, exitStatuses[status], noCode, elapsed)
}

// spawnConn starts a handler for a connection. It closes c.FD.
func (d *Daemon) spawnConn(svc *service, st *state, c listener.Conn, ticket acl.Ticket, accepted time.Time) {
	f := spawner.Files{Stdin: -1, Stdout: -1, Extra: -1, Stderr: st.stderr}
	if st.passFD {
		f.Extra = c.FD
		f.StdoutIsStderr = st.stderr == spawner.StderrLog
	} else {
		f.Stdin, f.Stdout = c.FD, c.FD
	}
	if st.stderr == spawner.StderrFD {
		f.StderrFD = c.FD
	}
	f.Env = connEnv(st, c)
	remote := remoteString(c.Remote)
	d.launch(svc, st, f, remote, ticket, accepted)
	unix.Close(c.FD)
}

// launch starts a nowait handler without waiting for its exec (see
// spawner.Launch): it is counted accepted, or spawn_error, once the
// spawner has its verdict. The caller closes its copies of the
// descriptors in f afterwards.
func (d *Daemon) launch(svc *service, st *state, f spawner.Files, remote string, ticket acl.Ticket, accepted time.Time) {
	err := d.sp.Launch(st.spec, f, remote, func(at time.Time, err error) {
		if err != nil {
			svc.startFailed(remote, ticket, err)
			return
		}
		svc.started(at.Sub(accepted))
	}, func(e spawner.Exit) {
		svc.exited(remote, ticket, e)
	})
	if err != nil {
		svc.startFailed(remote, ticket, err)
	}
}

// start runs a wait-mode handler and arranges its accounting on exit; it
// returns once the handler has executed. The caller closes its copies of
// the descriptors in f afterwards.
func (d *Daemon) start(svc *service, st *state, f spawner.Files, remote string, ticket acl.Ticket, accepted time.Time) (*spawner.Handler, <-chan struct{}) {
	exited := make(chan struct{})
	h, err := d.sp.Start(st.spec, f, remote, func(e spawner.Exit) {
		svc.exited(remote, ticket, e)
		close(exited)
	})
	if err != nil {
		svc.startFailed(remote, ticket, err)
		return nil, nil
	}
	svc.started(time.Since(accepted))
	return h, exited
}

// noCode is logExit's code for a builtin session.
const noCode = -2

func exitCode(e spawner.Exit) int {
	if e.Status.Exited() {
		return e.Status.ExitStatus()
	}
	if e.Status.Signaled() {
		return 128 + int(e.Status.Signal())
	}
	return -1
}

// connEnv is what one connection adds to the service's environment:
// its addresses (and the peer's credentials on a Unix socket).
func connEnv(st *state, c listener.Conn) []string {
	env := make([]string, 0, 11)
	if c.Remote.IsValid() {
		ra, rp := c.Remote.Addr().String(), strconv.Itoa(int(c.Remote.Port()))
		la, lp := c.Local.Addr().String(), strconv.Itoa(int(c.Local.Port()))
		env = append(env, "REMOTE_ADDR="+ra, "REMOTE_PORT="+rp, "LOCAL_ADDR="+la, "LOCAL_PORT="+lp)
		if st.proto == "TCP" {
			env = append(env, "TCPREMOTEIP="+ra, "TCPREMOTEPORT="+rp, "TCPLOCALIP="+la, "TCPLOCALPORT="+lp)
		}
	}
	if c.Cred != nil {
		env = append(env,
			"REMOTE_UID="+strconv.Itoa(int(c.Cred.Uid)),
			"REMOTE_GID="+strconv.Itoa(int(c.Cred.Gid)),
			"REMOTE_PID="+strconv.Itoa(int(c.Cred.Pid)))
	}
	return env
}
