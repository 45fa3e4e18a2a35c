package acl

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func noLoad() float64 { return 0 }

var t0 = time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)

func mustRate(t testing.TB, s string) Rate {
	t.Helper()
	r, err := ParseRate(s)
	if err != nil {
		t.Fatalf("ParseRate(%q): %v", s, err)
	}
	return r
}

func mustWindow(t testing.TB, s string) Window {
	t.Helper()
	w, err := ParseWindow(s)
	if err != nil {
		t.Fatalf("ParseWindow(%q): %v", s, err)
	}
	return w
}

// admit calls g.Admit and checks the outcome; want "" means admitted.
func admit(t *testing.T, g *Gate, client string, now time.Time, want Reason) Ticket {
	t.Helper()
	tk, reason, ok := g.Admit(netip.MustParseAddr(client), now)
	switch {
	case want == "" && !ok:
		t.Fatalf("Admit(%s, %s) refused %q, want admitted", client, now.Format(time.TimeOnly+".000"), reason)
	case want != "" && ok:
		t.Fatalf("Admit(%s, %s) admitted, want refused %q", client, now.Format(time.TimeOnly+".000"), want)
	case want != "" && reason != want:
		t.Fatalf("Admit(%s, %s) refused %q, want %q", client, now.Format(time.TimeOnly+".000"), reason, want)
	case ok && reason != "":
		t.Fatalf("Admit(%s) admitted with reason %q, want empty", client, reason)
	}
	return tk
}

// TestAdmitOrder makes every check fail at once, then lifts them one at a
// time (through Update, which keeps the counts and unchanged buckets): the
// reason is always the first failing check of SPEC §4.
func TestAdmitOrder(t *testing.T) {
	load := 5.0
	full := Policy{
		Allow:         prefixes(t, "192.0.2.0/24"),
		Times:         []Window{mustWindow(t, "11:00-13:00")},
		Location:      time.UTC,
		MaxLoad:       10,
		PerSourceRate: mustRate(t, "1/m"),
		Rate:          mustRate(t, "1/m"),
		PerSource:     1,
		Instances:     1,
	}
	g := NewGate(full, func() float64 { return load })
	held := admit(t, g, "192.0.2.1", t0, "") // empties both buckets, fills both counts

	p := full
	p.Allow = prefixes(t, "198.51.100.0/24")
	p.Times = []Window{mustWindow(t, "13:01-10:59")}
	p.MaxLoad = 2
	steps := []struct {
		reason Reason
		lift   func(*Policy)
	}{
		{ReasonACL, func(p *Policy) { p.Allow = nil }},
		{ReasonTime, func(p *Policy) { p.Times = nil }},
		{ReasonLoad, func(p *Policy) { p.MaxLoad = 0 }},
		{ReasonPerSourceRate, func(p *Policy) { p.PerSourceRate = Rate{} }},
		{ReasonRate, func(p *Policy) { p.Rate = Rate{} }},
		{ReasonPerSource, func(p *Policy) { p.PerSource = 0 }},
		{ReasonInstances, func(p *Policy) { p.Instances = 0 }},
	}
	for _, s := range steps {
		g.Update(p)
		admit(t, g, "192.0.2.1", t0, s.reason)
		s.lift(&p)
	}
	g.Update(p)
	admit(t, g, "192.0.2.1", t0, "").Release()
	held.Release()
	if got := g.Active(); got != 0 {
		t.Errorf("Active() = %d after releasing all, want 0", got)
	}
}

func TestReasons(t *testing.T) {
	want := []Reason{"acl", "time", "load", "per_source_rate", "rate", "per_source", "instances"}
	got := Reasons()
	if len(got) != len(want) {
		t.Fatalf("Reasons() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Reasons()[%d] = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestAdmitTime(t *testing.T) {
	loc := time.FixedZone("UTC+5", 5*3600)
	g := NewGate(Policy{Times: []Window{mustWindow(t, "09:00-17:00"), mustWindow(t, "22:00-01:00")}, Location: loc}, noLoad)
	tests := []struct {
		name string
		utc  string // wall clock in UTC; local is +5h
		want Reason
	}{
		{"before first window", "03:59:59", ReasonTime},
		{"first minute of first window", "04:00:00", ""},
		{"last second of first window", "12:00:59", ""},
		{"between windows", "12:01:00", ReasonTime},
		{"second window before midnight", "17:00:00", ""},
		{"second window after midnight", "20:00:59", ""},
		{"after second window", "20:01:00", ReasonTime},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock, err := time.Parse(time.TimeOnly, tc.utc)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Date(2024, 3, 5, clock.Hour(), clock.Minute(), clock.Second(), 0, time.UTC)
			admit(t, g, "192.0.2.1", now, tc.want).Release()
		})
	}
}

