package daemon

import (
	"errors"
	"time"

	"github.com/superd-dev/superd/config"
	"github.com/superd-dev/superd/listener"
)

// ErrStopped is returned by Reload after Shutdown.
var ErrStopped = errors.New("daemon is shutting down")

// Reload applies a new, already validated configuration: new sockets are
// bound before old ones are closed (an old one first only where the two
// would clash), unchanged sockets are kept open, running handlers are left
// alone. On error nothing changes.
func (d *Daemon) Reload(cfg *config.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return ErrStopped
	}
	if err := d.applyLocked(cfg); err != nil {
		d.ReloadFailed()
		return err
	}
	d.reloadsOK.Add(1)
	d.lastReloadOK.Store(true)
	d.lastReloadSuccess.Store(time.Now().UnixNano())
	return nil
}

// ReloadFailed records a reload that did not apply (for example a
// configuration that did not validate).
func (d *Daemon) ReloadFailed() {
	d.reloadsFailed.Add(1)
	d.lastReloadOK.Store(false)
}

type wanted struct {
	key  string
	name string
	addr listener.Addr
	st   *state
}

// applyLocked makes the running services those of cfg. d.mu is held.
func (d *Daemon) applyLocked(cfg *config.Config) error {
	states := make(map[string]*state)
	var want []wanted
	for _, svc := range cfg.Services {
		if svc.Disabled {
			continue
		}
		st := translate(cfg, svc, d.env)
		states[svc.Name] = st
		for _, a := range svc.Listen {
			want = append(want, wanted{key: socketKey(svc.Name, st, a), name: svc.Name, addr: a, st: st})
		}
	}
	keep := make(map[string]bool)
	for _, w := range want {
		if _, ok := d.sockets[w.key]; ok {
			keep[w.key] = true
		}
	}

	// Old sockets that clash with a new one must go first.
	var closedFirst []*socket
	for key, old := range d.sockets {
		if keep[key] {
			continue
		}
		for _, w := range want {
			if !keep[w.key] && old.addr.Clashes(w.addr) {
				d.retireLocked(old)
				delete(d.sockets, key)
				closedFirst = append(closedFirst, old)
				break
			}
		}
	}

	bound := make(map[string]*listener.Socket)
	undo := func() {
		for _, s := range bound {
			s.Close()
		}
		for _, old := range closedFirst {
			ns, err := listener.Bind(old.addr, old.svc.state.Load().listen)
			if err != nil {
				d.log.Error("reload undo: could not bind old socket again", "service", old.svc.name, "addr", old.addr.String(), "error", err)
				continue
			}
			s := &socket{key: old.key, svc: old.svc, sock: ns, addr: old.addr, stop: make(chan struct{})}
			d.sockets[old.key] = s
			d.serve(s)
		}
	}
	for _, w := range want {
		if keep[w.key] {
			continue
		}
		s, err := d.bindOne(w)
		if err != nil {
			undo()
			return bindError(w.name, w.addr, err)
		}
		bound[w.key] = s
	}

	// Commit: nothing below fails.
	for name, st := range states {
		if svc, ok := d.services[name]; ok {
			svc.update(st)
		} else {
			d.services[name] = newService(name, st, d.log)
		}
	}
	for name, svc := range d.services {
		if _, ok := states[name]; !ok {
			svc.refusal.flushAll()
			delete(d.services, name)
		}
	}
	for key, old := range d.sockets {
		if !keep[key] {
			d.retireLocked(old)
			delete(d.sockets, key)
		}
	}
	for _, w := range want {
		ls, ok := bound[w.key]
		if !ok {
			continue
		}
		s := &socket{key: w.key, svc: d.services[w.name], sock: ls, addr: w.addr, stop: make(chan struct{})}
		d.sockets[w.key] = s
		d.serve(s)
	}
	d.cfg = cfg
	return nil
}

// bindOne binds a wanted socket, preferring a matching socket inherited
// from systemd.
func (d *Daemon) bindOne(w wanted) (*listener.Socket, error) {
	for i, s := range d.inherited {
		if s.Matches(w.addr) {
			d.inherited = append(d.inherited[:i], d.inherited[i+1:]...)
			return s, nil
		}
	}
	return listener.Bind(w.addr, w.st.listen)
}

// Config returns the configuration in force.
func (d *Daemon) Config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}
