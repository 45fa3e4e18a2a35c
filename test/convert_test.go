package test

import (
	"encoding/binary"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// copyTemplate copies the tree testdata/convert/NAME to dst, replacing
// each key of repl by its value in every file.
func copyTemplate(t *testing.T, name, dst string, repl map[string]string) {
	t.Helper()
	src := filepath.Join("testdata", "convert", name)
	var pairs []string
	for k, v := range repl {
		pairs = append(pairs, k, v)
	}
	r := strings.NewReplacer(pairs...)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, []byte(r.Replace(string(b))), 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

// warningRE is one line convert writes on stderr.
var warningRE = regexp.MustCompile(`^warning: (.+):(\d+): (.+)$`)

// warnings parses convert's stderr into "FILE:LINE" -> message, failing
// on any other line.
func warnings(t *testing.T, stderr string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		if l == "" {
			continue
		}
		w := warningRE.FindStringSubmatch(l)
		if w == nil {
			t.Errorf("convert stderr line %q is not \"warning: FILE:LINE: message\"", l)
			continue
		}
		m[w[1]+":"+w[2]] = w[3]
	}
	return m
}

var daytimeRE = regexp.MustCompile(`^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 123]\d \d\d:\d\d:\d\d \d{4}\r\n$`)

// catFrom talks to a /bin/cat service from src.
func catFrom(t *testing.T, src, addr, msg string) string {
	t.Helper()
	c := dialSrc(t, src, addr)
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write %s: %v", addr, err)
	}
	c.CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read %s: %v (got %q)", addr, err, b)
	}
	return string(b)
}

