package acl

import (
	"net/netip"
	"testing"
	"time"
)

// benchPolicy is a typical service's access block.
func benchPolicy(b *testing.B) Policy {
	return Policy{
		Allow:     prefixes(b, "10.0.0.0/8", "192.168.0.0/16", "127.0.0.1", "2001:db8::/32", "::1"),
		Deny:      prefixes(b, "10.9.0.0/16", "2001:db8:bad::/48"),
		Instances: 64,
	}
}

func BenchmarkAdmitDenied(b *testing.B)   { benchDenied(b, "203.0.113.9") }
func BenchmarkAdmitDeniedV6(b *testing.B) { benchDenied(b, "2001:db8:bad:1::9") }

// benchDenied measures Admit for a client the benchmark policy refuses.
func benchDenied(b *testing.B, addr string) {
	g := NewGate(benchPolicy(b), noLoad)
	client := netip.MustParseAddr(addr)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := g.Admit(client, now); ok {
			b.Fatal("admitted")
		}
	}
}

func BenchmarkAdmitAllowed(b *testing.B) { benchAdmitAllowed(b, benchPolicy(b)) }

func BenchmarkAdmitAllowedRate(b *testing.B) {
	p := benchPolicy(b)
	p.Rate = Rate{N: 1_000_000_000, Per: time.Second}
	benchAdmitAllowed(b, p)
}

// benchAdmitAllowed admits and releases one allowed client under p.
func benchAdmitAllowed(b *testing.B, p Policy) {
	g := NewGate(p, noLoad)
	client := netip.MustParseAddr("10.1.2.3")
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		tk, _, ok := g.Admit(client, now)
		if !ok {
			b.Fatal("refused")
		}
		tk.Release()
	}
}

func BenchmarkAdmitPerSource(b *testing.B) {
	p := benchPolicy(b)
	p.Rate = Rate{N: 1_000_000_000, Per: time.Second}
	p.PerSourceRate = Rate{N: 1_000_000, Per: time.Second}
	p.PerSource = 8
	g := NewGate(p, noLoad)
	clients := make([]netip.Addr, 1024)
	for i := range clients {
		clients[i] = netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
	}
	now := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tk, _, ok := g.Admit(clients[i%len(clients)], now)
		if !ok {
			b.Fatal("refused")
		}
		tk.Release()
		i++
	}
}

func BenchmarkAdmitAllowedParallel(b *testing.B) {
	g := NewGate(benchPolicy(b), noLoad)
	client := netip.MustParseAddr("10.1.2.3")
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tk, _, _ := g.Admit(client, now)
			tk.Release()
		}
	})
}

func BenchmarkSysLoad(b *testing.B) {
	l := newSysLoad()
	b.ReportAllocs()
	for b.Loop() {
		l.get()
	}
}
