package daemon

import (
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// Refusal log lines are bounded: at most refusalBurst lines per service
// and reason per refusalWindow, then one summary line giving how many were
// left out.
const (
	refusalBurst  = 5
	refusalWindow = 10 * time.Second
)

type refusalCount struct {
	start      time.Time
	logged     int
	suppressed int
}

// refusalLog suppresses floods of refusal lines for one service.
type refusalLog struct {
	log      *slog.Logger
	mu       sync.Mutex // guards byReason
	byReason map[string]*refusalCount
}

func newRefusalLog(log *slog.Logger) *refusalLog {
	return &refusalLog{log: log, byReason: make(map[string]*refusalCount)}
}

func remoteString(a netip.AddrPort) string {
	if !a.IsValid() {
		return "unix"
	}
	return a.String()
}

func (r *refusalLog) note(reason, remote string, args ...any) {
	now := time.Now()
	r.mu.Lock()
	c := r.byReason[reason]
	if c == nil {
		c = &refusalCount{start: now}
		r.byReason[reason] = c
	}
	if now.Sub(c.start) >= refusalWindow {
		r.flushLocked(reason, c)
		c.start = now
	}
	if c.logged >= refusalBurst {
		c.suppressed++
		r.mu.Unlock()
		return
	}
	c.logged++
	r.mu.Unlock()
	r.log.Info("refused", append([]any{"remote", remote, "reason", reason}, args...)...)
}

// flushLocked writes the summary of a finished window. r.mu is held.
func (r *refusalLog) flushLocked(reason string, c *refusalCount) {
	if c.suppressed > 0 {
		r.log.Info("refusals suppressed", "reason", reason, "suppressed", c.suppressed)
	}
	c.logged, c.suppressed = 0, 0
}

// tick closes windows that have ended, so a summary is written even when
// the flood stops.
func (r *refusalLog) tick(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for reason, c := range r.byReason {
		if now.Sub(c.start) < refusalWindow {
			continue
		}
		r.flushLocked(reason, c)
		if c.logged == 0 {
			delete(r.byReason, reason)
		}
	}
}

// flushAll writes the summary of every window, ended or not: the service
// is going away (removed by a reload, or superd is shutting down), and a
// count of left-out refusals must not go with it.
func (r *refusalLog) flushAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for reason, c := range r.byReason {
		r.flushLocked(reason, c)
		delete(r.byReason, reason)
	}
}
