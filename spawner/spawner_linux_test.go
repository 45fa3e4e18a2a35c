package spawner

import (
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// paths are Spec variations that force each way of starting a handler.
var paths = []struct {
	name string
	want path
	mod  func(*Spec)
}{
	{"plain", pathPlain, func(*Spec) {}},
	{"thread", pathThread, func(sp *Spec) { sp.Umask = 0o027 }},
	{"helper", pathHelper, func(sp *Spec) { sp.Rlimits = []Rlimit{{unix.RLIMIT_CORE, 0, 0}} }},
	{"clone", pathClone, func(sp *Spec) { sp.Umask = 0o027; sp.Rlimits = []Rlimit{{unix.RLIMIT_CORE, 0, 0}} }},
}

// pathsOn is paths with each mod also choosing, on s, between the clone
// path and syscall.ForkExec.
func pathsOn(s *Spawner) []struct {
	name string
	want path
	mod  func(*Spec)
} {
	ps := slices.Clone(paths)
	for i, p := range ps {
		ps[i].mod = func(sp *Spec) {
			s.cloneOff.Store(p.want != pathClone)
			p.mod(sp)
		}
	}
	return ps
}

func TestDescriptorTable(t *testing.T) {
	s, _ := newTestSpawner(t)
	conn, _ := socketpair(t)
	sock := inode(t, "socket", conn)
	const null, pipe = "/dev/null", "pipe:"
	tests := []struct {
		name string
		f    Files
		want map[int]string // "pipe:" matches any pipe
	}{
		{"stdio", Files{Stdin: conn, Stdout: conn, Extra: -1, Stderr: StderrNull},
			map[int]string{0: sock, 1: sock, 2: null}},
		{"stdio log", Files{Stdin: conn, Stdout: conn, Extra: -1, Stderr: StderrLog},
			map[int]string{0: sock, 1: sock, 2: pipe}},
		{"stdio socket", Files{Stdin: conn, Stdout: conn, Extra: -1, Stderr: StderrFD, StderrFD: conn},
			map[int]string{0: sock, 1: sock, 2: sock}},
		{"fd log", Files{Stdin: -1, Stdout: -1, Extra: conn, Stderr: StderrLog, StdoutIsStderr: true},
			map[int]string{0: null, 1: pipe, 2: pipe, 3: sock}},
		{"fd null", Files{Stdin: -1, Stdout: -1, Extra: conn, Stderr: StderrNull},
			map[int]string{0: null, 1: null, 2: null, 3: sock}},
	}
	for _, p := range pathsOn(s) {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				dir := probeDir(t)
				sp := probeSpec(dir)
				p.mod(sp)
				if got, want := s.pathFor(sp), wantPath(t, s, p.want); got != want {
					t.Fatalf("pathFor = %d, want %d", got, want)
				}
				r, _ := probe(t, s, sp, dir, tt.f)
				if len(r.fds) != len(tt.want) {
					t.Errorf("fds = %v, want %v", r.fds, tt.want)
				}
				for fd, want := range tt.want {
					got := r.fds[fd]
					if want == pipe && strings.HasPrefix(got, pipe) || got == want {
						continue
					}
					t.Errorf("fd %d -> %q, want %q (all: %v)", fd, got, want, r.fds)
				}
				if tt.f.StdoutIsStderr && r.fds[1] != r.fds[2] {
					t.Errorf("fd 1 -> %q, want fd 2's %q", r.fds[1], r.fds[2])
				}
			})
		}
	}
}

