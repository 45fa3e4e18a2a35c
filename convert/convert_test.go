package convert

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"golang.org/x/text/unicode/norm"
)

func TestParseServices(t *testing.T) {
	s := ParseServices([]byte("# c\nfinger 79/tcp\nchargen 19/tcp ttytst source # x\nchargen 19/udp\nbad x/tcp\nnoproto 5\nfinger 80/tcp\n"))
	for _, tc := range []struct {
		name, proto string
		want        int
		ok          bool
	}{
		{"finger", "tcp", 79, true},
		{"source", "tcp", 19, true},
		{"chargen", "udp", 19, true},
		{"finger", "udp", 0, false},
		{"bad", "tcp", 0, false},
		{"noproto", "tcp", 0, false},
	} {
		if got, ok := s.LookupPort(tc.name, tc.proto); got != tc.want || ok != tc.ok {
			t.Errorf("LookupPort(%s, %s) = %d, %v, want %d, %v", tc.name, tc.proto, got, ok, tc.want, tc.ok)
		}
	}
	var zero *Services
	if _, ok := zero.LookupPort("x", "tcp"); ok {
		t.Errorf("nil Services found a port")
	}
}

// evalString parses an HCL string literal and returns its value.
func evalString(t *testing.T, lit string) string {
	t.Helper()
	e, diags := hclsyntax.ParseExpression([]byte(lit), "x", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parse %s: %v", lit, diags)
	}
	v, diags := e.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("eval %s: %v", lit, diags)
	}
	return v.AsString()
}

func TestQuote(t *testing.T) {
	for _, s := range []string{
		"", "plain", `"quoted"`, `back\slash`, "${x}", "%{if}", "$${x}", "%%{x}", "$$", "$", "a$", "%",
		"line\nbreak\r\n", "tab\t", "nul\x00", "\x7f", "ünïcödé", "\u2028", "\u0085", "${", "}",
	} {
		q := quote(s)
		if got := evalString(t, q); got != norm.NFC.String(s) {
			t.Errorf("quote(%q) = %s, which reads back as %q", s, q, got)
		}
		if strings.ContainsAny(q, "\n\r") {
			t.Errorf("quote(%q) = %q holds a line break", s, q)
		}
	}
}

