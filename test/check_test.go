package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// lineOf is the 1-based number of the first line of content containing
// marker, or 0.
func lineOf(content, marker string) int {
	for i, l := range strings.Split(content, "\n") {
		if strings.Contains(l, marker) {
			return i + 1
		}
	}
	return 0
}

// diagLines finds "FILE:LINE:COL: message" diagnostics for the base name
// file in out and returns their line numbers.
func diagLines(out, file string) []int {
	re := regexp.MustCompile(`(?m)(?:^|[/\s])` + regexp.QuoteMeta(file) + `:(\d+):(\d+): \S`)
	var lines []int
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		lines = append(lines, n)
	}
	return lines
}

// pos is an acceptable error position: the line of file holding marker.
type pos struct{ file, marker string }

func TestCheckValid(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"10-echo.hcl": service("echo",
			`listen  = ["127.0.0.1:0"]`,
			`user    = "`+svcUser+`"`,
			`command = ["/bin/cat"]`),
		"20-more.hcl": `defaults {
  limits { instances = 10 }
}
` + service("daytime",
			`builtin = "daytime"`,
			`listen  = ["127.0.0.1:0", "[::1]:0"]`) +
			service("udpcat",
				`protocol = "udp"`,
				`listen   = ["127.0.0.1:0"]`,
				`user     = "`+svcUser+`"`,
				`command  = ["/bin/cat"]`) +
			service("off",
				`disabled = true`,
				`listen   = ["127.0.0.1:0"]`,
				`user     = "`+svcUser+`"`,
				`command  = ["/bin/cat"]`),
		"ignored.hcl~":   "this is not HCL {",
		".hidden.hcl":    "neither is this {",
		"x.hcl.dpkg-old": "nor this {",
	}
	dir := writeConfig(t, files)
	stdout, stderr, code := runSuperd(t, 10*time.Second, "check", "-config", dir)
	if code != 0 {
		t.Fatalf("superd check exit code = %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, name := range []string{"echo", "daytime", "udpcat"} {
		if !strings.Contains(stdout, name) {
			t.Errorf("superd check table does not name service %q:\n%s", name, stdout)
		}
	}

	t.Run("json", func(t *testing.T) {
		stdout, stderr, code := runSuperd(t, 10*time.Second, "check", "-json", "-config", dir)
		if code != 0 {
			t.Fatalf("superd check -json exit code = %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		var v any
		if err := json.Unmarshal([]byte(stdout), &v); err != nil {
			t.Fatalf("superd check -json output is not JSON: %v\n%s", err, stdout)
		}
		for _, name := range []string{"echo", "daytime", "udpcat"} {
			if !strings.Contains(stdout, strconv.Quote(name)) {
				t.Errorf("superd check -json does not name service %q:\n%s", name, stdout)
			}
		}
	})
}

func TestCheckErrors(t *testing.T) {
	t.Parallel()
	const base = `listen  = ["127.0.0.1:0"]
  user    = "` + svcUser + `"
  command = ["/bin/cat"]`

	// Helpers for the permission cases, which build files on disk.
	scriptIn := func(t *testing.T, dir string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, "prog")
		if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mkdir := func(t *testing.T, mode os.FileMode) string {
		t.Helper()
		d := filepath.Join(t.TempDir(), "bin")
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
		// t.TempDir's own directory is 0700: let the chain be traversable.
		os.Chmod(filepath.Dir(d), 0o755)
		return d
	}

	tests := []struct {
		name  string
		files map[string]string
		// setup may change the files on disk and returns a path the
		// message must name ("" for none), and new files to write.
		setup func(t *testing.T, confDir string) (wantPath string)
		// cmd0 builds a command[0] on disk; its path replaces CMD0 in the files.
		cmd0 func(t *testing.T) string
		at   []pos // acceptable FILE:LINE positions; empty: a PATH: message is enough
	}{
		{
			name:  "unknown attribute",
			files: map[string]string{"a.hcl": service("a", base, `bogus   = 1`)},
			at:    []pos{{"a.hcl", "bogus"}},
		},
		{
			name:  "unknown block",
			files: map[string]string{"a.hcl": service("a", base, `frobnicate {`, `}`)},
			at:    []pos{{"a.hcl", "frobnicate"}},
		},
		{
			name:  "bad mode value",
			files: map[string]string{"a.hcl": service("a", base, `mode    = "sometimes"`)},
			at:    []pos{{"a.hcl", "sometimes"}},
		},
		{
			name:  "nice out of range",
			files: map[string]string{"a.hcl": service("a", base, `nice    = 42`)},
			at:    []pos{{"a.hcl", "nice"}},
		},
		{
			name:  "bad service name",
			files: map[string]string{"a.hcl": service("Bad.Name", base)},
			at:    []pos{{"a.hcl", "Bad.Name"}},
		},
		{
			name: "duplicate service across files",
			files: map[string]string{
				"a.hcl": service("dup", base),
				"b.hcl": "# second\n" + service("dup", base),
			},
			at: []pos{{"b.hcl", `service "dup"`}},
		},
		{
			name: "clashing addresses",
			files: map[string]string{
				"a.hcl": service("wild", `listen  = [":7079"]`, `user    = "`+svcUser+`"`, `command = ["/bin/cat"]`),
				"b.hcl": "\n\n" + service("narrow", `user    = "`+svcUser+`"`, `listen  = ["127.0.0.1:7079"]`, `command = ["/bin/cat"]`),
			},
			at: []pos{{"b.hcl", "127.0.0.1:7079"}, {"a.hcl", ":7079"}},
		},
		{
			name:  "command missing",
			files: map[string]string{"a.hcl": service("a", `listen  = ["127.0.0.1:0"]`, `user    = "`+svcUser+`"`, `command = ["/nonexistent/superd-test/prog"]`)},
			at:    []pos{{"a.hcl", "command"}},
		},
		{
			name:  "command not executable",
			files: map[string]string{"a.hcl": service("a", `listen  = ["127.0.0.1:0"]`, `user    = "`+svcUser+`"`, `command = ["CMD0"]`)},
			cmd0:  func(t *testing.T) string { return scriptIn(t, mkdir(t, 0o755), 0o644) },
			at:    []pos{{"a.hcl", "command"}},
		},
		{
			name:  "command in world-writable dir",
			files: map[string]string{"a.hcl": service("a", `listen  = ["127.0.0.1:0"]`, `user    = "`+svcUser+`"`, `command = ["CMD0"]`)},
			cmd0:  func(t *testing.T) string { return scriptIn(t, mkdir(t, 0o777), 0o755) },
			at:    []pos{{"a.hcl", "command"}},
		},
		{
			name:  "command group-writable",
			files: map[string]string{"a.hcl": service("a", `listen  = ["127.0.0.1:0"]`, `user    = "`+svcUser+`"`, `command = ["CMD0"]`)},
			cmd0:  func(t *testing.T) string { return scriptIn(t, mkdir(t, 0o755), 0o775) },
			at:    []pos{{"a.hcl", "command"}},
		},
		{
			name:  "command relative",
			files: map[string]string{"a.hcl": service("a", `listen  = ["127.0.0.1:0"]`, `user    = "`+svcUser+`"`, `command = ["cat"]`)},
			at:    []pos{{"a.hcl", "command"}},
		},
		{
			name:  "reserved env name",
			files: map[string]string{"a.hcl": service("a", base, `env     = { LANG = "C", REMOTE_ADDR = "x" }`)},
			at:    []pos{{"a.hcl", "REMOTE_ADDR"}},
		},
		{
			name:  "reserved pass_env name",
			files: map[string]string{"a.hcl": service("a", base, `pass_env = ["TZ", "LISTEN_FDS"]`)},
			at:    []pos{{"a.hcl", "LISTEN_FDS"}},
		},
		{
			name:  "reserved SUPERD_ env name",
			files: map[string]string{"a.hcl": service("a", base, `env     = { SUPERD_SERVICE = "x" }`)},
			at:    []pos{{"a.hcl", "SUPERD_SERVICE"}},
		},
		{
			name:  "bad CIDR",
			files: map[string]string{"a.hcl": service("a", base, `access {`, `  allow = ["10.0.0.0/33"]`, `}`)},
			at:    []pos{{"a.hcl", "10.0.0.0/33"}},
		},
		{
			name:  "host name in allow",
			files: map[string]string{"a.hcl": service("a", base, `access {`, `  allow = ["localhost"]`, `}`)},
			at:    []pos{{"a.hcl", "localhost"}},
		},
		{
			name:  "v4-mapped deny",
			files: map[string]string{"a.hcl": service("a", base, `access {`, `  deny = ["::ffff:10.0.0.1"]`, `}`)},
			at:    []pos{{"a.hcl", "::ffff:10.0.0.1"}},
		},
		{
			name:  "times equal ends",
			files: map[string]string{"a.hcl": service("a", base, `access {`, `  times = ["08:00-08:00"]`, `}`)},
			at:    []pos{{"a.hcl", "08:00-08:00"}},
		},
		{
			name:  "bad listen address",
			files: map[string]string{"a.hcl": service("a", `listen  = ["localhost:79"]`, `user    = "`+svcUser+`"`, `command = ["/bin/cat"]`)},
			at:    []pos{{"a.hcl", "localhost:79"}},
		},
		{
			name:  "builtin with command",
			files: map[string]string{"a.hcl": service("a", `listen  = ["127.0.0.1:0"]`, `builtin = "echo"`, `command = ["/bin/cat"]`)},
			at:    []pos{{"a.hcl", "command"}, {"a.hcl", "builtin"}},
		},
		{
			name:  "builtin with user",
			files: map[string]string{"a.hcl": service("a", `listen  = ["127.0.0.1:0"]`, `builtin = "echo"`, `user    = "nobody"`)},
			at:    []pos{{"a.hcl", "user"}, {"a.hcl", "builtin"}},
		},
		{
			name:  "stderr socket on udp",
			files: map[string]string{"a.hcl": service("a", `protocol = "udp"`, base, `stderr  = "socket"`)},
			at:    []pos{{"a.hcl", "stderr"}, {"a.hcl", "protocol"}},
		},
		{
			name:  "access on wait tcp",
			files: map[string]string{"a.hcl": service("a", base, `mode    = "wait"`, `access {`, `  allow = ["127.0.0.1"]`, `}`)},
			at:    []pos{{"a.hcl", "access {"}, {"a.hcl", "allow"}, {"a.hcl", "mode"}},
		},
		{
			name:  "instances on wait tcp",
			files: map[string]string{"a.hcl": service("a", base, `mode    = "wait"`, `limits {`, `  instances = 3`, `}`)},
			at:    []pos{{"a.hcl", "limits {"}, {"a.hcl", "instances"}, {"a.hcl", "mode"}},
		},
		{
			name:  "unknown user",
			files: map[string]string{"a.hcl": service("a", `listen  = ["127.0.0.1:0"]`, `user    = "no-such-user-superd"`, `command = ["/bin/cat"]`)},
			at:    []pos{{"a.hcl", "no-such-user-superd"}},
		},
		{
			name:  "HCL syntax error",
			files: map[string]string{"a.hcl": "\n\nservice \"a\" {\n  listen = [\n"},
			at:    []pos{{"a.hcl", ""}}, // any line of a.hcl
		},
		{
			name:  "group-writable config file",
			files: map[string]string{"a.hcl": service("a", base)},
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "a.hcl")
				if err := os.Chmod(p, 0o664); err != nil {
					t.Fatal(err)
				}
				return p
			},
		},
		{
			name:  "group-writable config dir",
			files: map[string]string{"a.hcl": service("a", base)},
			setup: func(t *testing.T, dir string) string {
				if err := os.Chmod(dir, 0o770); err != nil {
					t.Fatal(err)
				}
				return dir
			},
		},
		{
			name:  "world-writable sticky config dir",
			files: map[string]string{"a.hcl": service("a", base)},
			setup: func(t *testing.T, dir string) string {
				if err := os.Chmod(dir, 0o1777); err != nil {
					t.Fatal(err)
				}
				return dir
			},
		},
		{
			name:  "symlink to group-writable file",
			files: map[string]string{"a.hcl": service("a", base)},
			setup: func(t *testing.T, dir string) string {
				other := filepath.Join(filepath.Dir(dir), "elsewhere")
				if err := os.Mkdir(other, 0o755); err != nil {
					t.Fatal(err)
				}
				target := filepath.Join(other, "real.hcl")
				if err := os.WriteFile(target, []byte(service("linked", base)), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(target, 0o664); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, filepath.Join(dir, "b.hcl")); err != nil {
					t.Fatal(err)
				}
				return "real.hcl"
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := tc.files
			if tc.cmd0 != nil {
				p := tc.cmd0(t)
				files = map[string]string{}
				for k, v := range tc.files {
					files[k] = strings.ReplaceAll(v, "CMD0", p)
				}
			}
			dir := writeConfig(t, files)
			wantPath := ""
			if tc.setup != nil {
				wantPath = tc.setup(t, dir)
			}
			stdout, stderr, code := runSuperd(t, 10*time.Second, "check", "-config", dir)
			out := stdout + stderr
			if code != 1 {
				t.Errorf("superd check exit code = %d, want 1", code)
			}
			if wantPath != "" && !strings.Contains(out, wantPath) {
				t.Errorf("superd check output does not name %s", wantPath)
			}
			if len(tc.at) > 0 {
				found := false
				var want []string
				for _, p := range tc.at {
					line := lineOf(files[p.file], p.marker)
					want = append(want, fmt.Sprintf("%s:%d", p.file, line))
					for _, got := range diagLines(out, p.file) {
						if got == line || p.marker == "" {
							found = true
						}
					}
				}
				if !found {
					t.Errorf("superd check output has no FILE:LINE:COL: diagnostic at any of %v", want)
				}
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
				for name, c := range files {
					t.Logf("%s:\n%s", name, numbered(c))
				}
			}
		})
	}
}

