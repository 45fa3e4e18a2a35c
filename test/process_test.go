package test

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

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

// TestRlimitNofileStartup starts superd with a soft RLIMIT_NOFILE below
// the hard one, which the Go runtime raises in superd at start: handlers
// without a files limit still get the start-up soft limit.
func TestRlimitNofileStartup(t *testing.T) {
	t.Parallel()
	hard := shellLimits(t)[1]
	if hard < 1000 {
		t.Skipf("hard RLIMIT_NOFILE %d is below the test's soft limit 1000", hard)
	}
	s := startSuperdOpts(t, map[string]string{
		"svc.hcl": service("nolim", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat", "/proc/self/limits"]`) +
			service("nolimfd", `listen = ["127.0.0.1:0"]`, userLine, `pass = "fd"`, `command = `+handlerCmd("report", "3")) +
			service("lim", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat", "/proc/self/limits"]`, `limits {`, `  files = 200`, `}`),
	}, runOpts{Setup: func(c *exec.Cmd) {
		c.Args = append([]string{"/bin/sh", "-c", `ulimit -Sn 1000 && exec "$0" "$@"`}, c.Args...)
		c.Path = "/bin/sh"
	}})
	var own unix.Rlimit
	if err := unix.Prlimit(s.Pid, unix.RLIMIT_NOFILE, nil, &own); err != nil {
		t.Fatal(err)
	}
	if own.Cur == 1000 {
		t.Fatalf("superd's own soft RLIMIT_NOFILE is 1000: the runtime did not raise it, the test proves nothing")
	}
	if got := procLimits(t, roundTrip(t, "tcp", s.addr("nolim"), "", false))["Max open files"]; got != [2]uint64{1000, hard} {
		t.Errorf("handler RLIMIT_NOFILE = %v, want the start-up [1000 %d]", got, hard)
	}
	if got := procLimits(t, roundTrip(t, "tcp", s.addr("lim"), "", false))["Max open files"]; got != [2]uint64{200, 200} {
		t.Errorf("handler with files = 200: RLIMIT_NOFILE = %v, want [200 200]", got)
	}
	r, _ := getReport(t, "tcp", s.addr("nolimfd"))
	if got := r.Rlimits["NOFILE_START"]; got != [2]uint64{1000, hard} {
		t.Errorf("pass=fd handler RLIMIT_NOFILE = %v, want the start-up [1000 %d]", got, hard)
	}
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
			// superd leads its session here; the handler leads a group
			// of its own in it, scheduled with superd (spawner/group_linux.go).
			if r.Pgid == s.Pid {
				t.Errorf("handler in superd's process group %d", s.Pid)
			}
			if r.Sid != s.Pid {
				t.Errorf("handler session = %d, want superd's, %d", r.Sid, s.Pid)
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

// TestIgnoredSignal32 starts superd with signal 32 ignored, as a parent
// that is not a Go program can leave it (the Go runtime never takes 32 or
// 33 over, and a disposition of SIG_IGN survives fork and exec). superd
// resets it in itself, so handlers start clean on the plain fork path
// rather than every one going through the slower exec helper.
func TestIgnoredSignal32(t *testing.T) {
	// Not parallel: the disposition is the whole test process's.
	type sigaction struct{ handler, flags, restorer, mask uint64 }
	var old sigaction
	ign := sigaction{handler: 1} // SIG_IGN
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, 32, uintptr(unsafe.Pointer(&ign)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
		t.Fatalf("ignore signal 32: %v", e)
	}
	s := startSuperd(t, map[string]string{
		"svc.hcl": service("ps", `listen = ["127.0.0.1:0"]`, userLine, `command = `+handlerCmd("report", "1")),
	})
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, 32, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0); e != 0 {
		t.Fatalf("restore signal 32: %v", e)
	}
	r, _ := getReport(t, "tcp", s.addr("ps"))
	if r.Status["SigIgn"] != "0000000000000000" {
		t.Errorf("handler SigIgn = %s, want 0", r.Status["SigIgn"])
	}
	if strings.Contains(s.logText(), "exec helper") {
		t.Errorf("superd forced the exec helper:\n%s", s.logText())
	}
}