func TestXinetdAddr(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		bad  bool
	}{
		{"0.0.0.0", []string{"0.0.0.0/0", "::/0"}, false},
		{"0.0.0.0/0", []string{"0.0.0.0/0"}, false},
		{"128.138.12.0", []string{"128.138.12.0/24"}, false},
		{"10.1.0.0", []string{"10.1.0.0/16"}, false},
		{"10.0.0.0", []string{"10.0.0.0/8"}, false},
		{"10.0.0.1", []string{"10.0.0.1/32"}, false},
		{"1.2.3.4/24", []string{"1.2.3.0/24"}, false},
		{"128.138.{1,2}", []string{"128.138.1.0/24", "128.138.2.0/24"}, false},
		{"128.138.9.{1, 2}", []string{"128.138.9.1/32", "128.138.9.2/32"}, false},
		{"2001:db8::1", []string{"2001:db8::1/128"}, false},
		{"2001:db8::/32", []string{"2001:db8::/32"}, false},
		{"2001:db8::", []string{"2001:db8::/128"}, false}, // no zero rule for IPv6
		{"::ffff:192.0.2.1", []string{"192.0.2.1/32"}, false},
		{"::ffff:192.0.2.0/120", []string{"192.0.2.0/24"}, false},
		{"fe80::1%eth0", nil, true},
		{"host.example.com", nil, true},
		{".example.com", nil, true},
		{"1.2.{3", nil, true},
		{"1.2.3.4.{5}", nil, true},
		{"1.2.{300}", nil, true},
		{"{1,2}", nil, true},
	} {
		got, err := xinetdAddr(tc.in)
		if (err != nil) != tc.bad || !slices.Equal(got, tc.want) {
			t.Errorf("xinetdAddr(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestTimeWindow(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"2:00-9:00", "02:00-09:00"},
		{"12:00-24:00", "12:00-23:59"},
		{"22:30-6:15", "22:30-06:15"},
		{"0:00-23:59", "00:00-23:59"},
		{"9:00-9:00", ""},
		{"24:00-1:00", ""},
		{"25:00-1:00", ""},
		{"1:5-2:00", ""},
		{"1:60-2:00", ""},
		{"nonsense", ""},
		{"1:00", ""},
	} {
		got, err := timeWindow(tc.in)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("timeWindow(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestListenAddr(t *testing.T) {
	for _, tc := range []struct {
		host, family, want string
	}{
		{"", "4", "0.0.0.0:79"},
		{"", "6", "[::]:79"},
		{"", "46", ":79"},
		{"*", "4", "0.0.0.0:79"},
		{"127.0.0.1", "4", "127.0.0.1:79"},
		{"::1", "6", "[::1]:79"},
		{"[::1]", "46", "[::1]:79"},
		{"::", "46", ":79"},
		{"fe80::1%eth0", "6", "[fe80::1%eth0]:79"},
		{"::ffff:127.0.0.1", "4", "127.0.0.1:79"},
		{"127.0.0.1", "6", ""},
		{"::1", "4", ""},
		{"localhost", "4", ""},
	} {
		got, err := listenAddr(tc.host, 79, tc.family)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("listenAddr(%q, 79, %s) = %q, %v; want %q", tc.host, tc.family, got, err, tc.want)
		}
	}
}

func TestInetdWait(t *testing.T) {
	for _, tc := range []struct {
		in    string
		wait  bool
		attrs []attr
		bad   bool
	}{
		{"wait", true, nil, false},
		{"nowait", false, nil, false},
		{"nowait.400", false, []attr{{"rate", `"400/m"`}}, false},
		{"wait.10", true, []attr{{"rate", `"10/m"`}}, false},
		{"nowait.0", false, nil, false},
		{"nowait/20/10/2", false, []attr{{"instances", "20"}, {"per_source_rate", `"10/m"`}, {"per_source", "2"}}, false},
		{"nowait/5", false, []attr{{"instances", "5"}}, false},
		{"nowait/1/2/3/4", false, nil, true},
		{"nowait.x", false, nil, true},
		{"sometimes", false, nil, true},
		{"nowait.-1", false, nil, true},
	} {
		w, attrs, err := inetdWait(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && (w != tc.wait || !slices.Equal(attrs, tc.attrs))) {
			t.Errorf("inetdWait(%q) = %v, %v, %v; want %v, %v, error %v", tc.in, w, attrs, err, tc.wait, tc.attrs, tc.bad)
		}
	}
}

func TestInetdUser(t *testing.T) {
	for _, tc := range []struct{ in, user, group string }{
		{"root", "root", ""},
		{"nobody.tty", "nobody", "tty"},
		{"mail:mail", "mail", "mail"},
		{"www/daemon", "www", ""},
		{"a:b/class", "a", "b"},
	} {
		if u, g := inetdUser(tc.in); u != tc.user || g != tc.group {
			t.Errorf("inetdUser(%q) = %q, %q; want %q, %q", tc.in, u, g, tc.user, tc.group)
		}
	}
}

func TestSanitizeLabel(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"echo", "echo"},
		{"Echo-Stream", "echo-stream"},
		{"myorg_server", "myorg_server"},
		{"-x.y", "x-y"},
		{"___", "service"},
		{"", "service"},
		{strings.Repeat("a", 70), strings.Repeat("a", 64)},
		{"sample.sock", "sample-sock"},
	} {
		if got := sanitizeLabel(tc.in); got != tc.want {
			t.Errorf("sanitizeLabel(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := joinLabel(strings.Repeat("b", 64), "dgram"); len(got) != 64 || !strings.HasSuffix(got, "-dgram") {
		t.Errorf("joinLabel(64 b, dgram) = %q", got)
	}
}

func TestParseXattr(t *testing.T) {
	for _, tc := range []struct {
		in, name, op string
		vals         []string
		ok           bool
	}{
		{"socket_type = stream", "socket_type", "=", []string{"stream"}, true},
		{"only_from += 1.2.3.4 5.6.7.8", "only_from", "+=", []string{"1.2.3.4", "5.6.7.8"}, true},
		{"no_access-=10.0.0.0", "no_access", "-=", []string{"10.0.0.0"}, true},
		{"env = A=B C=D", "env", "=", []string{"A=B", "C=D"}, true},
		{"only_from =", "only_from", "=", nil, true},
		{"= x", "", "", nil, false},
		{"two words = x", "", "", nil, false},
		{"noop", "", "", nil, false},
	} {
		a, ok := parseXattr(tc.in)
		if ok != tc.ok || ok && (a.name != tc.name || a.op != tc.op || !slices.Equal(a.values, tc.vals)) {
			t.Errorf("parseXattr(%q) = %+v, %v", tc.in, a, ok)
		}
	}
}

// xinetdOne translates one in-memory file.
func xinetdOne(t *testing.T, text string, fsys fstest.MapFS) Result {
	t.Helper()
	o := Options{Services: ParseServices([]byte("finger 79/tcp\necho 7/tcp\necho 7/udp\n"))}
	if fsys != nil {
		o.FS = fsys
	}
	r := Xinetd([]Source{{Name: "/etc/xinetd.conf", Data: []byte(text)}}, o)
	checkHCL(t, r.HCL)
	return r
}

func TestXinetdOperators(t *testing.T) {
	r := xinetdOne(t, `
defaults
{
	only_from = 10.0.0.0 192.0.2.1
	only_from = 192.0.2.2
	no_access = 10.1.0.0
}
service finger
{
	socket_type = stream
	wait = no
	user = nobody
	server = /usr/sbin/in.fingerd
	only_from -= 192.0.2.1
	only_from += 192.0.2.3
}
service echo
{
	type = INTERNAL
	socket_type = stream
	only_from = 127.0.0.1
	no_access = 
}
`, nil)
	out := string(r.HCL)
	for _, want := range []string{
		`allow = ["10.0.0.0/8", "192.0.2.1/32", "192.0.2.2/32"]`, // defaults, = is cumulative
		`allow = ["10.0.0.0/8", "192.0.2.2/32", "192.0.2.3/32"]`, // finger: -= and += start from the defaults
		`allow = ["127.0.0.1/32"]`, `deny  = []`,                 // echo: = replaces
		`deny  = ["10.1.0.0/16"]`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	if !r.Complete {
		t.Errorf("Complete = false, warnings %v", r.Warnings)
	}
}

func TestXinetdSyntaxErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text, warning string
	}{
		{"no brace", "service finger\nsocket_type = stream\n", `expected "{"`},
		{"unterminated", "service finger\n{\nsocket_type = stream\n", "not closed"},
		{"junk", "hello world\n", "unknown line"},
		{"bad attribute", "service finger\n{\nbroken\n}\n", "cannot parse"},
		{"nameless", "service\n{\n}\n", "without a name"},
		{"include loop", "include /etc/xinetd.conf\n", ""},
		{"include missing", "include /etc/nope\n", "include /etc/nope"},
		{"includedir missing", "includedir /etc/nope\n", "includedir /etc/nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{"etc/xinetd.conf": {Data: []byte(tc.text)}}
			r := xinetdOne(t, tc.text, fsys)
			if tc.warning == "" {
				if !r.Complete {
					t.Errorf("warnings %v, want none", r.Warnings)
				}
				return
			}
			if r.Complete || !strings.Contains(warningsText(r), tc.warning) {
				t.Errorf("warnings %v, want one containing %q", r.Warnings, tc.warning)
			}
		})
	}
}