func TestProcessState(t *testing.T) {
	s, _ := newTestSpawner(t)
	for _, p := range pathsOn(s) {
		t.Run(p.name, func(t *testing.T) {
			dir := probeDir(t)
			sp := probeSpec(dir)
			sp.Dir = dir
			p.mod(sp)
			r, _ := probe(t, s, sp, dir, devNullFiles)
			if got, want := r.environ, []string{"A=1", "B=two words"}; !slices.Equal(got, want) {
				t.Errorf("environ = %q, want %q", got, want)
			}
			checkGroup(t, r, s, p.want)
			if r.cwd != dir {
				t.Errorf("cwd = %q, want %q", r.cwd, dir)
			}
			for _, k := range []string{"SigBlk", "SigIgn", "CapInh", "CapAmb"} {
				if r.status[k] != "0000000000000000" {
					t.Errorf("%s = %s, want 0", k, r.status[k])
				}
			}
		})
	}
}

func TestDefaultDir(t *testing.T) {
	s, _ := newTestSpawner(t)
	dir := probeDir(t)
	r, _ := probe(t, s, probeSpec(dir), dir, devNullFiles)
	if r.cwd != "/" {
		t.Errorf("cwd = %q, want /", r.cwd)
	}
}

func TestListenPID(t *testing.T) {
	s, _ := newTestSpawner(t)
	dir := probeDir(t)
	sp := probeSpec(dir)
	sp.ListenFDName = "svc"
	conn, _ := socketpair(t)
	r, _ := probe(t, s, sp, dir, Files{Stdin: -1, Stdout: -1, Extra: conn, Stderr: StderrNull})
	want := []string{"A=1", "B=two words", "LISTEN_FDS=1", "LISTEN_FDNAMES=svc", "LISTEN_PID=" + strconv.Itoa(r.pid)}
	if !slices.Equal(r.environ, want) {
		t.Errorf("environ = %q, want %q", r.environ, want)
	}
}

func TestRlimits(t *testing.T) {
	s, _ := newTestSpawner(t)
	tests := []struct {
		name      string
		rlimits   []Rlimit
		row       string
		soft, hrd string
	}{
		{"nofile", []Rlimit{{unix.RLIMIT_NOFILE, 100, 200}}, "Max open files", "100", "200"},
		{"cpu", []Rlimit{{unix.RLIMIT_CPU, 30, 40}}, "Max cpu time", "30", "40"},
		{"as", []Rlimit{{unix.RLIMIT_AS, 512 << 20, 512 << 20}}, "Max address space", "536870912", "536870912"},
		{"nproc", []Rlimit{{unix.RLIMIT_NPROC, 64, 64}}, "Max processes", "64", "64"},
	}
	var cur unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MSGQUEUE, &cur); err != nil {
		t.Fatal(err)
	}
	// Raising a hard limit needs CAP_SYS_RESOURCE in the initial user
	// namespace: try it on this process (and put it back).
	canRaise := cur.Max != unix.RLIM_INFINITY &&
		unix.Setrlimit(unix.RLIMIT_MSGQUEUE, &unix.Rlimit{Cur: cur.Cur, Max: cur.Max + 1}) == nil
	if canRaise {
		if err := unix.Setrlimit(unix.RLIMIT_MSGQUEUE, &cur); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Log("raising a hard limit is not permitted here (needs CAP_SYS_RESOURCE in the initial user namespace): not tested")
	}
	if canRaise {
		up := strconv.FormatUint(cur.Max*2, 10)
		tests = append(tests, struct {
			name      string
			rlimits   []Rlimit
			row       string
			soft, hrd string
		}{"raise hard (root)", []Rlimit{{unix.RLIMIT_MSGQUEUE, cur.Max * 2, cur.Max * 2}}, "Max msgqueue size", up, up})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := probeDir(t)
			sp := probeSpec(dir)
			sp.Rlimits = tt.rlimits
			r, _ := probe(t, s, sp, dir, devNullFiles)
			if soft, hard := r.limit(t, tt.row); soft != tt.soft || hard != tt.hrd {
				t.Errorf("%s = %s/%s, want %s/%s", tt.row, soft, hard, tt.soft, tt.hrd)
			}
		})
	}
	t.Run("unset nofile is the process's start-up value", func(t *testing.T) {
		dir := probeDir(t)
		sp := probeSpec(dir)
		sp.Rlimits = []Rlimit{{unix.RLIMIT_CPU, 30, 40}}
		r, _ := probe(t, s, sp, dir, devNullFiles)
		dir2 := probeDir(t)
		r2, _ := probe(t, s, probeSpec(dir2), dir2, devNullFiles)
		s1, h1 := r.limit(t, "Max open files")
		s2, h2 := r2.limit(t, "Max open files")
		if s1 != s2 || h1 != h2 {
			t.Errorf("helper nofile = %s/%s, plain = %s/%s, want equal", s1, h1, s2, h2)
		}
	})
}