func TestAdmitLoad(t *testing.T) {
	load := 1.99
	g := NewGate(Policy{MaxLoad: 2}, func() float64 { return load })
	admit(t, g, "192.0.2.1", t0, "").Release()
	load = 2
	admit(t, g, "192.0.2.1", t0, ReasonLoad)
	load = 0.5
	admit(t, g, "192.0.2.1", t0, "").Release()

	calls := 0
	g = NewGate(Policy{}, func() float64 { calls++; return 100 })
	admit(t, g, "192.0.2.1", t0, "").Release()
	if calls != 0 {
		t.Errorf("load provider called %d times with MaxLoad 0, want 0", calls)
	}
}

func TestAdmitRate(t *testing.T) {
	g := NewGate(Policy{Rate: mustRate(t, "2/s")}, noLoad)
	admit(t, g, "192.0.2.1", t0, "").Release()
	admit(t, g, "192.0.2.2", t0, "").Release()
	admit(t, g, "192.0.2.3", t0, ReasonRate)
	admit(t, g, "192.0.2.3", t0.Add(499*time.Millisecond), ReasonRate)
	admit(t, g, "192.0.2.3", t0.Add(500*time.Millisecond), "").Release()
	admit(t, g, "192.0.2.3", t0.Add(500*time.Millisecond), ReasonRate)
	// A long pause refills the bucket only up to its size.
	later := t0.Add(time.Hour)
	admit(t, g, "192.0.2.1", later, "").Release()
	admit(t, g, "192.0.2.1", later, "").Release()
	admit(t, g, "192.0.2.1", later, ReasonRate)
}

func TestAdmitRatePerMinute(t *testing.T) {
	g := NewGate(Policy{Rate: mustRate(t, "3/m")}, noLoad)
	for range 3 {
		admit(t, g, "192.0.2.1", t0, "").Release()
	}
	admit(t, g, "192.0.2.1", t0.Add(19*time.Second), ReasonRate)
	admit(t, g, "192.0.2.1", t0.Add(20*time.Second), "").Release()
}

// TestPerSourceFloodKeepsServiceBucket: one client's flood, refused by
// per_source_rate, takes no token from the service's bucket (SPEC §4).
func TestPerSourceFloodKeepsServiceBucket(t *testing.T) {
	g := NewGate(Policy{PerSourceRate: mustRate(t, "1/s"), Rate: mustRate(t, "3/s")}, noLoad)
	admit(t, g, "192.0.2.66", t0, "").Release()
	for range 100 {
		admit(t, g, "192.0.2.66", t0, ReasonPerSourceRate)
	}
	admit(t, g, "192.0.2.1", t0, "").Release()
	admit(t, g, "192.0.2.2", t0, "").Release()
	admit(t, g, "192.0.2.3", t0, ReasonRate)
}

// TestRateRefusalKeepsPerSourceToken: a client refused by the service's
// rate keeps its per-source token.
func TestRateRefusalKeepsPerSourceToken(t *testing.T) {
	g := NewGate(Policy{PerSourceRate: mustRate(t, "2/m"), Rate: mustRate(t, "1/s")}, noLoad)
	admit(t, g, "192.0.2.1", t0, "").Release() // per-source 1 left, service 0
	for range 10 {
		admit(t, g, "192.0.2.1", t0, ReasonRate) // must not take the per-source token
	}
	admit(t, g, "192.0.2.1", t0.Add(time.Second), "").Release() // the kept token
	admit(t, g, "192.0.2.1", t0.Add(2*time.Second), ReasonPerSourceRate)
}