func TestXinetdIncludeDepth(t *testing.T) {
	fsys := fstest.MapFS{}
	for i := 0; i < 20; i++ {
		fsys["etc/x"+itoa(i)] = &fstest.MapFile{Data: []byte("include /etc/x" + itoa(i+1) + "\n")}
	}
	r := xinetdOne(t, "include /etc/x0\n", fsys)
	if r.Complete || !strings.Contains(warningsText(r), "nested too deep") {
		t.Errorf("warnings %v, want nested too deep", r.Warnings)
	}
}

func TestXinetdBannerFail(t *testing.T) {
	text := "service finger\n{\nsocket_type = stream\nwait = no\nuser = nobody\nserver = /bin/true\nbanner_fail = /b\n}\n"
	for _, tc := range []struct {
		name, banner, want string
	}{
		{"ok", "go away\r\n", `deny_message = "go away\r\n"`},
		{"too long", strings.Repeat("x", 513), "superd sends at most 512"},
		{"binary", "\xff\xfe", "not UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := xinetdOne(t, text, fstest.MapFS{"b": {Data: []byte(tc.banner)}})
			if !strings.Contains(string(r.HCL), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, r.HCL)
			}
		})
	}
}

func TestXinetdListen(t *testing.T) {
	for _, tc := range []struct {
		attrs, want string
	}{
		{"", `listen   = ["0.0.0.0:79"]`},
		{"flags = IPv6", `listen   = [":79"]`},
		{"flags = IPv6\nv6only = yes", `listen   = ["[::]:79"]`},
		{"flags = IPv4", `listen   = ["0.0.0.0:79"]`},
		{"bind = 192.0.2.1", `listen   = ["192.0.2.1:79"]`},
		{"interface = 2001:db8::1", `listen   = ["[2001:db8::1]:79"]`},
		{"bind = ::", `listen   = [":79"]`},
		{"port = 7979", `listen   = ["0.0.0.0:7979"]`},
	} {
		text := "service finger\n{\nsocket_type = stream\nwait = no\nuser = nobody\nserver = /bin/true\n" + tc.attrs + "\n}\n"
		r := xinetdOne(t, text, nil)
		if !strings.Contains(string(r.HCL), tc.want) || !r.Complete {
			t.Errorf("%q: output lacks %q or is incomplete (%v):\n%s", tc.attrs, tc.want, r.Warnings, r.HCL)
		}
	}
}

