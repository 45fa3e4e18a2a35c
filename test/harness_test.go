// Package test holds black-box tests of the built superd binary: it builds
// ./cmd/superd once, runs it on loopback ports against configurations in
// t.TempDir(), and talks to it as a client would. Handlers are /bin/sh,
// /bin/cat, /bin/date and a small Go program (testdata/handler) that
// reports what it was given.
package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	superdBin  string // the built superd binary
	handlerBin string // the built testdata/handler program
	moduleRoot string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	root, err := findModuleRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "superd integration tests: %v\n", err)
		return 1
	}
	moduleRoot = root
	// A directory every user can traverse: handlers running as nobody
	// execute handlerBin, and superd checks the directories down to
	// command[0] (owned by root or by us, not group/world-writable).
	dir, err := os.MkdirTemp("", "superd-test-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "superd integration tests: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "superd integration tests: %v\n", err)
		return 1
	}
	superdBin = filepath.Join(dir, "superd")
	handlerBin = filepath.Join(dir, "handler")
	for _, b := range []struct{ out, pkg string }{
		{superdBin, "./cmd/superd"},
		{handlerBin, "./test/testdata/handler"},
	} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "superd integration tests: cannot build %s (%v); not running them:\n%s\n", b.pkg, err, out)
			return 1
		}
		if err := os.Chmod(b.out, 0o755); err != nil {
			fmt.Fprintf(os.Stderr, "superd integration tests: %v\n", err)
			return 1
		}
	}
	return m.Run()
}

func findModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test directory")
		}
		dir = parent
	}
}

func isRoot() bool { return os.Geteuid() == 0 }

// svcUser is the user every test service runs as. When the tests run as
// root superd requires one; when they do not, superd ignores it (with a
// warning) and handlers run as the test's own user.
const svcUser = "nobody"

// handlerUser is the account handlers really run as.
func handlerUser(t *testing.T) *user.User {
	t.Helper()
	name := svcUser
	if !isRoot() {
		u, err := user.Current()
		if err != nil {
			t.Fatalf("user.Current: %v", err)
		}
		return u
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("user.Lookup(%q): %v", name, err)
	}
	return u
}

// hclList renders argv as an HCL list of strings.
func hclList(argv ...string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// handlerCmd is an HCL command list running the test handler.
func handlerCmd(args ...string) string {
	return hclList(append([]string{handlerBin}, args...)...)
}

// shCmd is an HCL command list running a /bin/sh script (no "${" in it).
func shCmd(script string) string { return hclList("/bin/sh", "-c", script) }

// service renders one service block with the given body lines.
func service(name string, lines ...string) string {
	return fmt.Sprintf("service %q {\n  %s\n}\n", name, strings.Join(lines, "\n  "))
}

// fastDaemon keeps shutdowns short; startSuperd adds it unless the files
// have a daemon block of their own.
const fastDaemon = "daemon {\n  shutdown_grace = \"1s\"\n  kill_delay = \"1s\"\n}\n"

// writeConfig writes files into a fresh config directory (0700, files
// 0644) and returns its path.
func writeConfig(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "conf")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// logLine is one parsed line of superd's text (logfmt) log.
type logLine struct {
	Raw string
	KV  map[string]string
}

func (l logLine) Msg() string         { return l.KV["msg"] }
func (l logLine) Get(k string) string { return l.KV[k] }
func (l logLine) String() string      { return l.Raw }

// parseLogfmt parses slog TextHandler output: key=value pairs, values
// optionally Go-quoted.
func parseLogfmt(s string) map[string]string {
	m := map[string]string{}
	i := 0
	for i < len(s) {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) {
			break
		}
		var key string
		if s[i] == '"' {
			j := quotedEnd(s, i)
			key, _ = strconv.Unquote(s[i:j])
			i = j
		} else {
			j := i
			for j < len(s) && s[j] != '=' && s[j] != ' ' {
				j++
			}
			key = s[i:j]
			i = j
		}
		if i >= len(s) || s[i] != '=' {
			m[key] = ""
			continue
		}
		i++ // '='
		var val string
		if i < len(s) && s[i] == '"' {
			j := quotedEnd(s, i)
			v, err := strconv.Unquote(s[i:j])
			if err != nil {
				v = s[i:j]
			}
			val = v
			i = j
		} else {
			j := i
			for j < len(s) && s[j] != ' ' {
				j++
			}
			val = s[i:j]
			i = j
		}
		m[key] = val
	}
	return m
}