// TestConcurrencyRefusalTakesNoToken: clients refused for per_source or
// instances take no token from either bucket.
func TestConcurrencyRefusalTakesNoToken(t *testing.T) {
	g := NewGate(Policy{Rate: mustRate(t, "2/s"), PerSourceRate: mustRate(t, "2/s"), PerSource: 1, Instances: 1}, noLoad)
	held := admit(t, g, "192.0.2.1", t0, "")
	admit(t, g, "192.0.2.1", t0, ReasonPerSource)
	admit(t, g, "192.0.2.2", t0, ReasonInstances)
	admit(t, g, "192.0.2.3", t0, ReasonInstances)
	held.Release()
	admit(t, g, "192.0.2.1", t0, "").Release() // second token of both buckets
	admit(t, g, "192.0.2.4", t0, ReasonRate)
}

func TestAdmitInstances(t *testing.T) {
	g := NewGate(Policy{Instances: 2}, noLoad)
	a := admit(t, g, "192.0.2.1", t0, "")
	b := admit(t, g, "192.0.2.1", t0, "")
	admit(t, g, "192.0.2.2", t0, ReasonInstances)
	if got := g.Active(); got != 2 {
		t.Errorf("Active() = %d, want 2", got)
	}
	a.Release()
	c := admit(t, g, "192.0.2.2", t0, "")
	b.Release()
	c.Release()
	if got := g.Active(); got != 0 {
		t.Errorf("Active() = %d, want 0", got)
	}
	Ticket{}.Release() // the zero Ticket releases nothing
	if got := g.Active(); got != 0 {
		t.Errorf("Active() = %d after releasing a zero Ticket, want 0", got)
	}
}

func TestAdmitPerSourceGrouping(t *testing.T) {
	tests := []struct {
		name         string
		bits4, bits6 int
		first        string
		same, other  []string
	}{
		{
			name:  "v6 default /64",
			first: "2001:db8:1:2::1",
			same:  []string{"2001:db8:1:2::ffff", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::1%eth0"},
			other: []string{"2001:db8:1:3::1", "2001:db8:2:2::1"},
		},
		{
			name:  "v4 default /32",
			first: "192.0.2.1",
			same:  []string{"::ffff:192.0.2.1"},
			other: []string{"192.0.2.2", "::ffff:192.0.3.1", "::c000:201"},
		},
		{
			name:  "v4 /24",
			bits4: 24,
			first: "192.0.2.1",
			same:  []string{"192.0.2.255", "::ffff:192.0.2.7"},
			other: []string{"192.0.3.1"},
		},
		{
			name:  "v6 /48",
			bits6: 48,
			first: "2001:db8:1:2::1",
			same:  []string{"2001:db8:1:ffff::1"},
			other: []string{"2001:db8:2::1", "192.0.2.1"},
		},
		{
			name:  "v6 /128",
			bits6: 128,
			first: "2001:db8::1",
			same:  []string{"2001:db8::1%lo"},
			other: []string{"2001:db8::2"},
		},
		{
			name:  "unix peers are one client",
			first: "invalid",
			same:  []string{"invalid"},
			other: []string{"::"},
		},
	}
	parse := func(s string) netip.Addr {
		if s == "invalid" {
			return netip.Addr{}
		}
		return netip.MustParseAddr(s)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewGate(Policy{PerSource: 1, SourceBits4: tc.bits4, SourceBits6: tc.bits6}, noLoad)
			first, _, ok := g.Admit(parse(tc.first), t0)
			if !ok {
				t.Fatalf("Admit(%s) refused, want admitted", tc.first)
			}
			for _, s := range tc.same {
				if _, reason, ok := g.Admit(parse(s), t0); ok || reason != ReasonPerSource {
					t.Errorf("Admit(%s) with %s running = %v %q, want refused per_source", s, tc.first, ok, reason)
				}
			}
			for _, s := range tc.other {
				tk, reason, ok := g.Admit(parse(s), t0)
				if !ok {
					t.Errorf("Admit(%s) with %s running refused %q, want admitted", s, tc.first, reason)
				}
				tk.Release()
			}
			first.Release()
			for _, s := range tc.same {
				tk, reason, ok := g.Admit(parse(s), t0)
				if !ok {
					t.Errorf("Admit(%s) after release refused %q, want admitted", s, reason)
				}
				tk.Release()
			}
		})
	}
}