func TestUmaskNice(t *testing.T) {
	s, _ := newTestSpawner(t)
	own := fmt.Sprintf("%04o", s.umask)
	tests := []struct {
		name      string
		umask     int
		nice      int
		setNice   bool
		rlimits   []Rlimit
		want      path
		wantUmask string
		wantNice  string
	}{
		{"leave", -1, 0, false, nil, pathPlain, own, strconv.Itoa(s.nice)},
		{"same umask same nice", s.umask, s.nice, true, nil, pathPlain, own, strconv.Itoa(s.nice)},
		{"umask", 0o077, 0, false, nil, pathThread, "0077", strconv.Itoa(s.nice)},
		{"nice", -1, 7, true, nil, pathThread, own, "7"},
		{"both", 0o002, 5, true, nil, pathThread, "0002", "5"},
		{"helper", 0o027, 3, true, []Rlimit{{unix.RLIMIT_CORE, 0, 0}}, pathHelper, "0027", "3"},
		{"clone leave", -1, 0, false, nil, pathClone, own, strconv.Itoa(s.nice)},
		{"clone", 0o077, 7, true, nil, pathClone, "0077", "7"},
		{"clone with rlimits", 0o027, 3, true, []Rlimit{{unix.RLIMIT_CORE, 0, 0}}, pathClone, "0027", "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.cloneOff.Store(tt.want != pathClone)
			dir := probeDir(t)
			sp := probeSpec(dir)
			sp.Umask, sp.Nice, sp.SetNice, sp.Rlimits = tt.umask, tt.nice, tt.setNice, tt.rlimits
			if got, want := s.pathFor(sp), wantPath(t, s, tt.want); got != want {
				t.Errorf("pathFor = %d, want %d", got, want)
			}
			r, _ := probe(t, s, sp, dir, devNullFiles)
			if r.status["Umask"] != tt.wantUmask {
				t.Errorf("umask = %s, want %s", r.status["Umask"], tt.wantUmask)
			}
			if r.stat[16] != tt.wantNice { // field 19 of /proc/PID/stat
				t.Errorf("nice = %s, want %s", r.stat[16], tt.wantNice)
			}
		})
	}
	// The spawning goroutines' threads are gone: the process keeps its own.
	if got := syscall.Umask(0o22); got != s.umask {
		t.Errorf("process umask after spawns = %04o, want %04o", got, s.umask)
	}
	syscall.Umask(s.umask)
	if prio, _ := unix.Getpriority(unix.PRIO_PROCESS, 0); 20-prio != s.nice {
		t.Errorf("nice after spawns = %d, want %d", 20-prio, s.nice)
	}
}