// TestConvertXinetd converts a Debian-like xinetd configuration, runs the
// result and talks to the converted services.
func TestConvertXinetd(t *testing.T) {
	t.Parallel()
	names := []string{"ECHO", "DAYTIME", "TIME", "CHARGEN", "DISCARD", "CAT", "LOCAL", "OFF", "REDIR"}
	ports := map[string]string{}
	etc := t.TempDir()
	repl := map[string]string{"@ETC@": etc}
	for i, p := range pickPorts(t, len(names)) {
		ports[names[i]] = strconv.Itoa(p)
		repl["@P_"+names[i]+"@"] = strconv.Itoa(p)
	}
	copyTemplate(t, "xinetd", etc, repl)
	at := func(name string) string { return "127.0.0.1:" + ports[name] }

	stdout, stderr, code := runSuperd(t, 20*time.Second, "convert", "xinetd", filepath.Join(etc, "xinetd.conf"))
	if code != 1 {
		t.Errorf("convert with a redirect service: exit code %d, want 1", code)
	}
	// What was left out: a comment in the output and a warning with file
	// and line on stderr.
	proxy := filepath.Join(etc, "xinetd.d", "webproxy")
	proxyText, _ := os.ReadFile(proxy)
	cat := filepath.Join(etc, "xinetd.d", "mycat")
	catText, _ := os.ReadFile(cat)
	ws := warnings(t, stderr)
	wantWarn := map[string]string{
		proxy + ":" + strconv.Itoa(lineOf(string(proxyText), "service webproxy")): "redirect",
		cat + ":" + strconv.Itoa(lineOf(string(catText), "USERID")):               "USERID",
	}
	for where, what := range wantWarn {
		if !strings.Contains(ws[where], what) {
			t.Errorf("no warning about %s at %s; warnings: %q", what, where, ws)
		}
	}
	if len(ws) != len(wantWarn) {
		t.Errorf("warnings %q, want only those about %v", ws, wantWarn)
	}
	commentRE := regexp.MustCompile(`(?m)^\s*# superd: .*webproxy.*redirect`)
	if !commentRE.MatchString(stdout) {
		t.Errorf("no \"# superd:\" comment for the redirect service in the output")
	}
	if !regexp.MustCompile(`(?m)^\s*# superd: .*USERID`).MatchString(stdout) {
		t.Errorf("no \"# superd:\" comment for log_on_failure USERID in the output")
	}
	if strings.Contains(stdout, `service "webproxy"`) {
		t.Errorf("the redirect service was translated")
	}

	// A whole translation exits 0 and warns about nothing.
	var whole []string
	for _, f := range []string{"echo", "daytime", "time", "chargen", "discard", "localonly", "off"} {
		whole = append(whole, filepath.Join(etc, "xinetd.d", f))
	}
	if out, errOut, code := runSuperd(t, 20*time.Second, append([]string{"convert", "xinetd"}, whole...)...); code != 0 || errOut != "" {
		t.Errorf("convert of translatable files: exit code %d, stderr %q; want 0 and nothing\n%s", code, errOut, out)
	}

	// The output passes check ...
	files := map[string]string{"converted.hcl": stdout}
	dir := writeConfig(t, files)
	if out, errOut, code := runSuperd(t, 20*time.Second, "check", "-config", dir); code != 0 {
		t.Fatalf("superd check of the converted configuration: exit code %d\n%s\nstdout:\n%s\nstderr:\n%s", code, numbered(stdout), out, errOut)
	}

	// ... and runs.
	s := startSuperd(t, files)
	for _, name := range []string{"echo-stream", "echo-dgram", "daytime-stream", "daytime-dgram", "time-stream", "time-dgram",
		"chargen-stream", "chargen-dgram", "discard-stream", "discard-dgram", "mycat", "localonly"} {
		if len(s.Addr[name]) != 1 {
			t.Errorf("service %s listens on %q, want one address", name, s.Addr[name])
		}
	}
	if a, ok := s.Addr["off"]; ok {
		t.Errorf("disabled service off listens on %q", a)
	}
	if t.Failed() {
		t.FailNow()
	}

	t.Run("echo", func(t *testing.T) {
		t.Parallel()
		if got := roundTrip(t, "tcp", at("ECHO"), "hello, echo\n", true); got != "hello, echo\n" {
			t.Errorf("tcp echo got %q", got)
		}
		if got, _ := udpExchange(t, at("ECHO"), "ping"); got != "ping" {
			t.Errorf("udp echo got %q", got)
		}
	})
	t.Run("daytime", func(t *testing.T) {
		t.Parallel()
		if got := roundTrip(t, "tcp", at("DAYTIME"), "", false); !daytimeRE.MatchString(got) {
			t.Errorf("tcp daytime got %q", got)
		}
		if got, _ := udpExchange(t, at("DAYTIME"), "x"); !daytimeRE.MatchString(got) {
			t.Errorf("udp daytime got %q", got)
		}
	})
	t.Run("time", func(t *testing.T) {
		t.Parallel()
		check := func(proto, got string) {
			if len(got) != 4 {
				t.Errorf("%s time got %q, want 4 bytes", proto, got)
				return
			}
			const since1900 = 2208988800
			want := uint32(time.Now().Unix() + since1900)
			if d := int64(binary.BigEndian.Uint32([]byte(got))) - int64(want); d < -5 || d > 5 {
				t.Errorf("%s time is %d s off", proto, d)
			}
		}
		check("tcp", roundTrip(t, "tcp", at("TIME"), "", false))
		got, _ := udpExchange(t, at("TIME"), "")
		check("udp", got)
	})
	t.Run("chargen", func(t *testing.T) {
		t.Parallel()
		c := dialSrc(t, "127.0.0.1", at("CHARGEN"))
		buf := make([]byte, 2*74)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("read chargen: %v", err)
		}
		l1, l2 := string(buf[:74]), string(buf[74:])
		if !strings.HasSuffix(l1, "\r\n") || !strings.HasSuffix(l2, "\r\n") || l1[1:72] != l2[:71] {
			t.Errorf("chargen lines %q, %q: want 72 characters and CRLF, rotated by one", l1, l2)
		}
		if got, _ := udpExchange(t, at("CHARGEN"), "x"); len(got) == 0 {
			t.Errorf("udp chargen: empty reply")
		}
	})
	t.Run("discard", func(t *testing.T) {
		t.Parallel()
		if got := roundTrip(t, "tcp", at("DISCARD"), "into the void\n", true); got != "" {
			t.Errorf("discard answered %q", got)
		}
		reply, _, ok := udpFrom(t, "127.0.0.1", at("DISCARD"), "void", 500*time.Millisecond)
		if ok {
			t.Errorf("udp discard answered %q", reply)
		}
	})
	t.Run("server with only_from and no_access", func(t *testing.T) {
		t.Parallel()
		if got := catFrom(t, "127.0.0.1", at("CAT"), "meow\n"); got != "meow\n" {
			t.Errorf("mycat from 127.0.0.1 got %q", got)
		}
		if got := catFrom(t, "127.0.0.2", at("CAT"), "purr\n"); got != "purr\n" {
			t.Errorf("mycat from 127.0.0.2 got %q", got)
		}
		remote := refusedFrom(t, "127.0.0.3", at("CAT"), "")
		s.mustLog(5*time.Second, "mycat refused", msgIs("refused", "service", "mycat", "reason", "acl", "remote", remote))
	})
	t.Run("only_from with banner_fail", func(t *testing.T) {
		t.Parallel()
		remote := refusedFrom(t, "127.0.0.2", at("LOCAL"), "This service is for local users only.\r\n")
		s.mustLog(5*time.Second, "localonly refused", msgIs("refused", "service", "localonly", "reason", "acl", "remote", remote))
		if got := catFrom(t, "127.0.0.1", at("LOCAL"), "local\n"); got != "local\n" {
			t.Errorf("localonly from 127.0.0.1 got %q", got)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		t.Parallel()
		if c, err := net.DialTimeout("tcp", at("OFF"), time.Second); err == nil {
			c.Close()
			t.Errorf("the disabled service accepts connections")
		}
	})
}

