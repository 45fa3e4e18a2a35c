package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// userOpts loads as an unprivileged superd running as the test's user:
// user and group are ignored, files owned by the test's user pass.
func userOpts() Options {
	return Options{Root: false, UID: os.Geteuid(), LookupEnv: func(string) (string, bool) { return "", false }}
}

// rootOpts loads as a superd that can switch users (Load needs no
// privilege for that: it only resolves names).
func rootOpts() Options {
	o := userOpts()
	o.Root = true
	return o
}

// writeDir writes files (name -> content) into a new temporary directory.
func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// load runs Load on dir and returns the formatted diagnostics with dir
// stripped from file names.
func load(t *testing.T, dir string, o Options) (*Config, []string) {
	t.Helper()
	cfg, diags := Load(dir, o)
	var lines []string
	for _, d := range diags {
		lines = append(lines, strings.ReplaceAll(FormatDiagnostic(d), dir+"/", ""))
	}
	if cfg == nil && len(lines) == 0 {
		t.Fatalf("Load(%s) = nil config and no diagnostics", dir)
	}
	if cfg != nil && diags.HasErrors() {
		t.Fatalf("Load(%s) = a config and errors %q", dir, lines)
	}
	return cfg, lines
}

// loadOne loads a single file a.hcl.
func loadOne(t *testing.T, src string, o Options) (*Config, []string) {
	t.Helper()
	return load(t, writeDir(t, map[string]string{"a.hcl": src}), o)
}

// mustLoad loads src and fails the test on any error.
func mustLoad(t *testing.T, src string, o Options) *Config {
	t.Helper()
	cfg, lines := loadOne(t, src, o)
	if cfg == nil {
		t.Fatalf("Load:\n%s\nerrors:\n%s", src, strings.Join(lines, "\n"))
	}
	return cfg
}

// checkLines checks that every want is a substring of its own line of
// got, in order, and that there are no other lines.
func checkLines(t *testing.T, got, want []string) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.Contains(got[i], want[i])
	}
	if !ok {
		t.Errorf("diagnostics =\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// svc wraps body into a valid service "a" on 127.0.0.1:7001 running
// /bin/cat; body starts on line 4.
func svc(body string) string {
	return "service \"a\" {\n  listen  = [\"127.0.0.1:7001\"]\n  command = [\"/bin/cat\"]\n" + body + "}\n"
}

// builtinSvc wraps body into a valid echo builtin; body starts on line 4.
func builtinSvc(body string) string {
	return "service \"a\" {\n  listen  = [\"127.0.0.1:7001\"]\n  builtin = \"echo\"\n" + body + "}\n"
}