func TestUpdateKeepsCounts(t *testing.T) {
	g := NewGate(Policy{Instances: 3, PerSource: 2}, noLoad)
	a1 := admit(t, g, "192.0.2.1", t0, "")
	a2 := admit(t, g, "192.0.2.1", t0, "")
	b := admit(t, g, "192.0.2.2", t0, "")

	g.Update(Policy{Instances: 2, PerSource: 1}) // below what is running
	if got := g.Active(); got != 3 {
		t.Fatalf("Active() after Update = %d, want 3", got)
	}
	admit(t, g, "192.0.2.3", t0, ReasonInstances)
	a1.Release()
	admit(t, g, "192.0.2.3", t0, ReasonInstances) // 2 running, limit 2
	b.Release()
	admit(t, g, "192.0.2.1", t0, ReasonPerSource) // a2 still counts for 192.0.2.1
	c := admit(t, g, "192.0.2.3", t0, "")
	a2.Release()
	d := admit(t, g, "192.0.2.1", t0, "")
	c.Release()
	d.Release()
	if got := g.Active(); got != 0 {
		t.Errorf("Active() = %d, want 0", got)
	}
}

// TestUpdateSourceBits: after a change of grouping, old tickets release
// into the table they took from, and new counts are exact.
func TestUpdateSourceBits(t *testing.T) {
	const client = "2001:db8:1:2::1"
	g := NewGate(Policy{PerSource: 1}, noLoad)
	old := admit(t, g, client, t0, "")
	g.Update(Policy{PerSource: 1, SourceBits6: 48})
	admit(t, g, "2001:db8:1:ffff::1", t0, "").Release() // fresh grouping: old handler not counted
	cur := admit(t, g, client, t0, "")
	old.Release() // must not release cur's count
	admit(t, g, "2001:db8:1:3::9", t0, ReasonPerSource)
	cur.Release()
	admit(t, g, client, t0, "").Release()
	if got := g.Active(); got != 0 {
		t.Errorf("Active() = %d, want 0", got)
	}
}

// TestUpdatePerSourceOnOff: tickets taken without per-source limits release
// no per-source count after they are turned on, and the other way round.
func TestUpdatePerSourceOnOff(t *testing.T) {
	g := NewGate(Policy{}, noLoad)
	plain := admit(t, g, "192.0.2.1", t0, "")
	g.Update(Policy{PerSource: 1})
	limited := admit(t, g, "192.0.2.1", t0, "")
	plain.Release()
	admit(t, g, "192.0.2.1", t0, ReasonPerSource)
	g.Update(Policy{})
	admit(t, g, "192.0.2.1", t0, "").Release()
	g.Update(Policy{PerSource: 1}) // a new table: the old count is gone with it
	again := admit(t, g, "192.0.2.1", t0, "")
	limited.Release() // into the retired table
	admit(t, g, "192.0.2.1", t0, ReasonPerSource)
	again.Release()
	if got := g.Active(); got != 0 {
		t.Errorf("Active() = %d, want 0", got)
	}
}

func TestUpdateBuckets(t *testing.T) {
	r := mustRate(t, "1/m")
	g := NewGate(Policy{Rate: r, PerSourceRate: mustRate(t, "1/m")}, noLoad)
	admit(t, g, "192.0.2.1", t0, "").Release()
	admit(t, g, "192.0.2.2", t0, ReasonRate)

	// Same rates: the buckets keep their (empty) state.
	g.Update(Policy{Rate: r, PerSourceRate: mustRate(t, "1/m"), Instances: 5})
	admit(t, g, "192.0.2.2", t0, ReasonRate)

	// A new service rate: a new, full bucket; the per-source one is kept.
	g.Update(Policy{Rate: mustRate(t, "2/m"), PerSourceRate: mustRate(t, "1/m")})
	admit(t, g, "192.0.2.1", t0, ReasonPerSourceRate)
	admit(t, g, "192.0.2.2", t0, "").Release()

	// A new per-source rate: every client's bucket is full again.
	g.Update(Policy{Rate: mustRate(t, "2/m"), PerSourceRate: mustRate(t, "2/m")})
	admit(t, g, "192.0.2.1", t0, "").Release()
	admit(t, g, "192.0.2.2", t0, ReasonRate)
}

