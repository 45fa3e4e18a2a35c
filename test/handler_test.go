package test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFDTable checks every column of SPEC §3's table: exactly which
// descriptors a handler gets, and what they are.
func TestFDTable(t *testing.T) {
	t.Parallel()
	// want: fd -> "conn" (the connection), "listen" (the listening
	// socket), "null" (/dev/null), "log" (superd's stderr log pipe),
	// "same:N" (the same open file as fd N).
	tests := []struct {
		name  string
		lines []string
		want  map[int]string
	}{
		{"nowait-stdio-log", []string{`command = ` + handlerCmd("report", "1")},
			map[int]string{0: "conn", 1: "same:0", 2: "log"}},
		{"nowait-stdio-null", []string{`stderr = "null"`, `command = ` + handlerCmd("report", "1")},
			map[int]string{0: "conn", 1: "same:0", 2: "null"}},
		{"nowait-stdio-socket", []string{`stderr = "socket"`, `command = ` + handlerCmd("report", "1")},
			map[int]string{0: "conn", 1: "same:0", 2: "same:0"}},
		{"nowait-fd-log", []string{`pass = "fd"`, `command = ` + handlerCmd("report", "3")},
			map[int]string{0: "null", 1: "same:2", 2: "log", 3: "conn"}},
		{"nowait-fd-null", []string{`pass = "fd"`, `stderr = "null"`, `command = ` + handlerCmd("report", "3")},
			map[int]string{0: "null", 1: "null", 2: "null", 3: "conn"}},
		{"wait-stdio-log", []string{`mode = "wait"`, `command = ` + handlerCmd("wait-accept", "0", "report")},
			map[int]string{0: "listen", 1: "same:0", 2: "log"}},
		{"wait-fd-log", []string{`mode = "wait"`, `pass = "fd"`, `command = ` + handlerCmd("wait-accept", "3", "report")},
			map[int]string{0: "null", 1: "same:2", 2: "log", 3: "listen"}},
		{"wait-fd-null", []string{`mode = "wait"`, `pass = "fd"`, `stderr = "null"`, `command = ` + handlerCmd("wait-accept", "3", "report")},
			map[int]string{0: "null", 1: "null", 2: "null", 3: "listen"}},
	}
	var conf strings.Builder
	for _, tc := range tests {
		conf.WriteString(service(tc.name, append([]string{`listen = ["127.0.0.1:0"]`, userLine}, tc.lines...)...))
	}
	s := startSuperd(t, map[string]string{"svc.hcl": conf.String()})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := s.addr(tc.name)
			r, local := getReport(t, "tcp", srv)
			fds := r.fdTable()
			var got []int
			for fd := range fds {
				got = append(got, fd)
			}
			slices.Sort(got)
			var want []int
			for fd := range tc.want {
				want = append(want, fd)
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("open fds = %v, want exactly %v: %+v", got, want, r.FDs)
			}
			for fd, kind := range tc.want {
				f, ok := fds[fd]
				if !ok {
					continue
				}
				switch {
				case kind == "conn":
					if !f.IsSocket || f.Listening || f.SockType != syscall.SOCK_STREAM || f.Local != srv || f.Peer != local {
						t.Errorf("fd %d = %+v, want the connection %s <-> %s", fd, f, srv, local)
					}
					if f.NonBlock {
						t.Errorf("fd %d (connection) is non-blocking", fd)
					}
				case kind == "listen":
					if !f.IsSocket || !f.Listening || f.Local != srv {
						t.Errorf("fd %d = %+v, want the listening socket %s", fd, f, srv)
					}
					if f.NonBlock {
						t.Errorf("fd %d (listening socket) is non-blocking", fd)
					}
				case kind == "null":
					if f.Target != "/dev/null" {
						t.Errorf("fd %d = %q, want /dev/null", fd, f.Target)
					}
				case kind == "log":
					if f.IsSocket && (f.Peer == local || f.Listening || f.Local == srv) || !f.IsSocket && !strings.HasPrefix(f.Target, "pipe:") {
						t.Errorf("fd %d = %+v, want a pipe to superd's log", fd, f)
					}
					if f.NonBlock {
						t.Errorf("fd %d (stderr pipe) is non-blocking: a burst to stderr would fail with EAGAIN", fd)
					}
				case strings.HasPrefix(kind, "same:"):
					other, _ := strconv.Atoi(strings.TrimPrefix(kind, "same:"))
					if f.Target != fds[other].Target {
						t.Errorf("fd %d = %q, want the same as fd %d (%q)", fd, f.Target, other, fds[other].Target)
					}
				}
			}
		})
	}
}

