package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/superd-dev/superd/config"
	"github.com/superd-dev/superd/listener"
	"github.com/superd-dev/superd/spawner"
)

// Options are a Daemon's dependencies.
type Options struct {
	// Logger receives every log line; nil discards them.
	Logger *slog.Logger
	// Spawner starts handlers; required.
	Spawner *spawner.Spawner
	// Inherited are sockets passed in by systemd (LISTEN_FDS); they are
	// used for the services whose protocol and address match, and the
	// unmatched ones are closed by Start.
	Inherited []*os.File
}

// Daemon runs the services of one configuration at a time.
type Daemon struct {
	log       *slog.Logger
	sp        *spawner.Spawner
	env       environ
	inherited []*listener.Socket // not yet claimed by a service; guarded by mu

	mu       sync.Mutex // guards cfg, services, sockets, stopped; held for a whole reload
	cfg      *config.Config
	services map[string]*service
	sockets  map[string]*socket
	stopped  bool

	// watcher waits for the idle nowait stream sockets, whose acceptors
	// end when they go quiet (stream.go); its goroutine is one of loops.
	watcher *listener.Watcher

	loops          sync.WaitGroup // socket loops and the sessions and spawns they start
	extraAcceptors atomic.Int32   // running extra acceptors, all sockets (maxExtraAcceptors)
	pacer          *pacer         // holds acceptors back while the CPUs are crowded (pace.go)

	done     chan struct{} // closed by Shutdown: back-offs end, wait-mode handlers get SIGTERM
	cut      chan struct{} // closed shutdown_grace after done: builtin sessions still running end
	killWait time.Duration // kill_delay at Shutdown; written before done is closed
	shutdown sync.Once
	finished chan struct{} // closed when Wait's work is over

	reloadsOK, reloadsFailed atomic.Uint64
	lastReloadOK             atomic.Bool
	lastReloadSuccess        atomic.Int64 // unix nanoseconds
}

// socket is one bound socket of a service with the goroutine serving it.
type socket struct {
	key  string
	svc  *service
	sock *listener.Socket
	addr listener.Addr // as configured
	stop chan struct{} // closed when the socket is retired

	waiting   atomic.Int32 // stream acceptors blocked in accept
	acceptors atomic.Int32 // extra stream acceptors running
	wake      func()       // nowait stream: the watcher's callback, d.wake(s)
}

