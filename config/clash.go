package config

import (
	"net/netip"

	"github.com/superd-dev/superd/listener"
)

// clashIndex finds, among the listen addresses added so far, the first one
// that clashes with a new one (listener.Addr.Clashes), without comparing
// every pair: a file may hold thousands of addresses, and each address
// gets one error at most, naming the first it clashes with.
type clashIndex struct {
	buckets map[clashKey]*clashBucket
}

// clashKey groups the addresses that can clash at all: one network and
// port, or one unix path.
type clashKey struct {
	network string
	port    uint16
	path    string
}

// clashBucket holds, by position in the list, the first address of each
// kind that a new address may clash with.
type clashBucket struct {
	any       int                  // the first address: a dual-stack one clashes with it
	family    [2]int               // the first IPv6 [0] and IPv4 [1] address: an unspecified one clashes with it
	dual      int                  // the first dual-stack address
	wildcard  [2]int               // the first unspecified IPv6 and IPv4 address
	addresses map[netip.Addr][]int // by address without zone: every one (zones tell apart)
}

func newClashIndex() *clashIndex { return &clashIndex{buckets: make(map[clashKey]*clashBucket)} }

func keyOf(a listener.Addr) (clashKey, bool) {
	if a.Network == "unix" {
		return clashKey{network: a.Network, path: a.Path}, a.Path != ""
	}
	return clashKey{network: a.Network, port: a.Port}, a.Port != 0
}

func family(a listener.Addr) int {
	if a.IP.Is4() {
		return 1
	}
	return 0
}

// first returns the position in ls of the first address added that
// clashes with a, or -1.
func (x *clashIndex) first(ls []listenAt, a listener.Addr) int {
	k, ok := keyOf(a)
	if !ok {
		return -1
	}
	b := x.buckets[k]
	if b == nil {
		return -1
	}
	best := -1
	try := func(i int) {
		if i >= 0 && (best < 0 || i < best) && ls[i].addr.Clashes(a) {
			best = i
		}
	}
	try(b.dual)
	if a.Network == "unix" || a.DualStack {
		try(b.any)
		return best
	}
	f := family(a)
	try(b.wildcard[f])
	if a.IP.IsUnspecified() {
		try(b.family[f])
	}
	for _, i := range b.addresses[a.IP.WithZone("")] {
		try(i)
	}
	return best
}

// add records a, at position i of the list.
func (x *clashIndex) add(i int, a listener.Addr) {
	k, ok := keyOf(a)
	if !ok {
		return
	}
	b := x.buckets[k]
	if b == nil {
		b = &clashBucket{any: i, family: [2]int{-1, -1}, dual: -1, wildcard: [2]int{-1, -1}}
		x.buckets[k] = b
	}
	if a.Network == "unix" {
		return
	}
	if a.DualStack {
		if b.dual < 0 {
			b.dual = i
		}
		return
	}
	f := family(a)
	if b.family[f] < 0 {
		b.family[f] = i
	}
	if a.IP.IsUnspecified() && b.wildcard[f] < 0 {
		b.wildcard[f] = i
	}
	if b.addresses == nil {
		b.addresses = make(map[netip.Addr][]int)
	}
	ip := a.IP.WithZone("")
	if l := b.addresses[ip]; len(l) < 8 { // a few zones of one link-local address
		b.addresses[ip] = append(l, i)
	}
}