// passwdShell is the login shell of name in /etc/passwd ("" if unknown).
func passwdShell(name string) string {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) == 7 && fields[0] == name {
			return fields[6]
		}
	}
	return ""
}

func TestEnvironment(t *testing.T) {
	t.Parallel()
	s := startSuperdOpts(t, map[string]string{
		"svc.hcl": service("plain", `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("report", "1")) +
			service("custom", `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("report", "1"),
				`pass_env = ["PASSME", "TZ", "NOT_SET_ANYWHERE_XYZ"]`,
				`env = { LANG = "C", PATH = "/opt/x:/bin", TZ = "Europe/Paris" }`),
	}, runOpts{Env: []string{"SUPERD_LEAK_CANARY=1", "LEAK_CANARY=1", "PASSME=from-superd", "TZ=UTC", "LANG=en_US.UTF-8"}})

	u := handlerUser(t)
	srv := s.addr("plain")
	r, local := getReport(t, "tcp", srv)
	env := envMap(t, r.Env)
	want := map[string]string{
		"PATH":           "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME":           u.HomeDir,
		"USER":           u.Username,
		"LOGNAME":        u.Username,
		"SHELL":          passwdShell(u.Username),
		"SUPERD_SERVICE": "plain",
		"PROTO":          "TCP",
		"REMOTE_ADDR":    "127.0.0.1",
		"REMOTE_PORT":    portOf(local),
		"LOCAL_ADDR":     "127.0.0.1",
		"LOCAL_PORT":     portOf(srv),
		"TCPREMOTEIP":    "127.0.0.1",
		"TCPREMOTEPORT":  portOf(local),
		"TCPLOCALIP":     "127.0.0.1",
		"TCPLOCALPORT":   portOf(srv),
	}
	if want["SHELL"] == "" {
		delete(want, "SHELL")
		delete(env, "SHELL")
		t.Logf("no /etc/passwd entry for %s: not checking SHELL", u.Username)
	}
	for k, v := range want {
		if got, ok := env[k]; !ok || got != v {
			t.Errorf("handler env %s = %q (set: %v), want %q", k, got, ok, v)
		}
	}
	for _, k := range keys(env) {
		if _, ok := want[k]; !ok {
			t.Errorf("handler env has %s=%q, which superd should not set", k, env[k])
		}
	}

	r, _ = getReport(t, "tcp", s.addr("custom"))
	env = envMap(t, r.Env)
	for k, v := range map[string]string{
		"PASSME": "from-superd", "TZ": "Europe/Paris", "LANG": "C", "PATH": "/opt/x:/bin", "SUPERD_SERVICE": "custom",
	} {
		if env[k] != v {
			t.Errorf("custom handler env %s = %q, want %q", k, env[k], v)
		}
	}
	for _, k := range []string{"SUPERD_LEAK_CANARY", "LEAK_CANARY", "NOT_SET_ANYWHERE_XYZ"} {
		if v, ok := env[k]; ok {
			t.Errorf("custom handler env has %s=%q", k, v)
		}
	}
}

