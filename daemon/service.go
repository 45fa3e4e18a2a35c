package daemon

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/superd-dev/superd/acl"
	"github.com/superd-dev/superd/listener"
	"github.com/superd-dev/superd/spawner"
)

// Result labels of superd_connections_total, in SPEC §4 order after
// "accepted"; "spawn_error" last.
var results = []string{"accepted", "acl", "time", "load", "per_source_rate", "rate", "per_source", "instances", "spawn_error"}

const (
	resAccepted   = 0
	resSpawnError = 8
)

// Exit status labels of superd_handler_exits_total.
var exitStatuses = []string{"success", "failure", "signal", "timeout"}

const (
	exitSuccess = iota
	exitFailure
	exitSignal
	exitTimeout
)

func resultIndex(r acl.Reason) int {
	for i, name := range results {
		if name == string(r) {
			return i
		}
	}
	return resSpawnError
}

// state is one (re)load's immutable view of a service: what the hot path
// reads through service.state for every client.
type state struct {
	protocol  string        // config.Service.Protocol: "tcp", "udp" or "unix"
	mode      string        // config.Service.Mode: "nowait" or "wait"
	spec      *spawner.Spec // nil for builtins
	policy    acl.Policy
	listen    listener.Options
	envBase   []string // handler environment without per-connection variables
	proto     string   // TCP, UDP, UNIX
	denyMsg   []byte
	stderr    spawner.StderrMode
	timeout   time.Duration
	loc       *time.Location
	wait      bool
	passFD    bool
	builtin   string
	checkACL  bool // wait-mode UDP or nowait: run the gate at all
	killDelay time.Duration
}

// service is the live part of a configured service. It outlives reloads
// that keep the service's name: counters, the acl gate (running-handler
// counts) and the handlers it started stay with it.
type service struct {
	name  string
	log   *slog.Logger
	state atomic.Pointer[state]
	gate  *acl.Gate

	results [9]atomic.Uint64
	exits   [4]atomic.Uint64
	ignored atomic.Uint64 // datagrams from reserved sources, never answered
	active  atomic.Int64
	spawn   *histogram
	handler *histogram
	refusal *refusalLog

	// After a spawn fails for want of descriptors, processes or memory,
	// the service's loops pause before taking the next client, so clients
	// wait in the backlog instead of being accepted and dropped.
	pauseFor   atomic.Int64 // current pause, ns; 0 when not failing
	pauseUntil atomic.Int64 // unix ns
}

func newService(name string, st *state, log *slog.Logger) *service {
	s := &service{
		name:    name,
		log:     log.With("service", name),
		gate:    acl.NewGate(st.policy, nil),
		spawn:   newHistogram(spawnBounds),
		handler: newHistogram(handlerBounds),
	}
	s.refusal = newRefusalLog(s.log)
	s.state.Store(st)
	return s
}

// update swaps in a new state from a reload.
func (s *service) update(st *state) {
	s.gate.Update(st.policy)
	s.state.Store(st)
}

// refuse counts and logs one refusal.
func (s *service) refuse(reason acl.Reason, remote string) {
	s.results[resultIndex(reason)].Add(1)
	s.refusal.note(string(reason), remote)
}

// spawnFailed counts a failed start and logs it through the bounded
// refusal log; a shortage of resources pauses the service.
func (s *service) spawnFailed(remote string, err error) {
	s.results[resSpawnError].Add(1)
	s.refusal.note("spawn_error", remote, "error", err.Error())
	if !isShortage(err) {
		return
	}
	p := time.Duration(s.pauseFor.Load())
	if p = nextBackoff(p); p > maxBackoff {
		p = maxBackoff
	}
	s.pauseFor.Store(int64(p))
	s.pauseUntil.Store(time.Now().Add(p).UnixNano())
}

// logExit logs the end of a handler (pid 0: a builtin session; code < -1:
// none). It runs for every connection, so it hands the record to the log
// handler directly: slog.Logger would first walk the stack for a caller
// that is never logged.
func (s *service) logExit(remote string, pid int, status string, code int, d time.Duration) {
	h := s.log.Handler()
	ctx := context.Background()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "handler exited", 0)
	r.AddAttrs(slog.String("remote", remote), slog.Int("pid", pid), slog.String("status", status))
	if code >= -1 {
		r.AddAttrs(slog.Int("code", code))
	}
	r.AddAttrs(slog.Duration("duration", d))
	_ = h.Handle(ctx, r)
}

// started counts a handler that has executed, spawn after its accept.
func (s *service) started(spawn time.Duration) {
	s.spawnWorked()
	s.results[resAccepted].Add(1)
	s.spawn.observe(spawn)
}

// startFailed counts a handler that did not start and frees its slot.
func (s *service) startFailed(remote string, ticket acl.Ticket, err error) {
	s.active.Add(-1)
	ticket.Release()
	s.spawnFailed(remote, err)
}

// exited accounts for a finished handler and frees its slot.
func (s *service) exited(remote string, ticket acl.Ticket, e spawner.Exit) {
	s.handler.observe(e.Duration)
	i := exitIndex(e)
	s.exits[i].Add(1)
	s.active.Add(-1)
	ticket.Release()
	s.logExit(remote, e.Pid, exitStatuses[i], exitCode(e), e.Duration)
}

// spawnWorked ends a pause.
func (s *service) spawnWorked() {
	if s.pauseFor.Load() != 0 {
		s.pauseFor.Store(0)
	}
}

// waitPause sleeps out a pause; false if stop closed meanwhile.
func (s *service) waitPause(stop <-chan struct{}) bool {
	until := s.pauseUntil.Load()
	if until == 0 {
		return true
	}
	if d := time.Until(time.Unix(0, until)); d > 0 {
		return sleep(d, stop)
	}
	return true
}

func isShortage(err error) bool {
	for _, e := range []error{unix.EMFILE, unix.ENFILE, unix.EAGAIN, unix.ENOMEM, unix.ENOBUFS} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func exitIndex(e spawner.Exit) int {
	switch {
	case e.TimedOut:
		return exitTimeout
	case e.Status.Signaled():
		return exitSignal
	case e.Status.Exited() && e.Status.ExitStatus() == 0:
		return exitSuccess
	default:
		return exitFailure
	}
}

// ServiceStats is a snapshot of one service's counters.
type ServiceStats struct {
	Name        string
	Protocol    string
	Mode        string
	Active      int64
	Connections map[string]uint64 // result -> count, every result present
	Exits       map[string]uint64 // status -> count, every status present
	Ignored     uint64            // datagrams never answered: their source could be a forged packet-storm source
	Spawn       Histogram
	Handler     Histogram
}

func (s *service) stats() ServiceStats {
	st := s.state.Load()
	out := ServiceStats{
		Name:        s.name,
		Protocol:    st.protocol,
		Mode:        st.mode,
		Active:      s.active.Load(),
		Ignored:     s.ignored.Load(),
		Connections: make(map[string]uint64, len(results)),
		Exits:       make(map[string]uint64, len(exitStatuses)),
		Spawn:       s.spawn.snapshot(),
		Handler:     s.handler.snapshot(),
	}
	for i, r := range results {
		out.Connections[r] = s.results[i].Load()
	}
	for i, e := range exitStatuses {
		out.Exits[e] = s.exits[i].Load()
	}
	return out
}