func TestCredentials(t *testing.T) {
	needRoot(t)
	s, _ := newTestSpawner(t)
	for _, p := range pathsOn(s) {
		for _, groups := range [][]uint32{nil, {100, 65534}} {
			t.Run(fmt.Sprintf("%s/groups=%v", p.name, groups), func(t *testing.T) {
				dir := probeDir(t)
				sp := probeSpec(dir)
				p.mod(sp)
				sp.Credential = &syscall.Credential{Uid: 65534, Gid: 65534, Groups: groups}
				r, _ := probe(t, s, sp, dir, devNullFiles)
				if got := r.status["Uid"]; got != "65534\t65534\t65534\t65534" {
					t.Errorf("Uid = %q, want 65534 (real, effective, saved, fs)", got)
				}
				if got := r.status["Gid"]; got != "65534\t65534\t65534\t65534" {
					t.Errorf("Gid = %q, want 65534", got)
				}
				var want []string
				for _, g := range groups {
					want = append(want, strconv.Itoa(int(g)))
				}
				if got := strings.Fields(r.status["Groups"]); !slices.Equal(got, want) {
					t.Errorf("Groups = %q, want %q (never superd's)", got, want)
				}
				for _, k := range []string{"CapInh", "CapAmb", "CapEff", "CapPrm"} {
					if r.status[k] != "0000000000000000" {
						t.Errorf("%s = %s, want 0", k, r.status[k])
					}
				}
			})
		}
	}
	t.Run("workdir checked as the user", func(t *testing.T) {
		dir := t.TempDir() // 0700 root
		priv := dir + "/x"
		if err := os.Mkdir(priv, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, p := range pathsOn(s) {
			sp := &Spec{Path: "/bin/true", Dir: priv, Umask: -1, Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			p.mod(sp)
			ch := make(chan Exit, 1)
			_, err := s.Start(sp, devNullFiles, "", func(e Exit) { ch <- e })
			if err != nil {
				// clone, plain and thread paths report EACCES from Start
				if p.want == pathClone && s.clone != nil && !strings.Contains(err.Error(), "chdir "+priv+": permission denied") {
					t.Errorf("clone: Start error = %v, want the chdir step's", err)
				}
				continue
			}
			if e := <-ch; e.Status.ExitStatus() != 127 {
				t.Errorf("%s: exit status = %v, want 127 from the helper", p.name, e.Status)
			}
		}
	})
}

func TestIgnoredSignalsReset(t *testing.T) {
	signal.Ignore(syscall.SIGPIPE, syscall.SIGHUP)
	defer signal.Reset(syscall.SIGPIPE, syscall.SIGHUP)
	if h, _ := sigHandler(int(syscall.SIGPIPE)); h != sigIGN {
		t.Fatalf("SIGPIPE not ignored in the test process")
	}
	s, _ := newTestSpawner(t)
	probeEach(t, s, func(t *testing.T, r report, _ path) {
		if r.status["SigIgn"] != "0000000000000000" || r.status["SigBlk"] != "0000000000000000" {
			t.Errorf("SigIgn, SigBlk = %s, %s, want 0, 0", r.status["SigIgn"], r.status["SigBlk"])
		}
	})
}

// ignoreSignal sets sig's disposition to SIG_IGN by hand, as a parent
// that is not a Go program can leave signals 32 and 33.
func ignoreSignal(t *testing.T, sig int) {
	t.Helper()
	var act kernelSigaction
	act.handler = sigIGN
	if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptrOf(&act), 0, 8, 0, 0); e != 0 {
		t.Fatalf("ignore signal %d: %v", sig, e)
	}
}

func TestStuckSignals(t *testing.T) {
	// Signal 33 left ignored by superd's parent: the runtime never takes
	// it over, so New resets it to SIG_DFL in superd itself and the plain
	// fork path stays usable.
	ignoreSignal(t, 33)
	defer setSigDefault(33)
	s, buf := newTestSpawner(t)
	if s.forceHelper != "" || strings.Contains(buf.String(), "through the exec helper") {
		t.Fatalf("forceHelper = %q, log %q: want the plain path", s.forceHelper, buf.String())
	}
	if h, err := sigHandler(33); err != nil || h != sigDFL {
		t.Fatalf("signal 33 handler = %d, %v after New, want SIG_DFL", h, err)
	}
	dir := probeDir(t)
	sp := probeSpec(dir)
	if s.clone != nil {
		if r, _ := probe(t, s, sp, dir, devNullFiles); r.status["SigIgn"] != "0000000000000000" {
			t.Errorf("clone path: SigIgn = %s, want 0", r.status["SigIgn"])
		}
	}
	s.cloneOff.Store(true)
	if got := s.pathFor(sp); got != pathPlain {
		t.Fatalf("pathFor = %d, want plain", got)
	}
	if r, _ := probe(t, s, sp, dir, devNullFiles); r.status["SigIgn"] != "0000000000000000" {
		t.Errorf("plain path: SigIgn = %s, want 0", r.status["SigIgn"])
	}

	// Ignored again behind superd's back: the helper still resets it.
	ignoreSignal(t, 33)
	s.forceHelper = "test"
	if got := s.pathFor(sp); got != pathHelper {
		t.Fatalf("pathFor = %d, want helper", got)
	}
	if r, _ := probe(t, s, sp, dir, devNullFiles); r.status["SigIgn"] != "0000000000000000" {
		t.Errorf("helper path: SigIgn = %s, want 0", r.status["SigIgn"])
	}
	if s.clone == nil {
		return
	}
	// The clone child resets the signals New found stuck.
	s.clone.ignored = []syscall.Signal{33}
	s.cloneOff.Store(false)
	if r, _ := probe(t, s, sp, dir, devNullFiles); r.status["SigIgn"] != "0000000000000000" {
		t.Errorf("clone path: SigIgn = %s, want 0", r.status["SigIgn"])
	}
}

func TestTimeout(t *testing.T) {
	s, _ := newTestSpawner(t)
	sp := &Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", `trap "" TERM; /bin/sleep 60; exit 0`}, Umask: -1,
		Timeout: 200 * time.Millisecond, KillDelay: 300 * time.Millisecond}
	start := time.Now()
	_, e := run(t, s, sp, devNullFiles)
	if !e.TimedOut {
		t.Errorf("TimedOut = false, want true")
	}
	if !e.Status.Signaled() || e.Status.Signal() != syscall.SIGKILL {
		t.Errorf("status = %v, want killed by SIGKILL", e.Status)
	}
	if d := time.Since(start); d < 500*time.Millisecond || d > 5*time.Second {
		t.Errorf("took %v, want about 500ms", d)
	}
	if e.Duration < 500*time.Millisecond {
		t.Errorf("Exit.Duration = %v, want >= 500ms", e.Duration)
	}

	// A handler that honours SIGTERM stops at the first signal.
	sp2 := &Spec{Path: "/bin/sleep", Argv: []string{"sleep", "60"}, Umask: -1, Timeout: 100 * time.Millisecond}
	_, e = run(t, s, sp2, devNullFiles)
	if !e.TimedOut || !e.Status.Signaled() || e.Status.Signal() != syscall.SIGTERM {
		t.Errorf("exit = %+v (status %v), want timed out by SIGTERM", e, e.Status)
	}
	if got := s.Stats().TimedOut; got != 2 {
		t.Errorf("Stats().TimedOut = %d, want 2", got)
	}
}