func TestCredentials(t *testing.T) {
	t.Parallel()
	s := startSuperd(t, map[string]string{
		"svc.hcl": service("nogroups", `listen = ["127.0.0.1:0"]`, `user = "nobody"`, `group = "nogroup"`, `groups = false`, `command = `+handlerCmd("report", "1")) +
			service("dflt", `listen = ["127.0.0.1:0"]`, `user = "nobody"`, `command = `+handlerCmd("report", "1")) +
			service("numeric", `listen = ["127.0.0.1:0"]`, `user = "1"`, `group = "65534"`, `command = `+handlerCmd("report", "1")),
	})
	if !isRoot() {
		// Handlers run as superd's own user, with a warning.
		r, _ := getReport(t, "tcp", s.addr("dflt"))
		if r.UID != os.Getuid() || r.GID != os.Getgid() {
			t.Errorf("handler uid/gid = %d/%d, want superd's own %d/%d", r.UID, r.GID, os.Getuid(), os.Getgid())
		}
		t.Skip("needs root: switching users")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	nogroup, err := user.LookupGroup("nogroup")
	if err != nil {
		t.Skip("no group nogroup")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	ngid, _ := strconv.Atoi(nogroup.Gid)

	t.Run("groups=false", func(t *testing.T) {
		r, _ := getReport(t, "tcp", s.addr("nogroups"))
		if r.UID != uid || r.EUID != uid || r.GID != ngid || r.EGID != ngid {
			t.Errorf("uid/euid/gid/egid = %d/%d/%d/%d, want %d/%d/%d/%d", r.UID, r.EUID, r.GID, r.EGID, uid, uid, ngid, ngid)
		}
		if len(r.Groups) != 0 {
			t.Errorf("supplementary groups = %v, want none", r.Groups)
		}
		if r.Status["CapEff"] != "0000000000000000" || r.Status["CapPrm"] != "0000000000000000" {
			t.Errorf("CapEff/CapPrm = %s/%s, want none", r.Status["CapEff"], r.Status["CapPrm"])
		}
	})
	t.Run("default group", func(t *testing.T) {
		r, _ := getReport(t, "tcp", s.addr("dflt"))
		if r.UID != uid || r.GID != gid || r.EGID != gid {
			t.Errorf("uid/gid/egid = %d/%d/%d, want %d/%d/%d", r.UID, r.GID, r.EGID, uid, gid, gid)
		}
		ids, _ := nobody.GroupIds()
		allowed := map[int]bool{gid: true}
		for _, g := range ids {
			n, _ := strconv.Atoi(g)
			allowed[n] = true
		}
		for _, g := range r.Groups {
			if !allowed[g] {
				t.Errorf("supplementary groups = %v, has %d which is not one of nobody's (%v)", r.Groups, g, ids)
			}
		}
	})
	t.Run("numeric", func(t *testing.T) {
		r, _ := getReport(t, "tcp", s.addr("numeric"))
		if r.UID != 1 || r.GID != 65534 {
			t.Errorf("uid/gid = %d/%d, want 1/65534", r.UID, r.GID)
		}
		for _, g := range r.Groups {
			if g == 0 {
				t.Errorf("supplementary groups = %v include superd's group 0", r.Groups)
			}
		}
	})
}

// TestSlowClient: a handler waits as long as its client takes, on a busy
// socket too (whose accepted connections superd must not leave with the
// listening socket's short receive timeout) and on TCP and Unix sockets.
func TestSlowClient(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "cat.sock")
	s := startSuperd(t, map[string]string{
		"svc.hcl": service("cat", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`) +
			service("ucat", `protocol = "unix"`, `listen = ["`+sock+`"]`, userLine, `command = ["/bin/cat"]`),
	})
	for _, tc := range []struct{ network, addr string }{{"tcp", s.addr("cat")}, {"unix", sock}} {
		t.Run(tc.network, func(t *testing.T) {
			for i := range 4 { // the first connections make the socket busy
				c, err := net.DialTimeout(tc.network, tc.addr, ioTimeout)
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(100 * time.Millisecond)
				msg := fmt.Sprintf("late %d\n", i)
				if _, err := c.Write([]byte(msg)); err != nil {
					t.Fatal(err)
				}
				if got := readLine(t, c); got+"\n" != msg {
					t.Errorf("connection %d: got %q, want %q", i, got, msg)
				}
				c.Close()
			}
		})
	}
	if n := s.countLogs(msgIs("handler exited", "status", "failure")); n != 0 {
		t.Errorf("%d handlers failed:\n%s", n, s.logText())
	}
}
