package test

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// userLine is the user attribute every command service carries.
var userLine = `user = "` + svcUser + `"`

func TestRunBindFailure(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyAddr := busy.Addr().String()

	free, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()
	freeU, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeUAddr := freeU.LocalAddr().String()
	freeU.Close()
	sock := filepath.Join(t.TempDir(), "first.sock")

	files := map[string]string{
		"a.hcl": service("first", `listen = [`+strconv.Quote(freeAddr)+`]`, userLine, `command = ["/bin/cat"]`) +
			service("firstudp", `protocol = "udp"`, `listen = [`+strconv.Quote(freeUAddr)+`]`, userLine, `command = ["/bin/cat"]`) +
			service("firstunix", `protocol = "unix"`, `listen = [`+strconv.Quote(sock)+`]`, userLine, `command = ["/bin/cat"]`),
		"b.hcl": service("second", `listen = [`+strconv.Quote(busyAddr)+`]`, userLine, `command = ["/bin/cat"]`),
	}
	s := startSuperdOpts(t, files, runOpts{NoReady: true, WantExit: 1})
	if !s.Wait(10 * time.Second) {
		t.Fatalf("superd still running 10s after a bind failure")
	}
	if code := s.ExitCode(); code != 1 {
		t.Errorf("superd run exit code = %d, want 1", code)
	}
	named := false
	for _, l := range s.snapshot() {
		if l.Msg() == "ready" {
			t.Errorf("superd logged ready although %s could not be bound: %s", busyAddr, l)
		}
		if strings.Contains(l.Raw, "second") && strings.Contains(l.Raw, busyAddr) {
			named = true
		}
	}
	if !named {
		t.Errorf("no log line names service %q and address %s", "second", busyAddr)
	}
	// Nothing left bound (superd has exited, so only a leftover unix
	// socket file could remain; the TCP/UDP ports must be free too).
	if _, err := os.Lstat(sock); err == nil {
		t.Errorf("unix socket %s bound before the failure is still there", sock)
	}
	if l, err := net.Listen("tcp4", freeAddr); err != nil {
		t.Errorf("%s still bound: %v", freeAddr, err)
	} else {
		l.Close()
	}
	if l, err := net.ListenPacket("udp4", freeUAddr); err != nil {
		t.Errorf("udp %s still bound: %v", freeUAddr, err)
	} else {
		l.Close()
	}
}

func TestTCPStdioEcho(t *testing.T) {
	t.Parallel()
	s := startSuperd(t, map[string]string{
		"svc.hcl": service("cat", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`) +
			service("date", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/date"]`),
	})
	if a := s.addr("cat"); !strings.HasPrefix(a, "127.0.0.1:") || strings.HasSuffix(a, ":0") {
		t.Fatalf("cat listening on %q, want 127.0.0.1:PORT", a)
	}
	const in = "hello\nworld\n"
	if got := roundTrip(t, "tcp", s.addr("cat"), in, true); got != in {
		t.Errorf("cat echo = %q, want %q", got, in)
	}
	// Several at once.
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			msg := fmt.Sprintf("client %d\n", i)
			c, err := net.DialTimeout("tcp", s.addr("cat"), ioTimeout)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(ioTimeout))
			io.WriteString(c, msg)
			c.(*net.TCPConn).CloseWrite()
			b, err := io.ReadAll(c)
			if err == nil && string(b) != msg {
				err = fmt.Errorf("concurrent echo = %q, want %q", b, msg)
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}

	c, err := net.DialTimeout("tcp", s.addr("date"), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 10 || !strings.HasSuffix(string(b), "\n") {
		t.Errorf("date said %q, want a date line", b)
	}
	local := c.LocalAddr().String()
	s.mustLog(5*time.Second, "handler exited for date", func(l logLine) bool {
		return msgIs("handler exited", "service", "date", "status", "success")(l) && l.Get("remote") == local && l.Get("pid") != ""
	})
}