func TestSignalAndDone(t *testing.T) {
	s, _ := newTestSpawner(t)
	ch := make(chan Exit, 1)
	h, err := s.Start(&Spec{Path: "/bin/sleep", Argv: []string{"sleep", "60"}, Umask: -1}, devNullFiles, "1.2.3.4:5", func(e Exit) { ch <- e })
	if err != nil {
		t.Fatal(err)
	}
	if h.Remote() != "1.2.3.4:5" {
		t.Errorf("Remote() = %q", h.Remote())
	}
	if got := s.Running(); got != 1 {
		t.Errorf("Running() = %d, want 1", got)
	}
	if err := h.Signal(syscall.SIGUSR1); err != nil {
		t.Fatalf("Signal: %v", err)
	}
	e := <-ch
	if !e.Status.Signaled() || e.Status.Signal() != syscall.SIGUSR1 || e.TimedOut {
		t.Errorf("exit = %+v, status %v, want SIGUSR1", e, e.Status)
	}
	if err := h.Signal(syscall.SIGTERM); err != os.ErrProcessDone {
		t.Errorf("Signal after exit = %v, want os.ErrProcessDone", err)
	}
	waitFor(t, time.Second, "Running() == 0", func() bool { return s.Running() == 0 })
}

func TestEscapedChildReaped(t *testing.T) {
	s, buf := newTestSpawner(t)
	s.mu.Lock()
	s.escapeAfter = 300 * time.Millisecond
	s.mu.Unlock()
	// The background process leaves the handler's session (and group), so
	// it is no longer the handler's: the handler is not waited for.
	// (sh waits a moment so that setsid has run before it exits.)
	sp := &Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", "/usr/bin/setsid /bin/sleep 0.5 & /bin/sleep 0.1; exit 3"}, Umask: -1}
	_, e := run(t, s, sp, devNullFiles)
	if e.Status.ExitStatus() != 3 {
		t.Errorf("exit status = %v, want 3", e.Status)
	}
	if e.Duration > 400*time.Millisecond {
		t.Errorf("Exit.Duration = %v, want the handler finished at once (not waiting for the setsid'd sleep)", e.Duration)
	}
	waitFor(t, 5*time.Second, "the escapee log record", func() bool {
		return strings.Contains(buf.String(), `msg="reaped escaped process"`)
	})
	if z := zombies(t); len(z) > 0 {
		t.Errorf("zombie children: %v", z)
	}
	if got := s.Stats().Escaped; got != 1 {
		t.Errorf("Stats().Escaped = %d, want 1", got)
	}
}

