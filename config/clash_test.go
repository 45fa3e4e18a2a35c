package config

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/superd-dev/superd/listener"
)

// TestClashIndexMatchesPairs checks the index against comparing every
// pair, on random lists drawn from addresses that clash in every way.
func TestClashIndexMatchesPairs(t *testing.T) {
	pool := []struct{ network, addr string }{
		{"tcp", ":79"}, {"tcp", "0.0.0.0:79"}, {"tcp", "[::]:79"}, {"tcp", "127.0.0.1:79"},
		{"tcp", "127.0.0.2:79"}, {"tcp", "[::1]:79"}, {"tcp", "[fe80::1%lo]:79"}, {"tcp", "[fe80::1%eth0]:79"},
		{"tcp", "[fe80::1]:79"}, {"tcp", "127.0.0.1:80"}, {"tcp", "127.0.0.1:0"}, {"tcp", ":0"},
		{"udp", ":79"}, {"udp", "127.0.0.1:79"}, {"unix", "/run/a.sock"}, {"unix", "/run/b.sock"},
	}
	addrs := make([]listener.Addr, len(pool))
	for i, p := range pool {
		a, err := listener.ParseAddr(p.network, p.addr)
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = a
	}
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 2000; round++ {
		ls := make([]listenAt, 1+r.IntN(12))
		for i := range ls {
			ls[i] = listenAt{addr: addrs[r.IntN(len(addrs))]}
		}
		idx := newClashIndex()
		for j, x := range ls {
			want := -1
			for i := 0; i < j; i++ {
				if ls[i].addr.Clashes(x.addr) {
					want = i
					break
				}
			}
			if got := idx.first(ls, x.addr); got != want {
				var s []string
				for _, l := range ls[:j+1] {
					s = append(s, l.addr.Network+" "+l.addr.String())
				}
				t.Fatalf("first clash of entry %d of %q = %d, want %d", j, s, got, want)
			}
			idx.add(j, x.addr)
		}
	}
}

// TestClashOneErrorEach checks that an address listed many times gets one
// error per repeat, not one per pair.
func TestClashOneErrorEach(t *testing.T) {
	const n = 5000
	src := "service \"a\" {\n  listen  = [" + strings.Repeat("\"127.0.0.1:7001\", ", n-1) + "\"127.0.0.1:7001\"]\n  command = [\"/bin/cat\"]\n}\n"
	_, got := loadOne(t, src, userOpts())
	if len(got) != n-1 {
		t.Errorf("%d diagnostics for %d copies of one address, want %d", len(got), n, n-1)
	}
}