// quotedEnd returns the index just past the closing quote of the quoted
// string starting at s[i].
func quotedEnd(s string, i int) int {
	j := i + 1
	for j < len(s) {
		switch s[j] {
		case '\\':
			j += 2
			continue
		case '"':
			return j + 1
		}
		j++
	}
	return len(s)
}

// runOpts configures startSuperd beyond the files.
type runOpts struct {
	Args     []string // after "run -config DIR"
	Env      []string // added to the test's own environment
	WantExit int      // the exit code the cleanup expects (0)
	NoReady  bool     // do not wait for "ready"
	Setup    func(cmd *exec.Cmd)
}

// superd is a running superd process.
type superd struct {
	t    *testing.T
	cmd  *exec.Cmd
	Pid  int
	Dir  string
	Addr map[string][]string // service -> bound addresses, from "listening" lines

	mu      sync.Mutex
	lines   []logLine
	partial []byte
	notify  chan struct{} // closed and replaced whenever lines grows or the process exits
	stdout  bytes.Buffer

	done     chan struct{} // closed when the process has exited
	exitCode int
	exitErr  error
	wantExit int
}

// Write receives superd's stderr.
func (s *superd) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		raw := string(s.partial[:i])
		s.partial = s.partial[i+1:]
		s.lines = append(s.lines, logLine{Raw: raw, KV: parseLogfmt(raw)})
	}
	close(s.notify)
	s.notify = make(chan struct{})
	return len(p), nil
}

// startSuperd writes files into a config directory, runs "superd run"
// on it and waits for the "ready" line. A cleanup stops it with SIGTERM
// (SIGKILL after 15 s) and fails the test on an unexpected exit code.
func startSuperd(t *testing.T, files map[string]string, extraArgs ...string) *superd {
	t.Helper()
	return startSuperdOpts(t, files, runOpts{Args: extraArgs})
}

func startSuperdOpts(t *testing.T, files map[string]string, o runOpts) *superd {
	t.Helper()
	hasDaemon := false
	for _, c := range files {
		if strings.Contains(c, "daemon {") {
			hasDaemon = true
		}
	}
	if !hasDaemon {
		f := map[string]string{"00-daemon.hcl": fastDaemon}
		for k, v := range files {
			f[k] = v
		}
		files = f
	}
	dir := writeConfig(t, files)
	s := &superd{
		t:        t,
		Dir:      dir,
		Addr:     map[string][]string{},
		notify:   make(chan struct{}),
		done:     make(chan struct{}),
		wantExit: o.WantExit,
	}
	args := append([]string{"run", "-config", dir}, o.Args...)
	s.cmd = exec.Command(superdBin, args...)
	s.cmd.Env = append(os.Environ(), o.Env...)
	s.cmd.Stderr = s
	s.cmd.Stdout = &lockedWriter{mu: &s.mu, w: &s.stdout}
	s.cmd.WaitDelay = 3 * time.Second
	if o.Setup != nil {
		o.Setup(s.cmd)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start superd: %v", err)
	}
	s.Pid = s.cmd.Process.Pid
	go func() {
		err := s.cmd.Wait()
		s.mu.Lock()
		s.exitErr = err
		s.exitCode = s.cmd.ProcessState.ExitCode()
		close(s.notify)
		s.notify = make(chan struct{})
		s.mu.Unlock()
		close(s.done)
	}()
	t.Cleanup(s.stop)
	if o.NoReady {
		return s
	}
	if _, ok := s.waitLog(10*time.Second, func(l logLine) bool { return l.Msg() == "ready" }); !ok {
		t.Fatalf("superd did not log ready within 10s (exited: %v)\n%s", s.exited(), s.logText())
	}
	for _, l := range s.snapshot() {
		if l.Msg() == "listening" {
			s.Addr[l.Get("service")] = append(s.Addr[l.Get("service")], l.Get("addr"))
		}
	}
	return s
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// stop is the cleanup: SIGTERM, wait (SIGKILL after 15 s), check the exit code.
func (s *superd) stop() {
	t := s.t
	if !s.exited() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			t.Errorf("superd (pid %d) still running 15s after SIGTERM; killing it", s.Pid)
			s.cmd.Process.Kill()
			<-s.done
		}
	}
	if code := s.ExitCode(); code != s.wantExit {
		t.Errorf("superd exit code = %d (%v), want %d", code, s.exitErr, s.wantExit)
	}
	if t.Failed() {
		t.Logf("superd log:\n%s", s.logText())
	}
}

