package acl

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Gate is the live admission state of one service: its compiled Policy,
// the running-handler counts, the token buckets and the per-source table
// (at most 65536 clients, idle ones evicted; clients beyond the bound share
// one overflow entry, with one bucket and one running count). A Gate
// survives reloads of its service: Update swaps the Policy and keeps the
// counts. It is safe for concurrent use; nothing in it is shared with other
// Gates.
type Gate struct {
	cur    atomic.Pointer[gateState] // the policy in force; replaced whole by Update
	load   func() float64
	active atomic.Int64 // handlers admitted and not yet released

	// mu guards the token buckets (a check and the take that follows it are
	// one step), every sourceTable (the current one and retired ones that
	// Tickets still point into) and serialises Update. Admit takes it only
	// when the policy has a rate or a per-source limit. Lock order: mu, then
	// a rate.Limiter's own lock.
	mu sync.Mutex
}

// gateState is a compiled Policy, with the buckets and table it uses. The
// fields are never modified after Update stores the state; the buckets and
// table they point to are guarded by Gate.mu.
type gateState struct {
	rules     rules
	times     []Window
	loc       *time.Location
	maxLoad   float64
	instances int64
	perSource int32
	rate      Rate
	bucket    *rate.Limiter // service bucket; nil: Rate off
	sources   *sourceTable  // nil: no per-source limit
}

// Ticket is an admitted client's hold on its Gate's counts. Release it
// once, when the handler is reaped, a builtin session ends or the spawn
// failed. The zero Ticket releases nothing.
type Ticket struct {
	g    *Gate
	src  *sourceTable // the table the per-source count was taken in; nil: none
	slot int32
}

// NewGate returns a Gate enforcing p. load provides the 1-minute load
// average for MaxLoad; nil reads it from sysinfo(2), at most once a second.
func NewGate(p Policy, load func() float64) *Gate {
	if load == nil {
		load = newSysLoad().get
	}
	g := &Gate{load: load}
	g.cur.Store(compile(p, nil))
	return g
}

// Update makes p the Gate's policy, for clients admitted from now on
// (reload). Running-handler counts are kept, and every Ticket releases what
// it took whatever Updates happen in between. A bucket whose Rate is
// unchanged keeps its tokens; a changed Rate gets a new, full bucket (for
// PerSourceRate: every client's). If SourceBits4 or SourceBits6 change,
// clients are grouped afresh: handlers admitted before count against
// Instances but no longer against PerSource.
func (g *Gate) Update(p Policy) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cur.Store(compile(p, g.cur.Load()))
}

// compile builds the state for p, reusing old's bucket and per-source table
// where p keeps them the same. Called with the Gate's mu held (or before the
// Gate is shared).
func compile(p Policy, old *gateState) *gateState {
	s := &gateState{
		rules:     compileRules(p.Allow, p.Deny),
		times:     slices.Clone(p.Times),
		loc:       p.Location,
		maxLoad:   p.MaxLoad,
		instances: int64(max(p.Instances, 0)),
		perSource: int32(min(max(p.PerSource, 0), 1<<31-1)),
		rate:      p.Rate.normalize(),
	}
	if s.loc == nil {
		s.loc = time.Local
	}
	if s.rate.On() {
		if old != nil && old.bucket != nil && old.rate == s.rate {
			s.bucket = old.bucket
		} else {
			s.bucket = s.rate.newLimiter()
		}
	}
	psRate := p.PerSourceRate.normalize()
	if s.perSource > 0 || psRate.On() {
		bits4, bits6 := p.sourceBits()
		if old != nil && old.sources != nil && old.sources.bits4 == bits4 && old.sources.bits6 == bits6 {
			s.sources = old.sources
			if s.sources.rate != psRate {
				s.sources.setRate(psRate)
			}
		} else {
			s.sources = newSourceTable(bits4, bits6, psRate, maxSources)
		}
	}
	return s
}