// TestSourceTableBound sprays 200k distinct IPv6 /64s at one service: the
// per-source table stays within its bound, clients beyond it share the
// overflow bucket, and idle entries are recycled.
func TestSourceTableBound(t *testing.T) {
	if testing.Short() {
		t.Skip("sprays 400k clients")
	}
	const spray = 200_000
	g := NewGate(Policy{PerSourceRate: mustRate(t, "5/s"), PerSource: 4}, noLoad)
	client := func(i int) netip.Addr {
		var b [16]byte
		b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
		b[4], b[5], b[6], b[7] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		b[15] = 1
		return netip.AddrFrom16(b)
	}
	round := func(now time.Time, base int) int {
		admitted := 0
		for i := range spray {
			tk, reason, ok := g.Admit(client(base+i), now)
			if ok {
				admitted++
				tk.Release()
			} else if reason != ReasonPerSourceRate {
				t.Fatalf("Admit(%s) refused %q, want per_source_rate", client(base+i), reason)
			}
		}
		if got := g.sources(); got > maxSources+1 {
			t.Fatalf("per-source table holds %d entries, want at most %d", got, maxSources+1)
		}
		return admitted
	}
	// Every tracked client took a token, so none is idle: the rest share
	// the overflow bucket of 5 tokens.
	if got, want := round(t0, 0), maxSources+5; got != want {
		t.Errorf("first spray admitted %d, want %d", got, want)
	}
	// A second later every bucket is full again: the idle entries are
	// recycled for new clients.
	if got, want := round(t0.Add(time.Second), spray), maxSources+5; got != want {
		t.Errorf("second spray admitted %d, want %d", got, want)
	}
}

// TestSourceTableBusyEntriesStay: entries with running handlers are never
// evicted; beyond the bound clients share one per-source count.
func TestSourceTableBusyEntriesStay(t *testing.T) {
	if testing.Short() {
		t.Skip("holds 65536 tickets")
	}
	g := NewGate(Policy{PerSource: 1}, noLoad)
	held := make([]Ticket, 0, maxSources+1)
	for i := range maxSources {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		tk, reason, ok := g.Admit(a, t0)
		if !ok {
			t.Fatalf("Admit(%s) refused %q", a, reason)
		}
		held = append(held, tk)
	}
	held = append(held, admit(t, g, "192.0.2.1", t0, "")) // the overflow entry
	admit(t, g, "192.0.2.2", t0, ReasonPerSource)         // shares it
	admit(t, g, "10.0.0.0", t0, ReasonPerSource)          // still tracked
	if got := g.sources(); got != maxSources+1 {
		t.Errorf("per-source table holds %d entries, want %d", got, maxSources+1)
	}
	for _, tk := range held {
		tk.Release()
	}
	if got := g.Active(); got != 0 {
		t.Errorf("Active() = %d, want 0", got)
	}
	admit(t, g, "192.0.2.2", t0, "").Release() // recycles an idle entry
	admit(t, g, "192.0.2.2", t0, "").Release()
}

func TestSourceTableLRU(t *testing.T) {
	tab := newSourceTable(32, 64, Rate{}, 3)
	key := func(i byte) sourceKey { return tab.key(netip.AddrFrom4([4]byte{192, 0, 2, i})) }
	for i := byte(1); i <= 3; i++ {
		_, e := tab.lookup(key(i), t0)
		e.running++
	}
	// Full of busy entries: overflow.
	if slot, _ := tab.lookup(key(4), t0); slot != overflowSlot {
		t.Fatalf("lookup(4) in a full busy table = slot %d, want overflow", slot)
	}
	// Release 2, then 1: 2 is the least recently used idle entry.
	s2, _ := tab.lookup(key(2), t0)
	tab.release(s2)
	s1, _ := tab.lookup(key(1), t0)
	tab.release(s1)
	if slot, _ := tab.lookup(key(4), t0); slot != s2 {
		t.Errorf("lookup(4) recycled slot %d, want %d (entry 2, least recently used idle)", slot, s2)
	}
	if _, ok := tab.index[key(2)]; ok {
		t.Errorf("entry 2 still indexed after eviction")
	}
	if slot, _ := tab.lookup(key(5), t0); slot != s1 {
		t.Errorf("lookup(5) recycled slot %d, want %d (entry 1)", slot, s1)
	}
	if got := tab.size(); got != 4 {
		t.Errorf("size() = %d, want 4", got)
	}
}