func (s *superd) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Wait waits up to d for superd to exit and reports whether it did.
func (s *superd) Wait(d time.Duration) bool {
	select {
	case <-s.done:
		return true
	case <-time.After(d):
		return false
	}
}

// ExitCode is superd's exit code, -1 while it runs or if it was killed.
func (s *superd) ExitCode() int {
	if !s.exited() {
		return -1
	}
	return s.exitCode
}

func (s *superd) Signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal superd: %v", err)
	}
}

func (s *superd) snapshot() []logLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]logLine(nil), s.lines...)
}

func (s *superd) logText() string {
	var b strings.Builder
	for _, l := range s.snapshot() {
		b.WriteString("  ")
		b.WriteString(l.Raw)
		b.WriteByte('\n')
	}
	s.mu.Lock()
	if len(s.partial) > 0 {
		fmt.Fprintf(&b, "  %s (no newline)\n", s.partial)
	}
	if s.stdout.Len() > 0 {
		fmt.Fprintf(&b, "stdout:\n%s\n", s.stdout.String())
	}
	s.mu.Unlock()
	return b.String()
}

// waitLog waits up to d for a log line (any so far, or a new one)
// matching pred.
func (s *superd) waitLog(d time.Duration, pred func(logLine) bool) (logLine, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	next := 0
	for {
		s.mu.Lock()
		lines := s.lines[next:]
		ch := s.notify
		s.mu.Unlock()
		for _, l := range lines {
			if pred(l) {
				return l, true
			}
		}
		next += len(lines)
		if s.exited() {
			// The last lines are in; one more pass happened above.
			s.mu.Lock()
			more := len(s.lines) > next
			s.mu.Unlock()
			if !more {
				return logLine{}, false
			}
			continue
		}
		select {
		case <-ch:
		case <-deadline.C:
			return logLine{}, false
		}
	}
}

// mustLog is waitLog failing the test on timeout.
func (s *superd) mustLog(d time.Duration, what string, pred func(logLine) bool) logLine {
	s.t.Helper()
	l, ok := s.waitLog(d, pred)
	if !ok {
		s.t.Fatalf("no log line %s within %v", what, d)
	}
	return l
}

// msgIs matches a log line by msg and key=value pairs.
func msgIs(msg string, kv ...string) func(logLine) bool {
	return func(l logLine) bool {
		if l.Msg() != msg {
			return false
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if l.Get(kv[i]) != kv[i+1] {
				return false
			}
		}
		return true
	}
}

// addr is the one bound address of service name.
func (s *superd) addr(name string) string {
	s.t.Helper()
	a := s.Addr[name]
	if len(a) != 1 {
		s.t.Fatalf("service %q: listening addresses %q, want exactly one", name, a)
	}
	return a[0]
}

// port is the port of the one bound address of name.
func (s *superd) port(name string) string {
	s.t.Helper()
	_, p, err := net.SplitHostPort(s.addr(name))
	if err != nil {
		s.t.Fatalf("service %q: %v", name, err)
	}
	return p
}

// runSuperd runs superd with args to completion (bounded) and returns
// stdout, stderr and the exit code.
func runSuperd(t *testing.T, timeout time.Duration, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, superdBin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("superd %q did not finish within %v\nstdout:\n%s\nstderr:\n%s", args, timeout, o.String(), e.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("superd %q: %v", args, err)
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}
