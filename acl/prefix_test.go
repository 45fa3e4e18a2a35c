package acl

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParsePrefix(t *testing.T) {
	good := []struct {
		name, in, want string
	}{
		{"v4 address", "127.0.0.1", "127.0.0.1/32"},
		{"v4 cidr", "10.0.0.0/8", "10.0.0.0/8"},
		{"v4 non-canonical cidr is masked", "10.1.2.3/8", "10.0.0.0/8"},
		{"v4 all", "0.0.0.0/0", "0.0.0.0/0"},
		{"v4 /32", "192.0.2.7/32", "192.0.2.7/32"},
		{"v6 address", "::1", "::1/128"},
		{"v6 cidr", "2001:db8::/32", "2001:db8::/32"},
		{"v6 non-canonical cidr is masked", "2001:db8:1:2::5/48", "2001:db8:1::/48"},
		{"v6 all", "::/0", "::/0"},
		{"v6 upper case", "2001:DB8::1", "2001:db8::1/128"},
		{"v6 link-local without zone", "fe80::1/64", "fe80::/64"},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePrefix(tc.in)
			if err != nil {
				t.Fatalf("ParsePrefix(%q) error %v, want %s", tc.in, err, tc.want)
			}
			if got.String() != tc.want {
				t.Errorf("ParsePrefix(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}

	bad := []struct {
		name, in, wantErr string
	}{
		{"empty", "", "empty"},
		{"host name", "example.com", "host names are not allowed"},
		{"single label host", "localhost", "host names are not allowed"},
		{"host name with bits", "example.com/24", "host names are not allowed"},
		{"v4-mapped address", "::ffff:10.0.0.1", "write 10.0.0.1"},
		{"v4-mapped cidr", "::ffff:10.0.0.0/104", "write 10.0.0.0/8"},
		{"v4-mapped wide cidr", "::ffff:0:0/96", "write 0.0.0.0/0"},
		{"v4-mapped short cidr", "::ffff:0:0/95", "IPv4-mapped"},
		{"zone", "fe80::1%eth0", "zones are not allowed"},
		{"zone with bits", "fe80::1%eth0/64", "zones are not allowed"},
		{"v4 bits too long", "10.0.0.0/33", "out of range 0-32"},
		{"v6 bits too long", "::/129", "out of range 0-128"},
		{"huge bits", "::/99999", "out of range"},
		{"negative bits", "10.0.0.0/-1", "invalid prefix length"},
		{"plus bits", "10.0.0.0/+8", "invalid prefix length"},
		{"missing bits", "10.0.0.0/", "missing prefix length"},
		{"two slashes", "10.0.0.0/8/8", "invalid prefix length"},
		{"short v4", "10.1.2", "10.1.2"},
		{"octal-looking v4", "010.0.0.1", "010.0.0.1"},
		{"space", " 10.0.0.1", "10.0.0.1"},
		{"port", "10.0.0.1:80", "10.0.0.1:80"},
		{"bracketed v6", "[::1]", "[::1]"},
		{"garbage", "!!", "!!"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePrefix(tc.in)
			if err == nil {
				t.Fatalf("ParsePrefix(%q) = %s, want error containing %q", tc.in, got, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParsePrefix(%q) error %q, want it to contain %q", tc.in, err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), quoteForError(tc.in)) {
				t.Errorf("ParsePrefix(%q) error %q does not name the input", tc.in, err)
			}
		})
	}
}

func quoteForError(s string) string {
	return `"` + s + `"`
}

func TestParsePrefixRoundTrip(t *testing.T) {
	for _, s := range []string{"10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32", "::1/128", "::/0"} {
		p, err := ParsePrefix(s)
		if err != nil {
			t.Fatalf("ParsePrefix(%q): %v", s, err)
		}
		if p != netip.MustParsePrefix(s) {
			t.Errorf("ParsePrefix(%q) = %v, want %v", s, p, netip.MustParsePrefix(s))
		}
	}
}