func TestTCPPassFD(t *testing.T) {
	t.Parallel()
	s := startSuperd(t, map[string]string{
		"svc.hcl": service("fdsvc", `listen = ["127.0.0.1:0"]`, userLine, `pass = "fd"`, `command = `+handlerCmd("report", "3")),
	})
	r, local := getReport(t, "tcp", s.addr("fdsvc"))
	env := envMap(t, r.Env)
	want := map[string]string{
		"LISTEN_FDS":     "1",
		"LISTEN_PID":     strconv.Itoa(r.Pid),
		"LISTEN_FDNAMES": "fdsvc",
		"SUPERD_SERVICE": "fdsvc",
		"PROTO":          "TCP",
		"REMOTE_ADDR":    "127.0.0.1",
		"TCPREMOTEIP":    "127.0.0.1",
		"REMOTE_PORT":    portOf(local),
		"LOCAL_PORT":     s.port("fdsvc"),
		"TCPLOCALPORT":   s.port("fdsvc"),
		"TCPREMOTEPORT":  portOf(local),
		"LOCAL_ADDR":     "127.0.0.1",
		"TCPLOCALIP":     "127.0.0.1",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("handler env %s = %q, want %q", k, env[k], v)
		}
	}
	fds := r.fdTable()
	if fds[0].Target != "/dev/null" {
		t.Errorf("fd 0 = %q, want /dev/null", fds[0].Target)
	}
	f3, ok := fds[3]
	if !ok || !f3.IsSocket || f3.Peer != local || f3.Local != s.addr("fdsvc") || f3.SockType != syscall.SOCK_STREAM {
		t.Errorf("fd 3 = %+v, want the connection %s <-> %s", f3, s.addr("fdsvc"), local)
	}
	if f3.NonBlock {
		t.Errorf("fd 3 is non-blocking")
	}
}

func TestIPv6AndDualStack(t *testing.T) {
	t.Parallel()
	if !ipv6OK() {
		t.Skip("needs IPv6 on loopback")
	}
	s := startSuperd(t, map[string]string{
		"svc.hcl": service("v6", `listen = ["[::1]:0"]`, userLine, `command = `+handlerCmd("report", "1")) +
			service("dual", `listen = [":0"]`, userLine, `command = `+handlerCmd("report", "1")),
	})
	if a := s.addr("v6"); !strings.HasPrefix(a, "[::1]:") {
		t.Errorf("v6 listening on %q, want [::1]:PORT", a)
	}
	if a := s.addr("dual"); !strings.HasPrefix(a, "[::]:") {
		t.Errorf("dual listening on %q, want [::]:PORT", a)
	}

	t.Run("v6only", func(t *testing.T) {
		r, local := getReport(t, "tcp6", s.addr("v6"))
		env := envMap(t, r.Env)
		if env["REMOTE_ADDR"] != "::1" || env["TCPREMOTEIP"] != "::1" || env["REMOTE_PORT"] != portOf(local) || env["LOCAL_ADDR"] != "::1" {
			t.Errorf("handler env REMOTE_ADDR=%q TCPREMOTEIP=%q REMOTE_PORT=%q LOCAL_ADDR=%q, want ::1 ::1 %s ::1",
				env["REMOTE_ADDR"], env["TCPREMOTEIP"], env["REMOTE_PORT"], env["LOCAL_ADDR"], portOf(local))
		}
	})
	t.Run("dual-v4-client", func(t *testing.T) {
		r, local := getReport(t, "tcp4", "127.0.0.1:"+s.port("dual"))
		env := envMap(t, r.Env)
		for _, k := range []string{"REMOTE_ADDR", "TCPREMOTEIP", "LOCAL_ADDR", "TCPLOCALIP"} {
			if env[k] != "127.0.0.1" {
				t.Errorf("handler env %s = %q, want 127.0.0.1 (plain IPv4)", k, env[k])
			}
		}
		if env["REMOTE_PORT"] != portOf(local) {
			t.Errorf("handler env REMOTE_PORT = %q, want %s", env["REMOTE_PORT"], portOf(local))
		}
		s.mustLog(5*time.Second, "handler exited remote="+local, func(l logLine) bool {
			return msgIs("handler exited", "service", "dual")(l) && l.Get("remote") == local
		})
	})
	t.Run("dual-v6-client", func(t *testing.T) {
		r, _ := getReport(t, "tcp6", "[::1]:"+s.port("dual"))
		if env := envMap(t, r.Env); env["REMOTE_ADDR"] != "::1" {
			t.Errorf("handler env REMOTE_ADDR = %q, want ::1", env["REMOTE_ADDR"])
		}
	})
	for _, l := range s.snapshot() {
		if strings.Contains(l.Raw, "::ffff:") {
			t.Errorf("log line shows a v4-mapped address: %s", l)
		}
	}
}

