package acl

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{
		"", "127.0.0.1", "10.0.0.0/8", "10.1.2.3/8", "::1", "2001:db8::/32", "::/0",
		"::ffff:10.0.0.1", "::ffff:0:0/96", "fe80::1%eth0", "10.0.0.0/33", "example.com",
		"10.0.0.0/", "1.2.3.4/08", "0.0.0.0/0", "1::ffff:1.2.3.4/120",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrefix(s)
		if err != nil {
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
				t.Errorf("ParsePrefix(%q) error %q does not name the input", s, err)
			}
			return
		}
		if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			t.Fatalf("ParsePrefix(%q) = %v: invalid, unmasked, mapped or zoned", s, p)
		}
		again, err := ParsePrefix(p.String())
		if err != nil || again != p {
			t.Fatalf("ParsePrefix(%q) = %v, but ParsePrefix(%q) = %v, %v", s, p, p.String(), again, err)
		}
	})
}

func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{"08:00-18:30", "22:00-06:00", "00:00-23:59", "08:00-08:00", "24:00-01:00", "8:00-9:00", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWindow(s)
		if err != nil {
			return
		}
		if w.Start < 0 || w.Start >= 1440 || w.End < 0 || w.End >= 1440 || w.Start == w.End {
			t.Fatalf("ParseWindow(%q) = %+v: out of range", s, w)
		}
		if w.String() != s {
			t.Fatalf("ParseWindow(%q).String() = %q, want the input", s, w.String())
		}
		// The window holds its ends and, crossing midnight or not, the
		// number of minutes it says.
		n := 0
		for m := range 1440 {
			if w.Contains(time.Date(2024, 1, 1, m/60, m%60, 30, 0, time.UTC)) {
				n++
			}
		}
		want := w.End - w.Start + 1
		if w.Start > w.End {
			want += 1440
		}
		if n != want || !w.containsMinute(w.Start) || !w.containsMinute(w.End) {
			t.Fatalf("ParseWindow(%q) = %+v contains %d minutes, want %d with both ends", s, w, n, want)
		}
	})
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"50/s", "5/m", "0/s", "1/h", "", "/", "99999999999/s", "1000000000/m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if r.N < 1 || r.N > maxRateN || (r.Per != time.Second && r.Per != time.Minute) {
			t.Fatalf("ParseRate(%q) = %+v: out of range", s, r)
		}
		again, err := ParseRate(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseRate(%q) = %+v, but ParseRate(%q) = %+v, %v", s, r, r.String(), again, err)
		}
	})
}

// FuzzMatch builds rules from a comma-separated list ("+10.0.0.0/8" allows,
// "-10.9.0.0/16" denies) and checks the compiled matcher and Admit against
// the naive reference for a client.
func FuzzMatch(f *testing.F) {
	f.Add("+10.0.0.0/8,-10.9.0.0/16", "10.9.1.1")
	f.Add("+10.0.0.0/8,-10.0.0.0/8", "10.1.1.1")
	f.Add("-::/0", "::ffff:1.2.3.4")
	f.Add("+2001:db8::/32,-2001:db8:bad::/48,+2001:db8:bad:600d::/64", "2001:db8:bad:600d::1%eth0")
	f.Add("+0.0.0.0/0", "::1")
	f.Add("", "192.0.2.1")
	f.Add("+192.0.2.7,-192.0.2.0/24,+::1/128", "::ffff:192.0.2.7")
	f.Add("+2001:db8::1:0/127,-2001:db8::1:0/112", "2001:db8::1:1")
	f.Fuzz(func(t *testing.T, ruleList, clientStr string) {
		client, err := netip.ParseAddr(clientStr)
		if err != nil {
			return
		}
		var allow, deny []netip.Prefix
		for _, r := range strings.Split(ruleList, ",") {
			if len(r) < 2 {
				continue
			}
			p, err := ParsePrefix(r[1:])
			if err != nil {
				continue
			}
			switch r[0] {
			case '+':
				allow = append(allow, p)
			case '-':
				deny = append(deny, p)
			}
		}
		want := refAllows(allow, deny, client)
		rs := compileRules(allow, deny)
		if got := rs.allows(client.Unmap()); got != want {
			t.Fatalf("allows(%s) with allow %v deny %v = %v, want %v", client, allow, deny, got, want)
		}
		g := NewGate(Policy{Allow: allow, Deny: deny}, noLoad)
		tk, reason, ok := g.Admit(client, t0)
		if ok != want || (!ok && reason != ReasonACL) {
			t.Fatalf("Admit(%s) with allow %v deny %v = %v %q, want %v", client, allow, deny, ok, reason, want)
		}
		tk.Release()
	})
}