func TestStartFailure(t *testing.T) {
	s, buf := newTestSpawner(t)
	s.mu.Lock()
	s.escapeAfter = 100 * time.Millisecond
	s.mu.Unlock()
	for _, p := range pathsOn(s) {
		sp := &Spec{Path: "/nonexistent/prog", Umask: -1}
		p.mod(sp)
		ch := make(chan Exit, 1)
		_, err := s.Start(sp, devNullFiles, "", func(e Exit) { ch <- e })
		if wantPath(t, s, p.want) == pathHelper {
			if err != nil {
				t.Fatalf("%s: Start: %v", p.name, err)
			}
			if e := <-ch; e.Status.ExitStatus() != 127 {
				t.Errorf("%s: exit = %v, want 127", p.name, e.Status)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "/nonexistent/prog") {
			t.Errorf("%s: Start error = %v, want one naming the program", p.name, err)
		}
	}
	time.Sleep(400 * time.Millisecond)
	if strings.Contains(buf.String(), "escaped") {
		t.Errorf("a failed exec was logged as an escapee:\n%s", buf.String())
	}
	if got := s.Running(); got != 0 {
		t.Errorf("Running() = %d, want 0", got)
	}
	if z := zombies(t); len(z) > 0 {
		t.Errorf("zombie children: %v", z)
	}
	if _, err := s.Start(&Spec{Path: "/bin/true", Umask: -1, Rlimits: []Rlimit{{}}}, devNullFiles, "", nil); err != nil {
		t.Logf("bad rlimit: %v", err) // resource 0 (CPU) 0/0: fine either way
	}
	// A second Spawner reaps any child of the process: s's must be gone.
	waitFor(t, 10*time.Second, "the handler with a CPU limit of 0 to be reaped", func() bool { return s.Running() == 0 })
	s2, err := New(Options{NoClone: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Start(&Spec{Path: "/bin/true", Umask: -1, ListenFDName: "x"}, devNullFiles, "", nil); err == nil {
		t.Errorf("Start needing the helper without HelperPath succeeded")
	}
	if _, err := s2.Start(&Spec{Path: "/bin/true", Umask: -1, Credential: &syscall.Credential{NoSetGroups: true}}, devNullFiles, "", nil); err == nil {
		t.Errorf("Start with NoSetGroups succeeded")
	}
}

func TestStderrLog(t *testing.T) {
	s, buf := newTestSpawner(t)
	script := `printf 'plain\n'
printf 'esc\033[31m red\001\r\n'
printf 'forged msg=x level=ERROR\n'
/usr/bin/head -c 5000 /dev/zero | /usr/bin/tr '\0' a; echo
i=0; while [ $i -lt 300 ]; do echo n$i; i=$((i+1)); done
printf 'tail-without-newline'
`
	sp := &Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", script}, Umask: -1, Service: "echo"}
	h, e := run(t, s, sp, Files{Stdin: -1, Stdout: -1, Extra: -1, Stderr: StderrLog, StdoutIsStderr: true})
	if e.Status.ExitStatus() != 0 {
		t.Fatalf("exit %v", e.Status)
	}
	waitFor(t, 5*time.Second, "the dropped-lines record", func() bool { return strings.Contains(buf.String(), "dropped=") })
	out := buf.String()
	pid := "pid=" + strconv.Itoa(h.Pid())
	for _, want := range []string{
		"msg=stderr service=echo " + pid + " line=plain\n",
		`line="esc\x1b[31m red\x01"` + "\n",
		`line="forged msg=x level=ERROR"` + "\n",
		`line=` + strings.Repeat("a", 4096) + " truncated=true\n",
		"line=n95\n",
		`msg="stderr lines dropped" service=echo ` + pid + " dropped=205\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Contains(out, "line=n96\n") || strings.Contains(out, "tail-without-newline") {
		t.Errorf("log has lines over the rate bound")
	}
	if n := strings.Count(out, "msg=stderr "); n != maxStderrRate {
		t.Errorf("%d stderr records, want %d", n, maxStderrRate)
	}
	if st := s.Stats(); st.StderrLines != 100 || st.StderrDropped != 205 {
		t.Errorf("Stats() lines, dropped = %d, %d, want 100, 205", st.StderrLines, st.StderrDropped)
	}
}

func TestStderrLineSplitting(t *testing.T) {
	rec := &recordHandler{}
	l := &stderrLog{s: &Spawner{}, log: newRecordLogger(rec)}
	for _, chunk := range []string{"ab", "c\nde", "f\n\n", strings.Repeat("x", 5000), "y\nz\r\n"} {
		l.write([]byte(chunk))
	}
	got := rec.lines()
	want := []string{"abc", "def", "", strings.Repeat("x", 4096), "z"}
	if !slices.Equal(got, want) {
		t.Errorf("lines = %q, want %q", got, want)
	}
}

func TestConcurrentSpawnsNoLeaks(t *testing.T) {
	s, _ := newTestSpawner(t)
	conn, _ := socketpair(t)
	before := countFDs(t)
	const n, workers = 200, 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	exits := 0
	var errs []error
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				sp := &Spec{Path: "/bin/true", Umask: -1}
				f := devNullFiles
				switch i % 4 {
				case 1:
					f = Files{Stdin: conn, Stdout: conn, Extra: -1, Stderr: StderrLog}
				case 2:
					sp.Umask = 0o077
				case 3:
					f = Files{Stdin: -1, Stdout: -1, Extra: conn, Stderr: StderrLog, StdoutIsStderr: true}
				}
				_, err := s.Start(sp, f, "", func(Exit) { mu.Lock(); exits++; mu.Unlock() })
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("Start errors: %v", errs)
	}
	waitFor(t, 20*time.Second, "every handler to exit", func() bool { return s.Running() == 0 })
	if exits != n {
		t.Errorf("onExit called %d times, want %d", exits, n)
	}
	// A pipe finished while another spawn was forking hangs up only once
	// that child has exec'd: the watcher closes it then.
	waitFor(t, 5*time.Second, "every stderr stream to close", func() bool { return s.stderr.open() == 0 })
	if after := countFDs(t); after != before {
		t.Errorf("open fds = %d after, %d before", after, before)
	}
	if z := zombies(t); len(z) > 0 {
		t.Errorf("zombie children: %v", z)
	}
	if st := s.Stats(); st.Started != n {
		t.Errorf("Stats().Started = %d, want %d", st.Started, n)
	}
}

func TestTerminateAll(t *testing.T) {
	s, _ := newTestSpawner(t)
	var mu sync.Mutex
	var got []Exit
	onExit := func(e Exit) { mu.Lock(); got = append(got, e); mu.Unlock() }
	quick := &Spec{Path: "/bin/sleep", Argv: []string{"sleep", "0.1"}, Umask: -1}
	slow := &Spec{Path: "/bin/sleep", Argv: []string{"sleep", "60"}, Umask: -1}
	stubborn := &Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", `trap "" TERM; /bin/sleep 60; exit 0`}, Umask: -1}
	for _, sp := range []*Spec{quick, slow, stubborn} {
		if _, err := s.Start(sp, devNullFiles, "", onExit); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond) // let sh set its trap
	start := time.Now()
	s.TerminateAll(300*time.Millisecond, 300*time.Millisecond)
	if d := time.Since(start); d < 600*time.Millisecond || d > 5*time.Second {
		t.Errorf("TerminateAll took %v, want about 600ms", d)
	}
	if s.Running() != 0 || len(got) != 3 {
		t.Fatalf("Running() = %d, exits = %d, want 0, 3", s.Running(), len(got))
	}
	sigs := map[string]int{}
	for _, e := range got {
		switch {
		case e.Status.Exited():
			sigs["exit"]++
		case e.Status.Signaled():
			sigs[e.Status.Signal().String()]++
		}
	}
	if sigs["exit"] != 1 || sigs[syscall.SIGTERM.String()] != 1 || sigs[syscall.SIGKILL.String()] != 1 {
		t.Errorf("exits = %v, want one each of exit, SIGTERM, SIGKILL", sigs)
	}
	if _, err := s.Start(quick, devNullFiles, "", nil); err == nil {
		t.Errorf("Start after TerminateAll succeeded")
	}
}

// wantPath is the path a spec should take: want, unless the process this
// test runs in carries state (a blocked or stuck-ignored signal, an
// inheritable capability) that sends every spawn through the helper.
func wantPath(t *testing.T, s *Spawner, want path) path {
	t.Helper()
	if want == pathClone {
		if s.clone == nil {
			t.Logf("no clone path here: the ForkExec paths stand in")
			return pathHelper
		}
		return pathClone
	}
	if s.forceHelper != "" {
		t.Logf("every spawn goes through the exec helper here: %s", s.forceHelper)
		return pathHelper
	}
	return want
}

// TestCloneFallback: a clone3 the kernel refuses as invalid (as Linux
// before 5.5 refuses CLONE_CLEAR_SIGHAND) sends this spawn and every later
// one through syscall.ForkExec, with one warning.
func TestCloneFallback(t *testing.T) {
	s, buf := newTestSpawner(t)
	if s.clone == nil {
		t.Skip("no clone path here")
	}
	if s.LaunchWaits() {
		t.Errorf("LaunchWaits with the clone path")
	}
	s.clone.flags |= 1 << 62 // no such flag: EINVAL
	dir := probeDir(t)
	sp := probeSpec(dir)
	sp.Rlimits = []Rlimit{{unix.RLIMIT_CORE, 0, 0}}
	for i := range 2 {
		r, _ := probe(t, s, sp, dir, devNullFiles) // fails the test unless it exits 0
		if soft, hard := r.limit(t, "Max core file size"); soft != "0" || hard != "0" {
			t.Errorf("spawn %d: core limit %s/%s, want 0/0 through the exec helper", i, soft, hard)
		}
	}
	if !s.cloneOff.Load() || s.pathFor(sp) == pathClone || !s.LaunchWaits() {
		t.Errorf("clone path still chosen after EINVAL")
	}
	if n := strings.Count(buf.String(), "handlers start through syscall.ForkExec from now on"); n != 1 {
		t.Errorf("%d fallback warnings, want 1:\n%s", n, buf.String())
	}
}
