package test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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

// shellLimits is the NOFILE soft and hard limits a child of this process
// starts with (the Go runtime raised our own soft limit, and restores it
// in children).
func shellLimits(t *testing.T) [2]uint64 {
	t.Helper()
	out, err := exec.Command("/bin/sh", "-c", "ulimit -Sn; ulimit -Hn").Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		t.Fatalf("ulimit said %q", out)
	}
	var v [2]uint64
	for i, s := range f {
		if s == "unlimited" {
			v[i] = unix.RLIM_INFINITY
		} else {
			v[i], _ = strconv.ParseUint(s, 10, 64)
		}
	}
	return v
}

// procLimits parses /proc/PID/limits text into name -> {soft, hard}.
func procLimits(t *testing.T, text string) map[string][2]uint64 {
	t.Helper()
	m := map[string][2]uint64{}
	for _, line := range strings.Split(text, "\n")[1:] {
		if len(line) < 47 {
			continue
		}
		name := strings.TrimSpace(line[:26])
		f := strings.Fields(line[26:])
		if len(f) < 2 {
			continue
		}
		var v [2]uint64
		for i := range 2 {
			if f[i] == "unlimited" {
				v[i] = unix.RLIM_INFINITY
			} else {
				v[i], _ = strconv.ParseUint(f[i], 10, 64)
			}
		}
		m[name] = v
	}
	if len(m) < 10 {
		t.Fatalf("handler printed %q, want /proc/self/limits", text)
	}
	return m
}

func TestRlimits(t *testing.T) {
	t.Parallel()
	// /bin/cat, not the Go handler: a Go program cannot start with
	// RLIMIT_AS at 512 MiB.
	s := startSuperd(t, map[string]string{
		"svc.hcl": service("lim", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat", "/proc/self/limits"]`,
			`limits {`, `  files = 64`, `  memory = "512MiB"`, `  cpu = "60s"`, `  processes = 64`, `}`) +
			service("limfd", `listen = ["127.0.0.1:0"]`, userLine, `pass = "fd"`, `command = `+handlerCmd("report", "3"),
				`limits {`, `  files = 100`, `  memory = "2GiB"`, `}`) +
			service("nolim", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat", "/proc/self/limits"]`),
	})
	t.Run("set", func(t *testing.T) {
		got := procLimits(t, roundTrip(t, "tcp", s.addr("lim"), "", false))
		want := map[string][2]uint64{
			"Max open files":    {64, 64},
			"Max address space": {512 << 20, 512 << 20},
			"Max cpu time":      {60, 60},
			"Max processes":     {64, 64},
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s soft/hard = %v, want %v", k, got[k], v)
			}
		}
	})
	t.Run("set with pass=fd", func(t *testing.T) {
		r, _ := getReport(t, "tcp", s.addr("limfd"))
		if got := r.Rlimits["NOFILE_START"]; got != [2]uint64{100, 100} {
			t.Errorf("RLIMIT_NOFILE soft/hard = %v, want [100 100]", got)
		}
		if got := r.Rlimits["AS"]; got != [2]uint64{2 << 30, 2 << 30} {
			t.Errorf("RLIMIT_AS soft/hard = %v, want [2GiB 2GiB]", got)
		}
	})
	t.Run("unset", func(t *testing.T) {
		// superd was started by this process: a handler whose limits are
		// not set gets superd's start-up values, which are ours (with the
		// NOFILE soft limit our children get: the Go runtime raised ours).
		got := procLimits(t, roundTrip(t, "tcp", s.addr("nolim"), "", false))
		if want := shellLimits(t); got["Max open files"] != want {
			t.Errorf("RLIMIT_NOFILE soft/hard = %v, want superd's start-up %v", got["Max open files"], want)
		}
		for name, res := range map[string]int{"Max address space": unix.RLIMIT_AS, "Max cpu time": unix.RLIMIT_CPU, "Max processes": unix.RLIMIT_NPROC} {
			var rl unix.Rlimit
			if err := unix.Getrlimit(res, &rl); err != nil {
				t.Fatal(err)
			}
			if want := [2]uint64{rl.Cur, rl.Max}; got[name] != want {
				t.Errorf("%s soft/hard = %v, want superd's start-up %v", name, got[name], want)
			}
		}
	})
}

