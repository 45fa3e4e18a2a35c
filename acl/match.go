package acl

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
)

// rules is the compiled form of a Policy's Allow and Deny lists: one list
// per address family, sorted so that the first rule that contains a client
// is the longest matching prefix, deny before allow on a tie. Matching is a
// linear scan with no allocation, the fastest choice for the handful of
// rules a service usually has.
type rules struct {
	v4       []rule4
	v6       []rule6
	allowAll bool // Allow is empty: a client no rule matches is allowed
}

type rule4 struct {
	net, mask uint32
	bits      int
	deny      bool
}

type rule6 struct {
	hi, lo   uint64 // network, masked
	mhi, mlo uint64 // mask
	bits     int
	deny     bool
}

// compileRules builds rules from allow and deny. Prefixes are masked again
// here and v4-mapped ones are unmapped, so a Policy built by hand behaves as
// one built by ParsePrefix; invalid prefixes are skipped.
func compileRules(allow, deny []netip.Prefix) rules {
	r := rules{allowAll: len(allow) == 0}
	add := func(p netip.Prefix, isDeny bool) {
		if !p.IsValid() {
			return
		}
		a, bits := p.Addr(), p.Bits()
		if a.Is4In6() && bits >= 96 {
			a, bits = a.Unmap(), bits-96
		}
		if a.Is4() {
			var mask uint32
			if bits > 0 {
				mask = ^uint32(0) << (32 - bits)
			}
			b := a.As4()
			r.v4 = append(r.v4, rule4{net: binary.BigEndian.Uint32(b[:]) & mask, mask: mask, bits: bits, deny: isDeny})
			return
		}
		mhi, mlo := mask6(bits)
		hi, lo := split16(a.As16())
		r.v6 = append(r.v6, rule6{hi: hi & mhi, lo: lo & mlo, mhi: mhi, mlo: mlo, bits: bits, deny: isDeny})
	}
	for _, p := range allow {
		add(p, false)
	}
	for _, p := range deny {
		add(p, true)
	}
	// Longest prefix first; on equal length, deny first.
	order := func(bitsA, bitsB int, denyA, denyB bool) int {
		if c := cmp.Compare(bitsB, bitsA); c != 0 {
			return c
		}
		switch {
		case denyA == denyB:
			return 0
		case denyA:
			return -1
		default:
			return 1
		}
	}
	slices.SortStableFunc(r.v4, func(a, b rule4) int { return order(a.bits, b.bits, a.deny, b.deny) })
	slices.SortStableFunc(r.v6, func(a, b rule6) int { return order(a.bits, b.bits, a.deny, b.deny) })
	return r
}

func mask6(bits int) (hi, lo uint64) {
	switch {
	case bits <= 0:
		return 0, 0
	case bits <= 64:
		return ^uint64(0) << (64 - bits), 0
	case bits >= 128:
		return ^uint64(0), ^uint64(0)
	default:
		return ^uint64(0), ^uint64(0) << (128 - bits)
	}
}

func split16(b [16]byte) (hi, lo uint64) {
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

// allows reports whether client passes the address rules. client must
// already be unmapped; its zone is ignored. An invalid address (a Unix
// socket peer) matches no rule.
func (r *rules) allows(client netip.Addr) bool {
	switch {
	case client.Is4():
		b := client.As4()
		a := binary.BigEndian.Uint32(b[:])
		for i := range r.v4 {
			if a&r.v4[i].mask == r.v4[i].net {
				return !r.v4[i].deny
			}
		}
	case client.Is6():
		hi, lo := split16(client.As16())
		for i := range r.v6 {
			x := &r.v6[i]
			if hi&x.mhi == x.hi && lo&x.mlo == x.lo {
				return !x.deny
			}
		}
	}
	return r.allowAll
}
