package listener

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseAddrGood(t *testing.T) {
	tests := []struct {
		name, network, in string
		want              Addr
		str               string // canonical String(); "" means in
	}{
		{"ipv4", "tcp", "127.0.0.1:79", Addr{Network: "tcp", IP: netip.MustParseAddr("127.0.0.1"), Port: 79}, ""},
		{"ipv4 any", "tcp", "0.0.0.0:79", Addr{Network: "tcp", IP: netip.IPv4Unspecified(), Port: 79}, ""},
		{"ipv4 udp", "udp", "10.1.2.3:53", Addr{Network: "udp", IP: netip.MustParseAddr("10.1.2.3"), Port: 53}, ""},
		{"ipv6", "tcp", "[::1]:79", Addr{Network: "tcp", IP: netip.IPv6Loopback(), Port: 79}, ""},
		{"ipv6 any", "udp", "[::]:79", Addr{Network: "udp", IP: netip.IPv6Unspecified(), Port: 79}, ""},
		{"ipv6 long form", "tcp", "[2001:0db8:0000::1]:80", Addr{Network: "tcp", IP: netip.MustParseAddr("2001:db8::1"), Port: 80}, "[2001:db8::1]:80"},
		{"dual stack", "tcp", ":79", Addr{Network: "tcp", Port: 79, DualStack: true}, ""},
		{"dual stack port 0", "udp", ":0", Addr{Network: "udp", Port: 0, DualStack: true}, ""},
		{"port 0", "tcp", "127.0.0.1:0", Addr{Network: "tcp", IP: netip.MustParseAddr("127.0.0.1")}, ""},
		{"max port", "tcp", "127.0.0.1:65535", Addr{Network: "tcp", IP: netip.MustParseAddr("127.0.0.1"), Port: 65535}, ""},
		{"leading zero port", "tcp", "127.0.0.1:079", Addr{Network: "tcp", IP: netip.MustParseAddr("127.0.0.1"), Port: 79}, "127.0.0.1:79"},
		{"zone", "tcp", "[fe80::1%eth0]:79", Addr{Network: "tcp", IP: netip.MustParseAddr("fe80::1%eth0"), Port: 79}, ""},
		{"numeric zone", "udp", "[fe80::1%2]:79", Addr{Network: "udp", IP: netip.MustParseAddr("fe80::1%2"), Port: 79}, ""},
		{"unix", "unix", "/run/x.sock", Addr{Network: "unix", Path: "/run/x.sock"}, ""},
		{"unix 107 bytes", "unix", "/" + strings.Repeat("a", 106), Addr{Network: "unix", Path: "/" + strings.Repeat("a", 106)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAddr(tt.network, tt.in)
			if err != nil {
				t.Fatalf("ParseAddr(%q, %q) error %v", tt.network, tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseAddr(%q, %q) = %+v, want %+v", tt.network, tt.in, got, tt.want)
			}
			want := tt.str
			if want == "" {
				want = tt.in
			}
			if s := got.String(); s != want {
				t.Errorf("String() = %q, want %q", s, want)
			}
			again, err := ParseAddr(tt.network, got.String())
			if err != nil || again != got {
				t.Errorf("ParseAddr(String()) = %+v, %v, want %+v", again, err, got)
			}
		})
	}
}

func TestParseAddrBad(t *testing.T) {
	tests := []struct {
		name, network, in, want string // want: substring of the error
	}{
		{"unknown network", "sctp", ":79", "unknown protocol"},
		{"empty", "tcp", "", "empty address"},
		{"no port", "tcp", "127.0.0.1", "missing port"},
		{"empty port", "tcp", "127.0.0.1:", "missing port"},
		{"named port", "tcp", ":finger", "not a number"},
		{"negative port", "tcp", ":-1", "not a number"},
		{"plus port", "tcp", ":+79", "not a number"},
		{"port too big", "tcp", ":65536", "out of range"},
		{"huge port", "tcp", ":99999999999999999999", "out of range"},
		{"host name", "tcp", "localhost:79", "never resolves names"},
		{"fqdn", "udp", "example.com:53", "never resolves names"},
		{"unbracketed v6", "tcp", "::1:79", "must be in brackets"},
		{"unbracketed zone", "tcp", "fe80::1%eth0:79", "must be in brackets"},
		{"bracketed v4", "tcp", "[127.0.0.1]:79", "in brackets"},
		{"v4-mapped", "tcp", "[::ffff:127.0.0.1]:79", "IPv4-mapped"},
		{"missing close bracket", "tcp", "[::1:79", "missing ]"},
		{"junk after bracket", "tcp", "[::1]x:79", "missing ]"},
		{"stray bracket", "tcp", "::1]:79", "misplaced brackets"},
		{"bad v4", "tcp", "1.2.3:79", "bad IPv4 address"},
		{"bad v4 octet", "tcp", "1.2.3.256:79", "bad IPv4 address"},
		{"bad v6", "tcp", "[1::2::3]:79", "bad IPv6 address"},
		{"empty zone", "tcp", "[fe80::1%]:79", "bad IPv6 address"},
		{"zone on global", "tcp", "[2001:db8::1%eth0]:79", "only meaningful for link-local"},
		{"zone on v4", "tcp", "127.0.0.1%lo:79", "zones are for IPv6"},
		{"zone too long", "tcp", "[fe80::1%abcdefghijklmnop]:79", "longer than an interface name"},
		{"zone with slash", "tcp", "[fe80::1%a/b]:79", "not an interface name"},
		{"zone with bracket", "tcp", "[fe80::1%a]b]:79", "not an interface name"},
		{"star", "tcp", "*:79", "wildcard host"},
		{"space", "tcp", " :79", "white space"},
		{"path for tcp", "tcp", "/run/x.sock", "only valid with protocol unix"},
		{"unix relative", "unix", "run/x.sock", "not an absolute path"},
		{"unix host port", "unix", "127.0.0.1:79", "host:port"},
		{"unix empty", "unix", "", "empty path"},
		{"unix too long", "unix", "/" + strings.Repeat("a", 107), "at most 107"},
		{"unix nul", "unix", "/run/a\x00b", "NUL"},
		{"unix dir", "unix", "/run/", "directory"},
		{"unix root", "unix", "/", "directory"},
		{"unix unclean", "unix", "/run//x.sock", "not clean"},
		{"unix dotdot", "unix", "/run/../x.sock", "not clean"},
		{"unix abstract", "unix", "@x", "not an absolute path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAddr(tt.network, tt.in)
			if err == nil {
				t.Fatalf("ParseAddr(%q, %q) = %+v, want error containing %q", tt.network, tt.in, got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseAddr(%q, %q) error = %q, want it to contain %q", tt.network, tt.in, err, tt.want)
			}
			if tt.network != "sctp" && !strings.Contains(err.Error(), tt.network) {
				t.Errorf("ParseAddr(%q, %q) error = %q, want it to name the protocol", tt.network, tt.in, err)
			}
		})
	}
}

func TestClashes(t *testing.T) {
	p := func(network, s string) Addr {
		t.Helper()
		a, err := ParseAddr(network, s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	tests := []struct {
		name string
		a, b Addr
		want bool
	}{
		{"dual stack covers v4", p("tcp", ":79"), p("tcp", "127.0.0.1:79"), true},
		{"dual stack covers v6", p("tcp", ":79"), p("tcp", "[::1]:79"), true},
		{"dual stack twice", p("tcp", ":79"), p("tcp", ":79"), true},
		{"dual stack covers 0.0.0.0", p("tcp", ":79"), p("tcp", "0.0.0.0:79"), true},
		{"v4 any covers v4", p("tcp", "0.0.0.0:79"), p("tcp", "127.0.0.1:79"), true},
		{"v6 any covers v6", p("tcp", "[::]:79"), p("tcp", "[::1]:79"), true},
		{"v6 any and v4 any", p("tcp", "[::]:79"), p("tcp", "0.0.0.0:79"), false},
		{"v6 any and v4", p("tcp", "[::]:79"), p("tcp", "127.0.0.1:79"), false},
		{"same v4", p("udp", "127.0.0.1:79"), p("udp", "127.0.0.1:79"), true},
		{"different v4", p("tcp", "127.0.0.1:79"), p("tcp", "127.0.0.2:79"), false},
		{"different port", p("tcp", ":79"), p("tcp", ":80"), false},
		{"different network", p("tcp", ":79"), p("udp", ":79"), false},
		{"port 0", p("tcp", ":0"), p("tcp", ":0"), false},
		{"port 0 specific", p("tcp", "127.0.0.1:0"), p("tcp", "127.0.0.1:0"), false},
		{"zone same", p("tcp", "[fe80::1%eth0]:79"), p("tcp", "[fe80::1%eth0]:79"), true},
		{"zone and none", p("tcp", "[fe80::1%eth0]:79"), p("tcp", "[fe80::1]:79"), true},
		{"zones differ", p("tcp", "[fe80::1%eth0]:79"), p("tcp", "[fe80::1%eth1]:79"), false},
		{"unix same", p("unix", "/run/a"), p("unix", "/run/a"), true},
		{"unix different", p("unix", "/run/a"), p("unix", "/run/b"), false},
		{"unix and tcp", p("unix", "/run/a"), p("tcp", ":79"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Clashes(tt.b); got != tt.want {
				t.Errorf("%v.Clashes(%v) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
			if got := tt.b.Clashes(tt.a); got != tt.want {
				t.Errorf("%v.Clashes(%v) = %v, want %v (symmetry)", tt.b, tt.a, got, tt.want)
			}
		})
	}
}

func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1:79", "[::1]:79", ":79", "[fe80::1%eth0]:79", "/run/x.sock",
		"localhost:79", "::1:79", "[::ffff:1.2.3.4]:1", ":65536", "*:1", "", "[", "]:", "/a//b",
	} {
		f.Add("tcp", s)
		f.Add("unix", s)
	}
	f.Fuzz(func(t *testing.T, network, s string) {
		a, err := ParseAddr(network, s)
		if err != nil {
			return
		}
		if a.Network != network {
			t.Fatalf("ParseAddr(%q, %q).Network = %q", network, s, a.Network)
		}
		// The canonical form parses back to the same Addr.
		b, err := ParseAddr(network, a.String())
		if err != nil {
			t.Fatalf("ParseAddr(%q, %q) ok, but its String %q fails: %v", network, s, a.String(), err)
		}
		if a != b {
			t.Fatalf("round trip of %q: %+v != %+v", s, a, b)
		}
		if network == "unix" {
			if len(a.Path) > MaxUnixPath || a.Path[0] != '/' {
				t.Fatalf("ParseAddr(unix, %q) accepted a bad path", s)
			}
			return
		}
		if a.DualStack == a.IP.IsValid() {
			t.Fatalf("ParseAddr(%q, %q) = %+v: exactly one of DualStack and IP", network, s, a)
		}
		if a.IP.Is4In6() {
			t.Fatalf("ParseAddr(%q, %q) accepted a v4-mapped address", network, s)
		}
		if a.Port != 0 && !a.Clashes(a) {
			t.Fatalf("%v does not clash with itself", a)
		}
	})
}