// TestAdmitConcurrent hammers one Gate from many goroutines: the limits
// hold at every moment and every count returns to zero.
func TestAdmitConcurrent(t *testing.T) {
	const (
		instances = 6
		perSource = 2
	)
	g := NewGate(Policy{Instances: instances, PerSource: perSource, Rate: mustRate(t, "1000000/s"), PerSourceRate: mustRate(t, "1000000/s")}, noLoad)
	var running [4]atomic.Int32
	var total atomic.Int32
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				c := (w + i) % len(running)
				tk, _, ok := g.Admit(netip.AddrFrom4([4]byte{192, 0, 2, byte(c)}), time.Now())
				if !ok {
					continue
				}
				if n := running[c].Add(1); n > perSource {
					t.Errorf("client %d has %d running, limit %d", c, n, perSource)
				}
				if n := total.Add(1); n > instances {
					t.Errorf("%d running, limit %d", n, instances)
				}
				if i%50 == 0 {
					g.Update(Policy{Instances: instances, PerSource: perSource, Rate: mustRate(t, "1000000/s"), PerSourceRate: mustRate(t, "1000000/s")})
				}
				total.Add(-1)
				running[c].Add(-1)
				tk.Release()
			}
		})
	}
	wg.Wait()
	if got := g.Active(); got != 0 {
		t.Errorf("Active() = %d, want 0", got)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	tab := g.cur.Load().sources
	for i := range tab.slots {
		if tab.slots[i].running != 0 {
			t.Errorf("slot %d running = %d, want 0", i, tab.slots[i].running)
		}
	}
}

func TestAdmitAllocs(t *testing.T) {
	g := NewGate(Policy{
		Allow:     prefixes(t, "10.0.0.0/8", "2001:db8::/32"),
		Deny:      prefixes(t, "10.9.0.0/16"),
		Times:     []Window{mustWindow(t, "11:00-13:00")},
		Location:  time.UTC,
		Instances: 64,
	}, noLoad)
	denied := netip.MustParseAddr("192.0.2.1")
	allowed := netip.MustParseAddr("10.1.2.3")
	if n := testing.AllocsPerRun(1000, func() { g.Admit(denied, t0) }); n != 0 {
		t.Errorf("Admit refused by acl: %v allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { g.Admit(allowed, t0.Add(2*time.Hour)) }); n != 0 {
		t.Errorf("Admit refused by time: %v allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		tk, _, _ := g.Admit(allowed, t0)
		tk.Release()
	}); n != 0 {
		t.Errorf("Admit admitted: %v allocs, want 0", n)
	}

	g = NewGate(Policy{PerSource: 4, PerSourceRate: mustRate(t, "1000000/s"), Rate: mustRate(t, "1000000/s")}, noLoad)
	g.Admit(allowed, t0) // first sight allocates the entry
	if n := testing.AllocsPerRun(1000, func() {
		tk, _, _ := g.Admit(allowed, t0)
		tk.Release()
	}); n != 0 {
		t.Errorf("Admit of a tracked client: %v allocs, want 0", n)
	}
}

func TestSysLoad(t *testing.T) {
	l := newSysLoad()
	v := l.get()
	if v < 0 || v != v {
		t.Fatalf("load average = %v, want a number >= 0", v)
	}
	if n := testing.AllocsPerRun(100, func() { l.get() }); n != 0 {
		t.Errorf("cached load read: %v allocs, want 0", n)
	}
	g := NewGate(Policy{MaxLoad: 1e9}, nil)
	admit(t, g, "192.0.2.1", time.Now(), "").Release()
}