func TestInetdNoServices(t *testing.T) {
	r := Inetd(Source{Name: "inetd.conf", Data: []byte("7 stream tcp nowait root internal\nfinger stream tcp nowait nobody /bin/true finger\n")}, Options{})
	checkHCL(t, r.HCL)
	if strings.Contains(string(r.HCL), "builtin  =") {
		t.Errorf("service 7 became a builtin: builtins are named by the service field:\n%s", r.HCL)
	}
	if r.Complete || !strings.Contains(warningsText(r), "finger/tcp is not in the services list") {
		t.Errorf("warnings %v", r.Warnings)
	}
}

func TestWarningString(t *testing.T) {
	for _, tc := range []struct {
		w    Warning
		want string
	}{
		{Warning{"f", 3, "m"}, "f:3: m"},
		{Warning{"f", 0, "m"}, "f: m"},
	} {
		if got := tc.w.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.w, got, tc.want)
		}
	}
}

// TestXinetdFileErrorsNameTheirPath checks that a file superd could not
// read is named as the configuration names it, leading "/" and all.
func TestXinetdFileErrorsNameTheirPath(t *testing.T) {
	r := xinetdOne(t, `
include /etc/xinetd.extra
service finger
{
	socket_type = stream
	wait = no
	user = nobody
	server = /usr/sbin/in.fingerd
	banner_fail = /etc/fail.txt
}
`, fstest.MapFS{})
	var got []string
	for _, w := range r.Warnings {
		got = append(got, w.String())
	}
	for _, want := range []string{"open /etc/xinetd.extra: file does not exist", "open /etc/fail.txt: file does not exist"} {
		if !strings.Contains(strings.Join(got, "\n"), want) {
			t.Errorf("warnings %q, want one containing %q", got, want)
		}
	}
	if r.Complete {
		t.Error("Complete = true with an unreadable banner_fail")
	}
}

// TestXinetdRedirectLeftOut checks that a redirect beside a server is
// reported as left out: the translation is not whole.
func TestXinetdRedirectLeftOut(t *testing.T) {
	r := xinetdOne(t, `
service finger
{
	socket_type = stream
	wait = no
	user = nobody
	server = /usr/sbin/in.fingerd
	redirect = 192.0.2.1 79
}
`, nil)
	if r.Complete || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0].Msg, "redirect 192.0.2.1 79 left out") {
		t.Errorf("Complete = %v, warnings %v; want the redirect left out", r.Complete, r.Warnings)
	}
	if !strings.Contains(string(r.HCL), "# superd: redirect 192.0.2.1 79 left out") {
		t.Errorf("output lacks the # superd: comment:\n%s", r.HCL)
	}
}

