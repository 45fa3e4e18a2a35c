package builtin

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

// ring is the 95 printable ASCII characters, built independently of chargen.go.
func ring() string {
	var b []byte
	for c := byte(0x20); c <= 0x7e; c++ {
		b = append(b, c)
	}
	return string(b)
}

// wantChargen returns lines first..first+n-1 of the RFC 864 pattern.
func wantChargen(first, n int) []byte {
	r := ring() + ring()
	var b bytes.Buffer
	for i := first; i < first+n; i++ {
		s := i % 95
		b.WriteString(r[s : s+72])
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"echo", true}, {"discard", true}, {"daytime", true}, {"time", true}, {"chargen", true},
		{"", false}, {"Echo", false}, {"qotd", false}, {"tcpmux", false},
	} {
		if got := Valid(tc.name); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestChargenFirstLine(t *testing.T) {
	const first = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n"
	if got := string(appendChargenLine(nil, 0)); got != first {
		t.Errorf("line 0 = %q, want %q", got, first)
	}
	if got, want := chargenPattern(), wantChargen(0, 95); !bytes.Equal(got, want) {
		t.Errorf("chargenPattern() differs from the RFC 864 rotation")
	}
	// Line 95 is line 0 again.
	if got, want := appendChargenLine(nil, 95), appendChargenLine(nil, 0); !bytes.Equal(got, want) {
		t.Errorf("line 95 = %q, want %q", got, want)
	}
}

func TestRFC868(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    time.Time
		want uint32
	}{
		{"unix epoch", time.Unix(0, 0), 2208988800},
		{"1900", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{"rfc 868 example 1976", time.Date(1976, 1, 1, 0, 0, 0, 0, time.UTC), 2398291200},
		{"wrap 2036", time.Date(2036, 2, 7, 6, 28, 16, 0, time.UTC), 0},
		{"after wrap", time.Date(2036, 2, 7, 6, 28, 17, 0, time.UTC), 1},
		{"before 1900", time.Date(1899, 12, 31, 23, 59, 59, 0, time.UTC), 1<<32 - 1},
	} {
		if got := RFC868(tc.t); got != tc.want {
			t.Errorf("%s: RFC868(%v) = %d, want %d", tc.name, tc.t, got, tc.want)
		}
	}
}

func TestReply(t *testing.T) {
	now := time.Date(2024, 3, 5, 7, 8, 9, 0, time.UTC)
	loc := time.FixedZone("X", 2*3600)
	tbuf := binary.BigEndian.AppendUint32(nil, uint32(now.Unix()+2208988800))
	for _, tc := range []struct {
		name, builtin string
		req           string
		want          []byte
	}{
		{"echo", "echo", "hello\x00world", []byte("hello\x00world")},
		{"echo empty", "echo", "", []byte{}},
		{"discard", "discard", "anything", nil},
		{"daytime", "daytime", "ignored", []byte("Tue Mar  5 09:08:09 2024\r\n")},
		{"time", "time", "ignored", tbuf},
		{"chargen", "chargen", "x", wantChargen(0, 1)},
		{"unknown", "qotd", "x", nil},
	} {
		got := Reply(tc.builtin, []byte(tc.req), now, loc, make([]byte, 0, 512))
		if !bytes.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("%s: Reply(%q, %q) = %q, want %q", tc.name, tc.builtin, tc.req, got, tc.want)
		}
	}
}

func TestReplyNilLocation(t *testing.T) {
	now := time.Now()
	got := string(Reply("daytime", nil, now, nil, nil))
	if want := now.In(time.Local).Format(DaytimeLayout) + "\r\n"; got != want {
		t.Errorf("Reply(daytime, loc nil) = %q, want %q", got, want)
	}
}

func TestReplyNoAllocWithBuffer(t *testing.T) {
	buf := make([]byte, 0, 1024)
	req := []byte("ping")
	now := time.Now()
	for _, name := range []string{"echo", "time", "chargen", "daytime"} {
		if n := testing.AllocsPerRun(100, func() { Reply(name, req, now, time.UTC, buf) }); n != 0 {
			t.Errorf("Reply(%s) allocates %v times with a large enough buffer", name, n)
		}
	}
}

func TestAllowedSource(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want bool
	}{
		{"127.0.0.1:1024", true},
		{"192.0.2.7:40000", true},
		{"[2001:db8::1]:5000", true},
		{"[::1]:5000", true},
		{"192.0.2.7:1023", false},
		{"192.0.2.7:7", false},
		{"192.0.2.7:19", false},
		{"192.0.2.7:0", false},
		{"0.0.0.0:5000", false},
		{"0.1.2.3:5000", false},
		{"[::]:5000", false},
		{"255.255.255.255:5000", false},
		{"224.0.0.1:5000", false},
		{"239.255.255.250:5000", false},
		{"[ff02::1]:5000", false},
		{"[::ffff:255.255.255.255]:5000", false},
		{"[::ffff:224.0.0.1]:5000", false},
		{"[::ffff:0.0.0.0]:5000", false},
		{"[::ffff:192.0.2.7]:5000", true},
		{"[::ffff:192.0.2.7]:53", false},
		{"192.0.2.255:5000", true}, // a directed broadcast is not knowable here
	} {
		ap := netip.MustParseAddrPort(tc.src)
		if got := AllowedSource(ap); got != tc.want {
			t.Errorf("AllowedSource(%s) = %v, want %v", tc.src, got, tc.want)
		}
	}
	if AllowedSource(netip.AddrPort{}) {
		t.Errorf("AllowedSource(zero) = true, want false")
	}
}

func FuzzReply(f *testing.F) {
	for _, name := range []string{"echo", "discard", "daytime", "time", "chargen", "x"} {
		f.Add(name, []byte("hello"), int64(1700000000))
	}
	f.Add("echo", []byte{}, int64(-1))
	f.Add("time", []byte{0xff}, int64(1<<40))
	f.Fuzz(func(t *testing.T, name string, req []byte, sec int64) {
		now := time.Unix(sec, 0)
		buf := make([]byte, 3, 600)
		got := Reply(name, req, now, time.UTC, buf)
		switch name {
		case Echo:
			if !bytes.Equal(got, req) {
				t.Fatalf("Reply(echo, %q) = %q", req, got)
			}
		case Discard:
			if got != nil {
				t.Fatalf("Reply(discard) = %q, want nil", got)
			}
		case Daytime:
			if len(got) < 26 || !bytes.HasSuffix(got, []byte("\r\n")) {
				t.Fatalf("Reply(daytime) = %q", got)
			}
		case Time:
			if len(got) != 4 || binary.BigEndian.Uint32(got) != RFC868(now) {
				t.Fatalf("Reply(time) = %x", got)
			}
		case Chargen:
			if len(got) != 74 || len(got) > 512 {
				t.Fatalf("Reply(chargen) has %d bytes", len(got))
			}
		default:
			if got != nil {
				t.Fatalf("Reply(%q) = %q, want nil", name, got)
			}
		}
	})
}
