package spawner

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestMain lets the test binary act as the exec helper.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == HelperArg {
		HelperMain(os.Args)
	}
	os.Exit(m.Run())
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newTestSpawner starts a Spawner whose helper is this test binary and
// whose log goes to the returned buffer.
func newTestSpawner(t testing.TB) (*Spawner, *syncBuffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	buf := &syncBuffer{}
	s, err := New(Options{HelperPath: exe, Logger: slog.New(slog.NewTextHandler(buf, nil))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		s.TerminateAll(0, time.Second)
		s.Close()
	})
	return s, buf
}

// run starts sp and waits for its exit.
func run(t testing.TB, s *Spawner, sp *Spec, f Files) (*Handler, Exit) {
	t.Helper()
	ch := make(chan Exit, 1)
	h, err := s.Start(sp, f, "test", func(e Exit) { ch <- e })
	if err != nil {
		t.Fatalf("Start(%s): %v", sp.Path, err)
	}
	select {
	case e := <-ch:
		return h, e
	case <-time.After(20 * time.Second):
		t.Fatalf("handler %d did not exit", h.Pid())
	}
	panic("unreachable")
}

// probeEach runs the probe on every path of s, each in a subtest, and
// hands its report to check.
func probeEach(t *testing.T, s *Spawner, check func(t *testing.T, r report, p path)) {
	for _, p := range pathsOn(s) {
		t.Run(p.name, func(t *testing.T) {
			dir := probeDir(t)
			sp := probeSpec(dir)
			p.mod(sp)
			r, _ := probe(t, s, sp, dir, devNullFiles)
			check(t, r, p.want)
		})
	}
}

// devNullFiles is a Files with every descriptor on /dev/null.
var devNullFiles = Files{Stdin: -1, Stdout: -1, Extra: -1, Stderr: StderrNull}

// probeScript makes /bin/sh write what it sees about itself into the
// directory $1: /proc status (read first, by a builtin: dash blocks every
// signal around each fork), its descriptor table (listed by a child
// without redirections, so the shell opens nothing meanwhile), stat,
// limits and environ, pid and cwd.
const probeScript = `d=$1
while IFS= read -r l; do printf '%s\n' "$l"; done < /proc/$$/status > $d/status
/usr/bin/find /proc/$$/fd -mindepth 1 -fprintf $d/fd '%f -> %l\n'
/bin/cat /proc/$$/stat > $d/stat
/bin/cat /proc/$$/limits > $d/limits
/bin/cat /proc/$$/environ > $d/environ
echo $$ > $d/pid
pwd > $d/cwd
true
`

// report is what the probe saw.
type report struct {
	pid     int
	fds     map[int]string // fd -> readlink target
	status  map[string]string
	stat    []string // fields after the command name: [0] is state, [1] ppid, ...
	limits  string
	environ []string
	cwd     string
}

// probeDir makes a directory any user can write, under a path any user
// can traverse.
func probeDir(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{filepath.Dir(d), d} {
		if err := os.Chmod(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// probeSpec is a Spec that runs probeScript writing into dir.
func probeSpec(dir string) *Spec {
	return &Spec{
		Path:    "/bin/sh",
		Argv:    []string{"sh", "-c", probeScript, "sh", dir},
		Env:     []string{"A=1", "B=two words"},
		Umask:   -1,
		Service: "probe",
	}
}

// probe runs sp (a probeSpec of dir) and reads its report.
func probe(t testing.TB, s *Spawner, sp *Spec, dir string, f Files) (report, Exit) {
	t.Helper()
	h, e := run(t, s, sp, f)
	if !e.Status.Exited() || e.Status.ExitStatus() != 0 {
		t.Fatalf("probe exit status = %v, want 0", e.Status)
	}
	if e.Pid != h.Pid() {
		t.Errorf("Exit.Pid = %d, want %d", e.Pid, h.Pid())
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("probe output: %v", err)
		}
		return string(b)
	}
	var r report
	r.pid, _ = strconv.Atoi(strings.TrimSpace(read("pid")))
	if r.pid != h.Pid() {
		t.Errorf("probe pid = %d, want Handler.Pid() %d", r.pid, h.Pid())
	}
	r.fds = map[int]string{}
	re := regexp.MustCompile(`^(\d+) -> (.*)$`)
	for _, l := range strings.Split(read("fd"), "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			r.fds[n] = m[2]
		}
	}
	r.status = map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(read("status")))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok {
			r.status[k] = strings.TrimSpace(v)
		}
	}
	st := read("stat")
	r.stat = strings.Fields(st[strings.LastIndexByte(st, ')')+1:])
	r.limits = read("limits")
	env := strings.TrimSuffix(read("environ"), "\x00")
	if env != "" {
		r.environ = strings.Split(env, "\x00")
	}
	r.cwd = strings.TrimSpace(read("cwd"))
	return r, e
}

// limit returns the soft and hard values of a /proc/PID/limits row.
func (r report) limit(t testing.TB, name string) (string, string) {
	t.Helper()
	for _, l := range strings.Split(r.limits, "\n") {
		if strings.HasPrefix(l, name) {
			f := strings.Fields(l[len(name):])
			return f[0], f[1]
		}
	}
	t.Fatalf("no %q in limits:\n%s", name, r.limits)
	return "", ""
}

// inode is the "socket:[N]"/"pipe:[N]" name of fd.
func inode(t testing.TB, kind string, fd int) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s:[%d]", kind, st.Ino)
}

// socketpair returns a connected pair, close-on-exec, closed at cleanup.
func socketpair(t testing.TB) (int, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

// zombies lists this process's children that are zombies.
func zombies(t testing.TB) []int {
	t.Helper()
	me := os.Getpid()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var z []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(me) {
			z = append(z, pid)
		}
	}
	return z
}

// countFDs counts this process's open descriptors.
func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents) - 1 // ReadDir's own
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch users")
	}
}

func uintptrOf(a *kernelSigaction) uintptr { return uintptr(unsafe.Pointer(a)) }