// TestClashingServicesLeftOut checks that a service listening where an
// earlier one does is left out and said so: superd would refuse both.
func TestClashingServicesLeftOut(t *testing.T) {
	r := Inetd(Source{Name: "/etc/inetd.conf", Data: []byte(
		"7001 stream tcp nowait nobody /bin/cat cat\n" +
			"7001 stream tcp nowait nobody /bin/cat cat\n" +
			"7001 dgram udp wait nobody /bin/cat cat\n" +
			"127.0.0.1:7002 stream tcp nowait nobody /bin/cat cat\n" +
			"7002 stream tcp nowait nobody /bin/cat cat\n")}, Options{})
	checkHCL(t, r.HCL)
	out := string(r.HCL)
	if n := strings.Count(out, "service \""); n != 3 {
		t.Errorf("%d services, want 3 (tcp and udp 7001, 127.0.0.1:7002):\n%s", n, out)
	}
	var got []string
	for _, w := range r.Warnings {
		got = append(got, w.String())
	}
	want := []string{
		"/etc/inetd.conf:2: service 7001 left out: it listens on tcp 0.0.0.0:7001, where the service at /etc/inetd.conf:1 does",
		"/etc/inetd.conf:5: service 7002 left out: it listens on tcp 0.0.0.0:7002, where the service at /etc/inetd.conf:4 does",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || r.Complete {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(out, "# superd: /etc/inetd.conf:2: service 7001 left out") {
		t.Errorf("no # superd: comment for the left-out service:\n%s", out)
	}
}

func TestListenClash(t *testing.T) {
	for _, tc := range []struct {
		p1, l1, p2, l2 string
		want           bool
	}{
		{"tcp", ":79", "tcp", "127.0.0.1:79", true},
		{"tcp", "0.0.0.0:79", "tcp", "127.0.0.1:79", true},
		{"tcp", "[::]:79", "tcp", "[::1]:79", true},
		{"tcp", "[::]:79", "tcp", "0.0.0.0:79", false},
		{"tcp", "127.0.0.1:79", "tcp", "127.0.0.2:79", false},
		{"tcp", "127.0.0.1:79", "udp", "127.0.0.1:79", false},
		{"tcp", "127.0.0.1:79", "tcp", "127.0.0.1:80", false},
		{"unix", "/run/a.sock", "unix", "/run/a.sock", true},
		{"unix", "/run/a.sock", "unix", "/run/b.sock", false},
	} {
		if got := listenClash(tc.p1, tc.l1, tc.p2, tc.l2); got != tc.want {
			t.Errorf("listenClash(%s %s, %s %s) = %v, want %v", tc.p1, tc.l1, tc.p2, tc.l2, got, tc.want)
		}
	}
}

// TestWarningsPrintable checks that input text reaches stderr without its
// control characters (no terminal escapes from a hostile file).
func TestWarningsPrintable(t *testing.T) {
	r := Inetd(Source{Name: "/etc/inetd.conf", Data: []byte("foo\x1b[2J stream tcp nowait nobody /bin/cat cat\n")}, Options{})
	if len(r.Warnings) == 0 {
		t.Fatal("no warning for an unknown service name")
	}
	for _, w := range r.Warnings {
		if s := w.String(); strings.ContainsAny(s, "\x1b\x00\n\r") {
			t.Errorf("warning %q holds control characters", s)
		}
	}
}

// TestXinetdGroupsDefault checks that a server gets no supplementary
// groups unless xinetd's groups = yes says so (xinetd's own default).
func TestXinetdGroupsDefault(t *testing.T) {
	r := xinetdOne(t, `
service finger
{
	socket_type = stream
	wait = no
	user = nobody
	server = /usr/sbin/in.fingerd
}
service echo
{
	type = INTERNAL
	socket_type = stream
}
`, nil)
	if out := string(r.HCL); strings.Count(out, "groups   = false") != 1 {
		t.Errorf("want groups = false for finger only (not the builtin):\n%s", out)
	}
}
