package acl

import (
	"net/netip"
	"time"

	"golang.org/x/time/rate"
)

const (
	// maxSources bounds the clients a sourceTable tracks (SPEC §4).
	maxSources = 65536

	// evictScan is how many of the least recently used entries a full
	// table looks at for an idle one before a new client goes to the
	// overflow entry. It bounds the work per new client under a spray of
	// source addresses.
	evictScan = 8

	// overflowSlot is the slot number of the shared overflow entry.
	overflowSlot = -1

	// noSlot ends the LRU list.
	noSlot = -1
)

// sourceKey is a client address masked to the per-source prefix length,
// with its family: 4, 6, or 0 for an invalid address (every Unix socket
// peer is the same client).
type sourceKey struct {
	a   [16]byte
	fam uint8
}

// sourceEntry is one tracked client: its running handlers and its
// per-source token bucket.
type sourceEntry struct {
	key        sourceKey
	running    int32
	prev, next int32         // LRU list of slots, most recent first
	lim        *rate.Limiter // nil: a full bucket (or the per-source rate is off)
}

// sourceTable holds the per-source state of one Gate: at most maxSources
// entries, evicting an idle one (no handler running, bucket full) for a new
// client, and one overflow entry shared by every client beyond the bound.
// A sourceTable is guarded by its Gate's mu; slots keep their index for
// life, so a Ticket can release into its slot by number even after the
// slot array grows, and a slot with running handlers is never evicted.
type sourceTable struct {
	bits4, bits6 int
	rate         Rate // per-source rate; off: entries have no bucket
	max          int

	index      map[sourceKey]int32
	slots      []sourceEntry
	head, tail int32 // LRU ends; noSlot when empty
	overflow   sourceEntry
}

func newSourceTable(bits4, bits6 int, r Rate, max int) *sourceTable {
	return &sourceTable{
		bits4: bits4,
		bits6: bits6,
		rate:  r,
		max:   max,
		index: make(map[sourceKey]int32),
		head:  noSlot,
		tail:  noSlot,
	}
}

// key masks client to the table's prefix lengths.
func (t *sourceTable) key(client netip.Addr) sourceKey {
	var k sourceKey
	switch {
	case client.Is4():
		a := client.As4()
		copy(k.a[:], a[:])
		maskBytes(k.a[:4], t.bits4)
		k.fam = 4
	case client.Is6():
		k.a = client.As16()
		maskBytes(k.a[:], t.bits6)
		k.fam = 6
	}
	return k
}

// maskBytes clears every bit of b after the first bits.
func maskBytes(b []byte, bits int) {
	for i := range b {
		switch {
		case bits >= 8:
			bits -= 8
		case bits > 0:
			b[i] &= ^byte(0xff >> bits)
			bits = 0
		default:
			b[i] = 0
		}
	}
}

// entry returns the entry in slot i (overflowSlot for the overflow entry).
func (t *sourceTable) entry(i int32) *sourceEntry {
	if i == overflowSlot {
		return &t.overflow
	}
	return &t.slots[i]
}

// lookup returns the slot and entry for k, creating or recycling an entry
// if k is new, or the overflow entry if the table is full of busy entries.
// The entry has a bucket if the per-source rate is on. The pointer is valid
// until the next lookup.
func (t *sourceTable) lookup(k sourceKey, now time.Time) (int32, *sourceEntry) {
	i, ok := t.index[k]
	switch {
	case ok:
		t.unlink(i)
	case len(t.slots) < t.max:
		t.slots = append(t.slots, sourceEntry{key: k})
		i = int32(len(t.slots) - 1)
		t.index[k] = i
	default:
		if i, ok = t.evict(now); !ok {
			e := &t.overflow
			t.ensureBucket(e)
			return overflowSlot, e
		}
		delete(t.index, t.slots[i].key)
		t.slots[i].key = k // an idle entry's bucket is full: keep it
		t.index[k] = i
	}
	t.pushFront(i)
	e := &t.slots[i]
	t.ensureBucket(e)
	return i, e
}

func (t *sourceTable) ensureBucket(e *sourceEntry) {
	if e.lim == nil && t.rate.On() {
		e.lim = t.rate.newLimiter()
	}
}

// evict finds an idle entry among the least recently used ones, unlinked
// from the LRU list. Busy entries it passes go to the front, so the next
// search looks at others.
func (t *sourceTable) evict(now time.Time) (int32, bool) {
	for n := 0; n < evictScan && t.tail != noSlot; n++ {
		i := t.tail
		t.unlink(i)
		if t.slots[i].idle(now) {
			return i, true
		}
		t.pushFront(i)
	}
	return 0, false
}

// idle reports whether e can be forgotten without changing any decision:
// no handler running and a full bucket.
func (e *sourceEntry) idle(now time.Time) bool {
	return e.running == 0 && (e.lim == nil || e.lim.TokensAt(now) >= float64(e.lim.Burst()))
}

// release gives back one running handler of slot i.
func (t *sourceTable) release(i int32) {
	e := t.entry(i)
	if e.running > 0 {
		e.running--
	}
	if i != overflowSlot {
		t.unlink(i)
		t.pushFront(i)
	}
}

// setRate changes the per-source rate: every bucket starts again full.
func (t *sourceTable) setRate(r Rate) {
	t.rate = r
	for i := range t.slots {
		t.slots[i].lim = nil
	}
	t.overflow.lim = nil
}

// size is the number of entries held, the overflow entry included.
func (t *sourceTable) size() int { return len(t.index) + 1 }

func (t *sourceTable) unlink(i int32) {
	e := &t.slots[i]
	if e.prev != noSlot {
		t.slots[e.prev].next = e.next
	} else {
		t.head = e.next
	}
	if e.next != noSlot {
		t.slots[e.next].prev = e.prev
	} else {
		t.tail = e.prev
	}
	e.prev, e.next = noSlot, noSlot
}

func (t *sourceTable) pushFront(i int32) {
	e := &t.slots[i]
	e.prev, e.next = noSlot, t.head
	if t.head != noSlot {
		t.slots[t.head].prev = i
	} else {
		t.tail = i
	}
	t.head = i
}
