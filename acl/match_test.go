package acl

import (
	"net/netip"
	"testing"
	"time"
)

// refAllows is the naive reference for address matching: the longest
// matching prefix across both lists wins, deny on a tie; no match admits
// only when allow is empty.
func refAllows(allow, deny []netip.Prefix, client netip.Addr) bool {
	c := client.WithZone("").Unmap()
	bestAllow, bestDeny := -1, -1
	for _, p := range allow {
		if p.Contains(c) && p.Bits() > bestAllow {
			bestAllow = p.Bits()
		}
	}
	for _, p := range deny {
		if p.Contains(c) && p.Bits() > bestDeny {
			bestDeny = p.Bits()
		}
	}
	if bestAllow < 0 && bestDeny < 0 {
		return len(allow) == 0
	}
	return bestAllow > bestDeny
}

func prefixes(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	ps := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		p, err := ParsePrefix(s)
		if err != nil {
			t.Fatalf("ParsePrefix(%q): %v", s, err)
		}
		ps = append(ps, p)
	}
	return ps
}

func TestMatch(t *testing.T) {
	type check struct {
		client string
		want   bool
	}
	tests := []struct {
		name        string
		allow, deny []string
		checks      []check
	}{
		{
			name:   "empty lists admit everyone",
			checks: []check{{"192.0.2.1", true}, {"2001:db8::1", true}, {"::ffff:192.0.2.1", true}},
		},
		{
			name:  "allow only",
			allow: []string{"10.0.0.0/8", "127.0.0.1"},
			checks: []check{
				{"10.255.1.2", true}, {"127.0.0.1", true}, {"127.0.0.2", false},
				{"11.0.0.1", false}, {"2001:db8::1", false},
			},
		},
		{
			name: "deny only",
			deny: []string{"10.9.0.0/16", "2001:db8:bad::/48"},
			checks: []check{
				{"10.9.200.1", false}, {"10.10.0.1", true},
				{"2001:db8:bad:1::1", false}, {"2001:db8:bad0::1", true},
			},
		},
		{
			name:  "longest prefix wins across lists",
			allow: []string{"10.0.0.0/8", "10.9.1.0/24"},
			deny:  []string{"10.9.0.0/16", "10.9.1.66"},
			checks: []check{
				{"10.1.1.1", true}, {"10.9.2.1", false}, {"10.9.1.5", true},
				{"10.9.1.66", false}, {"11.0.0.1", false},
			},
		},
		{
			name:   "tie goes to deny",
			allow:  []string{"10.0.0.0/8", "127.0.0.1"},
			deny:   []string{"10.0.0.0/8", "127.0.0.1/32"},
			checks: []check{{"10.1.2.3", false}, {"127.0.0.1", false}},
		},
		{
			name:  "v6 longest prefix",
			allow: []string{"2001:db8::/32", "2001:db8:bad:600d::/64"},
			deny:  []string{"2001:db8:bad::/48"},
			checks: []check{
				{"2001:db8:1::1", true}, {"2001:db8:bad:1::1", false},
				{"2001:db8:bad:600d::42", true}, {"2001:db9::1", false},
			},
		},
		{
			name:  "v6 long prefixes past 64 bits",
			allow: []string{"2001:db8::/96", "2001:db8::1:0/127"},
			deny:  []string{"2001:db8::1:0/112"},
			checks: []check{
				{"2001:db8::5", true}, {"2001:db8::1:5", false},
				{"2001:db8::1:1", true}, {"2001:db8::1:2", false},
			},
		},
		{
			name:  "v4-mapped clients are unmapped",
			allow: []string{"10.0.0.0/8"},
			deny:  []string{"10.9.0.0/16"},
			checks: []check{
				{"::ffff:10.1.2.3", true}, {"::ffff:10.9.2.3", false}, {"::ffff:11.1.2.3", false},
			},
		},
		{
			name:   "client zone is dropped",
			allow:  []string{"fe80::/10"},
			deny:   []string{"fe80::bad"},
			checks: []check{{"fe80::1%eth0", true}, {"fe80::bad%lo", false}, {"fe90::1", true}, {"fec0::1%1", false}},
		},
		{
			name:   "v4 rules do not match v6 clients",
			allow:  []string{"0.0.0.0/0"},
			checks: []check{{"192.0.2.1", true}, {"::1", false}, {"::", false}},
		},
		{
			name:   "v6 rules do not match v4 clients",
			deny:   []string{"::/0"},
			checks: []check{{"192.0.2.1", true}, {"::ffff:192.0.2.1", true}, {"::1", false}},
		},
		{
			name:   "everyone denied but one host",
			allow:  []string{"192.0.2.7", "::1"},
			deny:   []string{"0.0.0.0/0", "::/0"},
			checks: []check{{"192.0.2.7", true}, {"192.0.2.8", false}, {"::1", true}, {"::2", false}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			allow, deny := prefixes(t, tc.allow...), prefixes(t, tc.deny...)
			r := compileRules(allow, deny)
			g := NewGate(Policy{Allow: allow, Deny: deny}, noLoad)
			for _, c := range tc.checks {
				client := netip.MustParseAddr(c.client)
				if got := r.allows(client.Unmap()); got != c.want {
					t.Errorf("allows(%s) = %v, want %v", c.client, got, c.want)
				}
				if ref := refAllows(allow, deny, client); ref != c.want {
					t.Errorf("reference allows(%s) = %v, want %v (bad test case)", c.client, ref, c.want)
				}
				tk, reason, ok := g.Admit(client, time.Unix(0, 0))
				if ok != c.want || (!ok && reason != ReasonACL) {
					t.Errorf("Admit(%s) = %v %q, want %v", c.client, ok, reason, c.want)
				}
				tk.Release()
			}
		})
	}
}

func TestMatchInvalidClient(t *testing.T) {
	deny := prefixes(t, "0.0.0.0/0", "::/0")
	if r := compileRules(nil, deny); !r.allows(netip.Addr{}) {
		t.Errorf("allows(invalid) with only deny rules = false, want true")
	}
	if r := compileRules(prefixes(t, "0.0.0.0/0", "::/0"), nil); r.allows(netip.Addr{}) {
		t.Errorf("allows(invalid) with allow rules = true, want false")
	}
}

// TestCompileRulesHandBuilt checks that prefixes not made by ParsePrefix
// (unmasked, v4-mapped, invalid) behave as their canonical form.
func TestCompileRulesHandBuilt(t *testing.T) {
	allow := []netip.Prefix{
		netip.PrefixFrom(netip.MustParseAddr("10.1.2.3"), 8),
		netip.MustParsePrefix("::ffff:192.0.2.0/120"),
		{},
	}
	r := compileRules(allow, nil)
	for _, c := range []struct {
		client string
		want   bool
	}{{"10.200.0.1", true}, {"192.0.2.99", true}, {"192.0.3.1", false}} {
		if got := r.allows(netip.MustParseAddr(c.client)); got != c.want {
			t.Errorf("allows(%s) = %v, want %v", c.client, got, c.want)
		}
	}
}