func TestUnixSocket(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "ux.sock")
	// A stale socket, as left by a crash: bound, nobody listening.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("stale socket not in place: %v", err)
	}
	newDir := filepath.Join(dir, "made", "by-superd")
	path2 := filepath.Join(newDir, "ux2.sock")

	s := startSuperd(t, map[string]string{
		"svc.hcl": service("ux", `protocol = "unix"`, `listen = [`+strconv.Quote(path)+`]`, userLine,
			`command = `+handlerCmd("report", "1"), `socket {`, `  mode = "0600"`, `}`) +
			service("ux2", `protocol = "unix"`, `listen = [`+strconv.Quote(path2)+`]`, userLine, `command = ["/bin/cat"]`),
	})
	if got := s.addr("ux"); got != path {
		t.Errorf("ux listening on %q, want %q", got, path)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode = %v, want a socket with 0600", path, fi.Mode())
	}
	if fi, err := os.Lstat(path2); err != nil || fi.Mode().Perm() != 0o666 {
		t.Errorf("%s: %v, mode %v; want a socket with the default 0666", path2, err, fi.Mode())
	}
	if fi, err := os.Stat(newDir); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("socket directory %s made by superd: %v, want mode 0755", newDir, fi.Mode())
	}

	r, _ := getReport(t, "unix", path)
	env := envMap(t, r.Env)
	want := map[string]string{
		"PROTO":          "UNIX",
		"SUPERD_SERVICE": "ux",
		"REMOTE_UID":     strconv.Itoa(os.Getuid()),
		"REMOTE_GID":     strconv.Itoa(os.Getgid()),
		"REMOTE_PID":     strconv.Itoa(os.Getpid()),
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("handler env %s = %q, want %q", k, env[k], v)
		}
	}
	for _, k := range []string{"TCPREMOTEIP", "TCPREMOTEPORT", "TCPLOCALIP", "TCPLOCALPORT"} {
		if v, ok := env[k]; ok {
			t.Errorf("unix handler env has %s=%q", k, v)
		}
	}
	if f := r.fdTable()[0]; !f.IsSocket || f.SockDomain != syscall.AF_UNIX || f.NonBlock {
		t.Errorf("fd 0 = %+v, want a blocking unix socket", f)
	}
	if got := roundTrip(t, "unix", path2, "over unix\n", true); got != "over unix\n" {
		t.Errorf("cat over unix = %q", got)
	}
	s.mustLog(5*time.Second, "handler exited service=ux", msgIs("handler exited", "service", "ux", "status", "success"))
}

func TestUnixSocketPathTaken(t *testing.T) {
	t.Parallel()
	t.Run("regular file", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "not-a-socket")
		if err := os.WriteFile(path, []byte("precious"), 0o644); err != nil {
			t.Fatal(err)
		}
		s := startSuperdOpts(t, map[string]string{
			"svc.hcl": service("ux", `protocol = "unix"`, `listen = [`+strconv.Quote(path)+`]`, userLine, `command = ["/bin/cat"]`),
		}, runOpts{NoReady: true, WantExit: 1})
		if !s.Wait(10 * time.Second) {
			t.Fatal("superd still running 10s after being given a regular file as socket path")
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != "precious" {
			t.Errorf("%s after superd: %q, %v; want it untouched", path, b, err)
		}
	})
	t.Run("live socket", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "live.sock")
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		s := startSuperdOpts(t, map[string]string{
			"svc.hcl": service("ux", `protocol = "unix"`, `listen = [`+strconv.Quote(path)+`]`, userLine, `command = ["/bin/cat"]`),
		}, runOpts{NoReady: true, WantExit: 1})
		if !s.Wait(10 * time.Second) {
			t.Fatal("superd still running 10s after being given a live socket path")
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err != nil {
			t.Errorf("our socket %s no longer accepts: %v", path, err)
		} else {
			c.Close()
		}
	})
}