// New makes a Daemon; Start gives it a configuration.
func New(o Options) (*Daemon, error) {
	if o.Spawner == nil {
		return nil, errors.New("daemon: no spawner")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w, err := listener.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	d := &Daemon{
		log:      log,
		sp:       o.Spawner,
		env:      currentEnviron(),
		watcher:  w,
		services: make(map[string]*service),
		sockets:  make(map[string]*socket),
		done:     make(chan struct{}),
		cut:      make(chan struct{}),
		finished: make(chan struct{}),

		pacer: newPacer("/proc/loadavg", runtime.NumCPU()),
	}
	for _, f := range o.Inherited {
		s, err := listener.Inherit(f)
		if err != nil {
			log.Warn("inherited socket unusable, closing it", "fd", f.Fd(), "error", err)
			f.Close()
			continue
		}
		if s.Addr().Network == "udp" {
			// Reply sockets share the port with SO_REUSEPORT, which the
			// kernel requires of every socket bound to it; systemd sets it
			// only with ReusePort=yes (SPEC §3).
			if err := unix.SetsockoptInt(s.FD(), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
				log.Warn("inherited socket: setsockopt SO_REUSEPORT; UDP handlers will get no reply socket", "addr", s.Addr().String(), "error", err)
			}
		}
		d.inherited = append(d.inherited, s)
	}
	return d, nil
}

// Start binds every socket of every enabled service of cfg and starts
// serving them. If any bind fails it closes what it opened and returns an
// error naming the service and address.
func (d *Daemon) Start(cfg *config.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dropUnwantedLocked(cfg)
	if err := d.applyLocked(cfg); err != nil {
		d.watcher.Close()
		d.pacer.close()
		return err
	}
	d.loops.Add(1)
	go func() {
		defer d.loops.Done()
		if err := d.watcher.Run(); err != nil {
			d.log.Error("idle sockets are no longer watched; their services wait in accept", "error", err)
		}
	}()
	for _, s := range d.inherited {
		d.log.Warn("inherited socket matches no service, closing it", "addr", s.Addr().String())
		s.Close()
	}
	d.inherited = nil
	d.lastReloadOK.Store(true)
	d.lastReloadSuccess.Store(time.Now().UnixNano())
	d.loops.Add(1)
	go func() {
		defer d.loops.Done()
		d.tickRefusals()
	}()
	return nil
}

// dropUnwantedLocked closes the inherited sockets that no enabled service
// of cfg can use, before anything is bound: one may hold an address that a
// service binds anew (systemd's [::]:79 with V6ONLY=1 for a dual-stack
// ":79"). d.mu is held.
func (d *Daemon) dropUnwantedLocked(cfg *config.Config) {
	kept := d.inherited[:0]
	for _, s := range d.inherited {
		if wantsInherited(cfg, s) {
			kept = append(kept, s)
			continue
		}
		d.log.Warn("inherited socket matches no service, closing it", "addr", s.Addr().String())
		s.Close()
	}
	clear(d.inherited[len(kept):])
	d.inherited = kept
}

// wantsInherited reports whether an enabled service of cfg listens where
// the inherited socket s is bound (listener.Socket.Matches).
func wantsInherited(cfg *config.Config, s *listener.Socket) bool {
	for _, svc := range cfg.Services {
		if svc.Disabled {
			continue
		}
		for _, a := range svc.Listen {
			if s.Matches(a) {
				return true
			}
		}
	}
	return false
}

// Wait returns when Shutdown has finished: no socket is served and no
// handler is left.
func (d *Daemon) Wait() { <-d.finished }

// Shutdown stops listening, sends SIGTERM at once to wait-mode handlers,
// gives the others the configured shutdown_grace, then SIGTERM and SIGKILL
// kill_delay later, and returns when every handler has been reaped.
func (d *Daemon) Shutdown() {
	d.shutdown.Do(func() {
		d.mu.Lock()
		d.stopped = true
		cfg := d.cfg
		for key, s := range d.sockets {
			d.retireLocked(s)
			delete(d.sockets, key)
		}
		d.mu.Unlock()
		grace, kill := 10*time.Second, 5*time.Second
		if cfg != nil {
			grace, kill = cfg.Daemon.ShutdownGrace, cfg.Daemon.KillDelay
		}
		d.killWait = kill
		close(d.done)
		// After the sockets are closed: no callback can start an acceptor
		// any more, and the watcher's goroutine ends.
		d.watcher.Close()
		// Builtin sessions get the grace handlers get, then end (counted
		// as killed: signal).
		cut := time.AfterFunc(grace, func() { close(d.cut) })
		d.sp.TerminateAll(grace, kill)
		d.loops.Wait()
		if cut.Stop() {
			close(d.cut)
		}
		// No acceptor is left to refuse anyone: the last summaries.
		for _, s := range d.serviceList() {
			s.refusal.flushAll()
		}
		d.pacer.close()
		close(d.finished)
	})
}

// retireLocked stops serving a socket and closes superd's copy of it.
// d.mu is held.
func (d *Daemon) retireLocked(s *socket) {
	close(s.stop)
	if err := s.sock.Close(); err != nil {
		d.log.Warn("close socket", "service", s.svc.name, "addr", s.addr.String(), "error", err)
	}
}

// serve starts serving s: a goroutine for a wait-mode or UDP socket; a
// nowait stream socket is armed on the watcher, which starts its acceptor
// once a connection is waiting.
func (d *Daemon) serve(s *socket) {
	st := s.svc.state.Load()
	addr := s.sock.Addr().String()
	if st.protocol != "unix" {
		addr = s.sock.LocalAddr().String()
	}
	s.svc.log.Info("listening", "protocol", st.protocol, "addr", addr)
	if !st.wait && st.protocol != "udp" {
		s.wake = func() { d.wake(s) }
		if d.idle(s) {
			return
		}
	}
	d.loops.Add(1)
	go func() {
		defer d.loops.Done()
		switch {
		case st.wait:
			d.waitLoop(s)
		case st.protocol == "udp":
			d.datagramLoop(s)
		default:
			d.streamLoop(s, false)
		}
	}()
}

// tickRefusals writes refusal summaries for windows that ended.
func (d *Daemon) tickRefusals() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-d.done:
			return
		case now := <-t.C:
			for _, s := range d.serviceList() {
				s.refusal.tick(now)
			}
		}
	}
}

func bindError(name string, a listener.Addr, err error) error {
	if strings.HasPrefix(err.Error(), "listen ") { // listener.Bind names the address already
		return fmt.Errorf("service %s: %w", name, err)
	}
	return fmt.Errorf("service %s: listen %s %s: %w", name, a.Network, a.String(), err)
}

// serviceList is a snapshot of the configured services.
func (d *Daemon) serviceList() []*service {
	d.mu.Lock()
	defer d.mu.Unlock()
	svcs := make([]*service, 0, len(d.services))
	for _, s := range d.services {
		svcs = append(svcs, s)
	}
	return svcs
}