// Admit decides whether client may start a handler at now. It checks, in
// order, acl, time, load, per_source_rate, rate, per_source and instances;
// on the first failure it returns that Reason and ok=false. client's zone is
// ignored and a v4-mapped address is unmapped. An invalid client address
// (a Unix socket peer) matches no address rule and counts as one client.
//
// A refused client takes nothing: no token from either bucket and no
// count. This is stronger than SPEC §4 asks (no token from a bucket checked
// after the failing one): every check is made first and the tokens are
// taken only when all have passed, under the Gate's lock, so a client
// refused by rate keeps its per-source token and one refused for
// per_source or instances takes no rate token.
//
// Admit does not allocate except to track a client new to the per-source
// table.
func (g *Gate) Admit(client netip.Addr, now time.Time) (Ticket, Reason, bool) {
	s := g.cur.Load()
	client = client.Unmap()
	if !s.rules.allows(client) {
		return Ticket{}, ReasonACL, false
	}
	if len(s.times) > 0 && !s.inTime(now) {
		return Ticket{}, ReasonTime, false
	}
	if s.maxLoad > 0 && g.load() >= s.maxLoad {
		return Ticket{}, ReasonLoad, false
	}
	if s.bucket == nil && s.sources == nil {
		if !g.acquire(s.instances) {
			return Ticket{}, ReasonInstances, false
		}
		return Ticket{g: g}, "", true
	}
	return g.admitLimited(s, client, now)
}

// admitLimited makes the checks that need the Gate's lock: the buckets and
// the per-source table.
func (g *Gate) admitLimited(s *gateState, client netip.Addr, now time.Time) (Ticket, Reason, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	slot := int32(overflowSlot)
	var e *sourceEntry
	if s.sources != nil {
		slot, e = s.sources.lookup(s.sources.key(client), now)
		if e.lim != nil && e.lim.TokensAt(now) < 1 {
			return Ticket{}, ReasonPerSourceRate, false
		}
	}
	if s.bucket != nil && s.bucket.TokensAt(now) < 1 {
		return Ticket{}, ReasonRate, false
	}
	if e != nil && s.perSource > 0 && e.running >= s.perSource {
		return Ticket{}, ReasonPerSource, false
	}
	if !g.acquire(s.instances) {
		return Ticket{}, ReasonInstances, false
	}
	// Every check passed: take the tokens. With mu held nobody else takes
	// from these buckets between the check and the take, so these succeed.
	t := Ticket{g: g}
	if e != nil {
		if e.lim != nil {
			e.lim.AllowN(now, 1)
		}
		e.running++
		t.src, t.slot = s.sources, slot
	}
	if s.bucket != nil {
		s.bucket.AllowN(now, 1)
	}
	return t, "", true
}

// acquire counts one more running handler unless limit (0: none) is
// reached.
func (g *Gate) acquire(limit int64) bool {
	if limit <= 0 {
		g.active.Add(1)
		return true
	}
	for {
		n := g.active.Load()
		if n >= limit {
			return false
		}
		if g.active.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// inTime reports whether now, in the policy's time zone, is inside one of
// its windows.
func (s *gateState) inTime(now time.Time) bool {
	h, m, _ := now.In(s.loc).Clock()
	minute := h*60 + m
	for _, w := range s.times {
		if w.containsMinute(minute) {
			return true
		}
	}
	return false
}

// Release gives back the counts t took: one running handler of the service
// and, if per-source limits were on when t was issued, one of its client.
// Call it exactly once per admitted Ticket; a second call would release
// another handler's count.
func (t Ticket) Release() {
	if t.g == nil {
		return
	}
	if t.src != nil {
		t.g.mu.Lock()
		t.src.release(t.slot)
		t.g.mu.Unlock()
	}
	t.g.active.Add(-1)
}

// Active returns the number of handlers admitted and not yet released.
func (g *Gate) Active() int { return int(g.active.Load()) }

// sources returns the number of per-source entries held, the overflow
// entry included; 0 without per-source limits. For tests.
func (g *Gate) sources() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t := g.cur.Load().sources; t != nil {
		return t.size()
	}
	return 0
}