// TestConvertInetd converts an inetd.conf, runs the result and talks to
// it; then checks the exit codes of convert.
func TestConvertInetd(t *testing.T) {
	t.Parallel()
	names := []string{"CAT", "HELLO", "ECHO", "DAYTIME"}
	ports := map[string]string{}
	etc := t.TempDir()
	repl := map[string]string{}
	for i, p := range pickPorts(t, len(names)) {
		ports[names[i]] = strconv.Itoa(p)
		repl["@P_"+names[i]+"@"] = strconv.Itoa(p)
	}
	copyTemplate(t, "inetd", etc, repl)
	at := func(name string) string { return "127.0.0.1:" + ports[name] }
	conf := filepath.Join(etc, "inetd.conf")

	stdout, stderr, code := runSuperd(t, 20*time.Second, "convert", "inetd", conf)
	if code != 0 || stderr != "" {
		t.Fatalf("convert inetd: exit code %d, stderr %q; want 0 and nothing\n%s", code, stderr, stdout)
	}
	if strings.Contains(stdout, "# superd:") {
		t.Errorf("a whole translation has a \"# superd:\" comment:\n%s", stdout)
	}
	// Internal services are named by their /etc/services entries: move
	// them to the free ports picked for them.
	for svc, name := range map[string]string{"7": "ECHO", "13": "DAYTIME"} {
		old := `"127.0.0.1:` + svc + `"`
		if !strings.Contains(stdout, old) {
			t.Fatalf("converted output has no listen address %s (is /etc/services missing?):\n%s", old, stdout)
		}
		stdout = strings.ReplaceAll(stdout, old, strconv.Quote(at(name)))
	}
	files := map[string]string{"inetd.hcl": stdout}
	dir := writeConfig(t, files)
	if out, errOut, code := runSuperd(t, 20*time.Second, "check", "-config", dir); code != 0 {
		t.Fatalf("superd check of the converted configuration: exit code %d\n%s\nstdout:\n%s\nstderr:\n%s", code, numbered(stdout), out, errOut)
	}
	startSuperd(t, files)

	t.Run("cat", func(t *testing.T) {
		t.Parallel()
		if got := catFrom(t, "127.0.0.1", at("CAT"), "through cat\n"); got != "through cat\n" {
			t.Errorf("cat service got %q", got)
		}
	})
	t.Run("echo", func(t *testing.T) {
		t.Parallel()
		if got, _ := udpExchange(t, at("ECHO"), "udp echo"); got != "udp echo" {
			t.Errorf("udp echo got %q", got)
		}
		if got := roundTrip(t, "tcp", at("ECHO"), "tcp echo\n", true); got != "tcp echo\n" {
			t.Errorf("tcp echo got %q", got)
		}
	})
	t.Run("daytime", func(t *testing.T) {
		t.Parallel()
		if got := roundTrip(t, "tcp", at("DAYTIME"), "", false); !daytimeRE.MatchString(got) {
			t.Errorf("daytime got %q", got)
		}
	})
	t.Run("arguments verbatim", func(t *testing.T) {
		t.Parallel()
		// ${HOME} and %{x} in inetd.conf are no HCL templates after
		// conversion.
		if got := roundTrip(t, "tcp", at("HELLO"), "", false); got != "hello from ${HOME} 100%{x}\n" {
			t.Errorf("echo service got %q", got)
		}
	})

	t.Run("partial", func(t *testing.T) {
		t.Parallel()
		p := filepath.Join(etc, "partial.conf")
		text, _ := os.ReadFile(p)
		stdout, stderr, code := runSuperd(t, 20*time.Second, "convert", "inetd", p)
		if code != 1 {
			t.Errorf("convert with an RPC line: exit code %d, want 1", code)
		}
		ws := warnings(t, stderr)
		rpc := p + ":" + strconv.Itoa(lineOf(string(text), "rpc/udp"))
		internal := p + ":" + strconv.Itoa(lineOf(string(text), "internal"))
		if !strings.Contains(ws[rpc], "RPC") {
			t.Errorf("no warning about the RPC service at %s: %q", rpc, ws)
		}
		if ws[internal] == "" {
			t.Errorf("no warning about an internal service without a name at %s: %q", internal, ws)
		}
		if n := strings.Count(stdout, "# superd:"); n != 2 {
			t.Errorf("%d \"# superd:\" comments in the output, want 2:\n%s", n, stdout)
		}
		// What could be translated still is.
		if !strings.Contains(stdout, strconv.Quote(at("CAT"))) {
			t.Errorf("the cat service is missing from a partial translation:\n%s", stdout)
		}
	})
	t.Run("exit codes", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct {
			args []string
			code int
		}{
			{[]string{"convert"}, 2},
			{[]string{"convert", "inetd"}, 2},
			{[]string{"convert", "inetd", conf, conf}, 2},
			{[]string{"convert", "xinetd"}, 2},
			{[]string{"convert", "-x", conf}, 2},
			{[]string{"convert", "inetd", filepath.Join(etc, "no-such-file")}, 1},
			{[]string{"convert", "xinetd", filepath.Join(etc, "no-such-file")}, 1},
			{[]string{"convert", "inetd", os.DevNull}, 0},
		} {
			stdout, stderr, code := runSuperd(t, 20*time.Second, c.args...)
			if code != c.code {
				t.Errorf("superd %q: exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", c.args, code, c.code, stdout, stderr)
			}
			if c.code == 2 && stderr == "" {
				t.Errorf("superd %q: no usage message", c.args)
			}
		}
	})
}