func TestUmaskNiceWorkdir(t *testing.T) {
	t.Parallel()
	s := startSuperd(t, map[string]string{
		"svc.hcl": service("tuned", `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("report", "1"),
			`umask = "0077"`, `nice = 5`, `workdir = "/tmp"`) +
			service("tunedfd", `listen = ["127.0.0.1:0"]`, userLine, `pass = "fd"`, `command = `+handlerCmd("report", "3"),
				`umask = "0027"`, `nice = 7`) +
			service("plain", `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("report", "1")),
	})
	r, _ := getReport(t, "tcp", s.addr("tuned"))
	if r.Umask != "0077" || r.Nice != 5 || r.Cwd != "/tmp" {
		t.Errorf("umask/nice/cwd = %s/%d/%s, want 0077/5//tmp", r.Umask, r.Nice, r.Cwd)
	}
	r, _ = getReport(t, "tcp", s.addr("tunedfd"))
	if r.Umask != "0027" || r.Nice != 7 {
		t.Errorf("pass=fd: umask/nice = %s/%d, want 0027/7", r.Umask, r.Nice)
	}
	r, _ = getReport(t, "tcp", s.addr("plain"))
	if r.Umask != "0022" || r.Cwd != "/" {
		t.Errorf("default umask/cwd = %s/%s, want 0022//", r.Umask, r.Cwd)
	}
	if n, err := unix.Getpriority(unix.PRIO_PROCESS, 0); err == nil && 20-n == 0 && r.Nice != 0 {
		t.Errorf("default nice = %d, want 0", r.Nice)
	}
	// Handlers' settings never leak back into superd itself.
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.Pid)); err == nil {
		f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+1:])
		if len(f) > 16 && f[16] != "0" {
			t.Logf("superd's own nice is %s", f[16])
		}
	}
}

// openPTY returns a pseudo-terminal pair, or skips.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("ptsname: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open pts: %v", err)
	}
	return m, s
}

func TestProcessState(t *testing.T) {
	t.Parallel()
	// superd gets a controlling terminal and, when root, an ambient and
	// inheritable capability, so that handlers would inherit them if
	// superd did not start them clean.
	master, slave := openPTY(t)
	t.Cleanup(func() { master.Close() }) // after superd has stopped
	s := startSuperdOpts(t, map[string]string{
		"svc.hcl": service("ps", `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("report", "1")) +
			service("psroot", `listen = ["127.0.0.1:0"]`, `user = "root"`, `command = `+handlerCmd("report", "1")) +
			service("psfd", `listen = ["127.0.0.1:0"]`, userLine, `pass = "fd"`, `command = `+handlerCmd("report", "3")),
	}, runOpts{Setup: func(cmd *exec.Cmd) {
		cmd.Stdin = slave
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		if isRoot() {
			cmd.SysProcAttr.AmbientCaps = []uintptr{unix.CAP_NET_BIND_SERVICE}
		}
	}})
	slave.Close()
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.Pid)); err == nil {
		f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+1:])
		if len(f) > 4 && f[4] == "0" {
			t.Logf("superd has no controlling tty after all; the tty check proves less")
		}
	}
	const zero = "0000000000000000"
	for _, name := range []string{"ps", "psroot", "psfd"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, _ := getReport(t, "tcp", s.addr(name))
			if r.Pgid != r.Pid {
				t.Errorf("pgid = %d, want the handler's own pid %d (a new process group)", r.Pgid, r.Pid)
			}
			if r.Pgid == s.Pid || r.Sid == s.Pid {
				t.Errorf("handler in superd's process group or session (pgid %d sid %d, superd %d)", r.Pgid, r.Sid, s.Pid)
			}
			if r.TtyNr != 0 {
				t.Errorf("handler has controlling tty %#x, want none", r.TtyNr)
			}
			for _, k := range []string{"SigBlk", "SigIgn", "CapInh", "CapAmb"} {
				if r.Status[k] != zero {
					t.Errorf("%s = %s, want %s", k, r.Status[k], zero)
				}
			}
			if r.Ppid != s.Pid {
				t.Logf("handler's parent is %d, superd is %d", r.Ppid, s.Pid)
			}
		})
	}
}

// dialHold connects and returns the conn after reading the handler's
// "started PID" line.
func dialHold(t *testing.T, addr string) (net.Conn, int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c, startedPid(t, readLine(t, c))
}

// waitEOF waits up to d for the peer to close c and returns how long it took.
func waitEOF(t *testing.T, c net.Conn, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(d))
	buf := make([]byte, 512)
	for {
		_, err := c.Read(buf)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("connection %s still open after %v", c.RemoteAddr(), d)
			}
			return time.Since(start)
		}
	}
}
