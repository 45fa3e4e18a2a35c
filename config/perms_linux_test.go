package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFiles(t *testing.T) {
	t.Run("only *.hcl not hidden, in bytewise order", func(t *testing.T) {
		dir := writeDir(t, map[string]string{
			"b.hcl":            strings.Replace(strings.Replace(builtinSvc(""), `"a"`, `"b"`, 1), "7001", "7002", 1),
			"B.hcl":            strings.Replace(strings.Replace(builtinSvc(""), `"a"`, `"c"`, 1), "7001", "7003", 1),
			"a.hcl":            builtinSvc(""),
			".hidden.hcl":      "garbage",
			"x.hcl~":           "garbage",
			"x.hcl.dpkg-old":   "garbage",
			"README":           "garbage",
			"notes.hcl.sample": "garbage",
		})
		cfg, lines := load(t, dir, userOpts())
		if cfg == nil {
			t.Fatal(lines)
		}
		var names, files []string
		for _, s := range cfg.Services {
			names = append(names, s.Name)
		}
		for _, f := range cfg.Files {
			files = append(files, filepath.Base(f))
		}
		if got, want := fmt.Sprint(files, names), "[B.hcl a.hcl b.hcl] [c a b]"; got != want {
			t.Errorf("files, services = %s, want %s", got, want)
		}
	})
	t.Run("duplicates across files", func(t *testing.T) {
		dir := writeDir(t, map[string]string{
			"a.hcl": "daemon {}\ndefaults {}\n" + builtinSvc(""),
			"b.hcl": "\ndaemon {}\ndefaults {}\n" + strings.Replace(builtinSvc(""), "7001", "7002", 1),
		})
		_, got := load(t, dir, userOpts())
		checkLines(t, got, []string{
			`b.hcl:2:1: duplicate daemon block (the first is at a.hcl:1:1)`,
			`b.hcl:3:1: duplicate defaults block (the first is at a.hcl:2:1)`,
			`b.hcl:4:9: duplicate service "a" (the first is at a.hcl:3:9)`,
		})
	})
	t.Run("all errors of all files, sorted", func(t *testing.T) {
		dir := writeDir(t, map[string]string{
			"b.hcl": svc("  nice = 99\n  mode = \"x\"\n"),
			"a.hcl": "service \"a\" {\n  listen = [\n",
			"c.hcl": "x = 1\n",
		})
		_, got := load(t, dir, userOpts())
		checkLines(t, got, []string{`a.hcl:3:1: Missing expression`, `b.hcl:4:10: service "a": nice`, `b.hcl:5:10: service "a": mode`, `c.hcl:1:1: unknown attribute "x"`})
	})
	t.Run("empty directory", func(t *testing.T) {
		cfg, lines := load(t, t.TempDir(), userOpts())
		if cfg == nil || len(cfg.Services) != 0 || len(cfg.Warnings) != 1 {
			t.Errorf("Load(empty) = %+v, %q; want no services and a warning", cfg, lines)
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nope")
		_, got := load(t, dir, userOpts())
		checkLines(t, got, []string{dir + ": lstat: no such file or directory"})
		if len(got) == 1 && !strings.HasPrefix(got[0], dir+": ") {
			t.Errorf("diagnostic %q does not start with %q", got[0], dir+": ")
		}
	})
	t.Run("dangling symlink", func(t *testing.T) {
		dir := writeDir(t, nil)
		if err := os.Symlink(filepath.Join(dir, "gone.conf"), filepath.Join(dir, "a.hcl")); err != nil {
			t.Fatal(err)
		}
		_, got := load(t, dir, userOpts())
		// load strips dir from the paths.
		checkLines(t, got, []string{"a.hcl: lstat gone.conf: no such file or directory"})
		if len(got) == 1 && !strings.HasPrefix(got[0], "a.hcl: ") {
			t.Errorf("diagnostic %q does not start with the link's path", got[0])
		}
	})
	t.Run("not a directory", func(t *testing.T) {
		dir := writeDir(t, map[string]string{"a.hcl": ""})
		_, got := load(t, filepath.Join(dir, "a.hcl"), userOpts())
		checkLines(t, got, []string{"a.hcl: not a directory"})
	})
}

// TestNonRegular checks a FIFO or directory named x.hcl is refused, and
// that Load does not block on the FIFO.
func TestNonRegular(t *testing.T) {
	dir := writeDir(t, map[string]string{"a.hcl": builtinSvc("")})
	if err := syscall.Mkfifo(filepath.Join(dir, "f.hcl"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "d.hcl"), 0o700); err != nil {
		t.Fatal(err)
	}
	done := make(chan []string, 1)
	go func() {
		_, got := load(t, dir, userOpts())
		done <- got
	}()
	select {
	case got := <-done:
		checkLines(t, got, []string{"d.hcl: not a regular file", "f.hcl: not a regular file"})
	case <-time.After(10 * time.Second):
		t.Fatal("Load blocked on a FIFO")
	}
}

func TestPermissions(t *testing.T) {
	uid := os.Geteuid()
	suffix := fmt.Sprintf("must be owned by root or uid %d and not group- or world-writable", uid)

	t.Run("group-writable file", func(t *testing.T) {
		dir := writeDir(t, map[string]string{"a.hcl": builtinSvc("")})
		chmod(t, filepath.Join(dir, "a.hcl"), 0o664)
		_, got := load(t, dir, userOpts())
		checkLines(t, got, []string{fmt.Sprintf("a.hcl: owned by uid %d and mode 0664: %s", uid, suffix)})
	})
	t.Run("world-writable config directory", func(t *testing.T) {
		dir := writeDir(t, map[string]string{"a.hcl": builtinSvc("")})
		chmod(t, dir, 0o777)
		_, got := load(t, dir, userOpts())
		checkLines(t, got, []string{fmt.Sprintf("%s: owned by uid %d and mode 0777: %s", dir, uid, suffix)})
	})
	t.Run("sticky config directory", func(t *testing.T) {
		dir := writeDir(t, map[string]string{"a.hcl": builtinSvc("")})
		chmod(t, dir, 0o1777)
		_, got := load(t, dir, userOpts())
		checkLines(t, got, []string{fmt.Sprintf("%s: owned by uid %d and mode 1777", dir, uid)})
	})
	t.Run("sticky directory on the way", func(t *testing.T) {
		top := t.TempDir()
		chmod(t, top, 0o1777)
		dir := filepath.Join(top, "conf")
		mkdir(t, dir)
		write(t, filepath.Join(dir, "a.hcl"), builtinSvc(""))
		if cfg, got := load(t, dir, userOpts()); cfg == nil {
			t.Errorf("Load = %q, want success", got)
		}
	})
	t.Run("group-writable directory on the way", func(t *testing.T) {
		top := t.TempDir()
		dir := filepath.Join(top, "conf")
		mkdir(t, dir)
		write(t, filepath.Join(dir, "a.hcl"), builtinSvc(""))
		chmod(t, top, 0o770)
		_, got := load(t, dir, userOpts())
		checkLines(t, got, []string{fmt.Sprintf("%s: owned by uid %d and mode 0770", top, uid)})
	})
	t.Run("other owner", func(t *testing.T) {
		o := userOpts()
		o.UID = uid + 1000 // the files are now someone else's
		if uid == 0 {
			o.UID = 1000
		}
		dir := writeDir(t, map[string]string{"a.hcl": builtinSvc("")})
		_, got := load(t, dir, o)
		if uid == 0 {
			if len(got) != 0 {
				t.Errorf("root-owned files = %q, want accepted", got)
			}
			return
		}
		if len(got) == 0 || !strings.Contains(strings.Join(got, "\n"), fmt.Sprintf("owned by uid %d", uid)) {
			t.Errorf("diagnostics = %q, want files owned by uid %d refused", got, uid)
		}
	})
	t.Run("symlink to a group-writable target", func(t *testing.T) {
		dir := writeDir(t, nil)
		other := t.TempDir()
		target := filepath.Join(other, "real.hcl")
		write(t, target, builtinSvc(""))
		chmod(t, target, 0o666)
		symlink(t, target, filepath.Join(dir, "a.hcl"))
		_, got := load(t, dir, userOpts())
		checkLines(t, got, []string{fmt.Sprintf("a.hcl (-> %s): owned by uid %d and mode 0666", target, uid)})
	})
	t.Run("symlink to a file in a group-writable directory", func(t *testing.T) {
		dir := writeDir(t, nil)
		other := t.TempDir()
		target := filepath.Join(other, "real.hcl")
		write(t, target, builtinSvc(""))
		chmod(t, other, 0o775)
		symlink(t, "../"+filepath.Base(other)+"/real.hcl", filepath.Join(dir, "a.hcl"))
		_, got := load(t, dir, userOpts())
		checkLines(t, got, []string{fmt.Sprintf("%s: owned by uid %d and mode 0775", other, uid)})
	})
	t.Run("good symlink", func(t *testing.T) {
		dir := writeDir(t, nil)
		target := filepath.Join(t.TempDir(), "real.hcl")
		write(t, target, builtinSvc(""))
		symlink(t, target, filepath.Join(dir, "a.hcl"))
		if cfg, got := load(t, dir, userOpts()); cfg == nil || len(cfg.Services) != 1 {
			t.Errorf("Load = %q, want one service", got)
		}
	})
	t.Run("symlink loop", func(t *testing.T) {
		dir := writeDir(t, nil)
		symlink(t, "b.hcl", filepath.Join(dir, "a.hcl"))
		symlink(t, "a.hcl", filepath.Join(dir, "b.hcl"))
		_, got := load(t, dir, userOpts())
		checkLines(t, got, []string{"a.hcl: too many levels of symbolic links", "b.hcl: too many levels of symbolic links"})
	})
	t.Run("symlink owned by another uid", func(t *testing.T) {
		if uid != 0 {
			t.Skip("needs root to lchown a symlink to another uid")
		}
		dir := writeDir(t, nil)
		target := filepath.Join(t.TempDir(), "real.hcl")
		write(t, target, builtinSvc(""))
		link := filepath.Join(dir, "a.hcl")
		symlink(t, target, link)
		if err := os.Lchown(link, 1234, 1234); err != nil {
			t.Fatal(err)
		}
		_, got := load(t, dir, userOpts())
		checkLines(t, got, []string{"a.hcl: symlink owned by uid 1234: must be owned by root or uid 0"})
	})
	t.Run("command", func(t *testing.T) {
		bin := t.TempDir()
		cmd := filepath.Join(bin, "handler")
		write(t, cmd, "#!/bin/sh\n")
		chmod(t, cmd, 0o775)
		_, got := loadOne(t, "service \"a\" {\n  listen = [\":7001\"]\n  command = [\""+cmd+"\"]\n}\n", userOpts())
		checkLines(t, got, []string{fmt.Sprintf(`a.hcl:3:14: service "a": command[0]: %s: owned by uid %d and mode 0775`, cmd, uid)})

		chmod(t, cmd, 0o755)
		chmod(t, bin, 0o777)
		_, got = loadOne(t, "service \"a\" {\n  listen = [\":7001\"]\n  command = [\""+cmd+"\"]\n}\n", userOpts())
		checkLines(t, got, []string{fmt.Sprintf(`a.hcl:3:14: service "a": command[0]: %s: owned by uid %d and mode 0777`, bin, uid)})

		chmod(t, bin, 0o755)
		chmod(t, cmd, 0o644)
		_, got = loadOne(t, "service \"a\" {\n  listen = [\":7001\"]\n  command = [\""+cmd+"\"]\n}\n", userOpts())
		checkLines(t, got, []string{fmt.Sprintf(`a.hcl:3:14: service "a": command[0]: %s: mode 0644: not executable`, cmd)})

		// A disabled service's command is not checked.
		mustLoad(t, "service \"a\" {\n  listen = [\":7001\"]\n  command = [\"/nonexistent\"]\n  disabled = true\n}\n", userOpts())
	})
	t.Run("command symlink", func(t *testing.T) {
		bin := t.TempDir()
		cmd := filepath.Join(bin, "handler")
		write(t, cmd, "#!/bin/sh\n")
		chmod(t, cmd, 0o777)
		symlink(t, cmd, filepath.Join(bin, "link"))
		_, got := loadOne(t, "service \"a\" {\n  listen = [\":7001\"]\n  command = [\""+filepath.Join(bin, "link")+"\"]\n}\n", userOpts())
		checkLines(t, got, []string{fmt.Sprintf(`a.hcl:3:14: service "a": command[0]: %s (-> %s): owned by uid %d and mode 0777`, filepath.Join(bin, "link"), cmd, uid)})
	})
	t.Run("unix socket directory", func(t *testing.T) {
		top := t.TempDir()
		src := func(p string) string {
			return "service \"a\" {\n  protocol = \"unix\"\n  listen = [\"" + p + "\"]\n  builtin = \"echo\"\n}\n"
		}
		mustLoad(t, src(filepath.Join(top, "x.sock")), userOpts())
		mustLoad(t, src(filepath.Join(top, "new", "sub", "x.sock")), userOpts()) // nearest existing: top
		chmod(t, top, 0o1777)
		_, got := loadOne(t, src(filepath.Join(top, "x.sock")), userOpts())
		checkLines(t, got, []string{fmt.Sprintf(`a.hcl:3:13: service "a": listen: %s: owned by uid %d and mode 1777`, top, uid)})
		_, got = loadOne(t, src(filepath.Join(top, "new", "x.sock")), userOpts())
		checkLines(t, got, []string{fmt.Sprintf(`a.hcl:3:13: service "a": listen: %s: owned by uid %d and mode 1777`, top, uid)})
	})
}

func chmod(t *testing.T, p string, m os.FileMode) {
	t.Helper()
	mode := m.Perm()
	if m&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