func numbered(s string) string {
	var b strings.Builder
	for i, l := range strings.Split(s, "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, l)
	}
	return b.String()
}

func TestCheckReportsEveryError(t *testing.T) {
	t.Parallel()
	a := service("one", `listen  = ["127.0.0.1:0"]`, `user    = "`+svcUser+`"`, `command = ["/bin/cat"]`, `bogus   = true`) +
		service("two", `listen  = ["127.0.0.1:0"]`, `user    = "`+svcUser+`"`, `command = ["/bin/cat"]`, `pass    = "carrier-pigeon"`)
	b := "# b\n" + service("three", `listen  = ["127.0.0.1:0"]`, `user    = "`+svcUser+`"`, `command = ["/bin/cat"]`,
		`access {`, `  deny = ["192.168.0.0/40"]`, `}`)
	files := map[string]string{"a.hcl": a, "b.hcl": b}
	dir := writeConfig(t, files)
	stdout, stderr, code := runSuperd(t, 10*time.Second, "check", "-config", dir)
	out := stdout + stderr
	if code != 1 {
		t.Errorf("superd check exit code = %d, want 1", code)
	}
	for _, p := range []pos{{"a.hcl", "bogus"}, {"a.hcl", "carrier-pigeon"}, {"b.hcl", "192.168.0.0/40"}} {
		line := lineOf(files[p.file], p.marker)
		found := false
		for _, got := range diagLines(out, p.file) {
			found = found || got == line
		}
		if !found {
			t.Errorf("superd check output misses the error at %s:%d (%s)", p.file, line, p.marker)
		}
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
}

func TestCheckMissingConfigDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "nope")
	stdout, stderr, code := runSuperd(t, 10*time.Second, "check", "-config", dir)
	if code != 1 {
		t.Errorf("superd check -config %s exit code = %d, want 1\nstdout:\n%s\nstderr:\n%s", dir, code, stdout, stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	dir := writeConfig(t, map[string]string{})
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"check", "-no-such-flag"},
		{"run", "-config"},
		{"run", "-config", dir, "-bogus"},
		{"convert", "sendmail", "/dev/null"},
	} {
		stdout, stderr, code := runSuperd(t, 10*time.Second, args...)
		if code != 2 {
			t.Errorf("superd %q exit code = %d, want 2\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := runSuperd(t, 10*time.Second, "version")
	if code != 0 {
		t.Errorf("superd version exit code = %d, want 0 (stderr %q)", code, stderr)
	}
	if strings.TrimSpace(stdout) == "" {
		t.Errorf("superd version printed nothing on stdout (stderr %q)", stderr)
	}
}
