package config

import (
	"os/user"
	"strings"
	"testing"
)

func TestUsers(t *testing.T) {
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody in the user database")
	}
	t.Run("resolved", func(t *testing.T) {
		cfg := mustLoad(t, svc("  user = \"nobody\"\n"), rootOpts())
		s := cfg.Services[0]
		if !s.HasUser || s.User != "nobody" || s.Home != nobody.HomeDir || s.Shell == "" || len(s.Groups) == 0 {
			t.Errorf("service = %+v", s)
		}
		if g, _ := user.LookupGroupId(nobody.Gid); g != nil && (s.Group != g.Name || s.Groups[0] != s.GID) {
			t.Errorf("Group = %q %d, Groups = %v, want %s %s", s.Group, s.GID, s.Groups, g.Name, nobody.Gid)
		}
		if len(cfg.Warnings) != 0 {
			t.Errorf("Warnings = %q, want none", cfg.Warnings)
		}
	})
	t.Run("number", func(t *testing.T) {
		s := mustLoad(t, svc("  user = "+nobody.Uid+"\n  group = \"0\"\n  groups = false\n"), rootOpts()).Services[0]
		if s.User != "nobody" || s.GID != 0 || s.Group != "root" || s.Groups != nil {
			t.Errorf("service = %+v", s)
		}
	})
	t.Run("root warned", func(t *testing.T) {
		cfg := mustLoad(t, svc("  user = \"root\"\n"), rootOpts())
		if s := cfg.Services[0]; s.UID != 0 || !s.HasUser {
			t.Errorf("service = %+v", s)
		}
		if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], `a.hcl:4:10: service "a": handlers run as root`) {
			t.Errorf("Warnings = %q", cfg.Warnings)
		}
	})
	t.Run("required when root", func(t *testing.T) {
		_, got := loadOne(t, svc(""), rootOpts())
		checkLines(t, got, []string{`a.hcl:1:9: service "a": user: is required when superd runs as root`})
	})
	t.Run("builtin needs no user", func(t *testing.T) {
		mustLoad(t, builtinSvc(""), rootOpts())
	})
	t.Run("bad builtin needs no user", func(t *testing.T) {
		_, got := loadOne(t, "service \"a\" {\n  listen  = [\"127.0.0.1:7001\"]\n  builtin = null\n}\n", rootOpts())
		checkLines(t, got, []string{`a.hcl:3:13: service "a": builtin: must not be null`})
	})
	t.Run("missing", func(t *testing.T) {
		_, got := loadOne(t, svc("  user = \"no-such-user-x\"\n  group = \"no-such-group-x\"\n"), rootOpts())
		checkLines(t, got, []string{
			`a.hcl:4:10: service "a": user: no such user "no-such-user-x"`,
			`a.hcl:5:11: service "a": group: no such group "no-such-group-x"`,
		})
		_, got = loadOne(t, svc("  user = \"nobody\"\n  group = \"no-such-group-x\"\n"), rootOpts())
		checkLines(t, got, []string{`a.hcl:5:11: service "a": group: no such group "no-such-group-x"`})
		_, got = loadOne(t, svc("  user = 4000000000\n"), rootOpts())
		checkLines(t, got, []string{`a.hcl:4:10: service "a": user: no such user "4000000000"`})
	})
	t.Run("ignored when not root", func(t *testing.T) {
		cfg := mustLoad(t, svc("  user = \"nobody\"\n  group = \"root\"\n")+strings.Replace(strings.Replace(svc("  group = \"root\"\n"), `"a"`, `"b"`, 1), "7001", "7003", 1)+strings.Replace(strings.Replace(svc(""), `"a"`, `"c"`, 1), "7001", "7002", 1), userOpts())
		if len(cfg.Warnings) != 2 || !strings.Contains(cfg.Warnings[0], `a.hcl:4:10: service "a": user and group ignored`) ||
			!strings.Contains(cfg.Warnings[1], `a.hcl:10:11: service "b": user and group ignored`) {
			t.Errorf("Warnings = %q, want one for a and one for b", cfg.Warnings)
		}
		if s := cfg.Services[0]; s.HasUser || s.Groups != nil {
			t.Errorf("service = %+v, want no user switch", s)
		}
	})
	t.Run("must exist when not root", func(t *testing.T) {
		_, got := loadOne(t, svc("  user = \"no-such-user-x\"\n  group = \"no-such-group-x\"\n"), userOpts())
		checkLines(t, got, []string{
			`a.hcl:4:10: service "a": user: no such user "no-such-user-x"`,
			`a.hcl:5:11: service "a": group: no such group "no-such-group-x"`,
		})
	})
	t.Run("socket owner", func(t *testing.T) {
		dir := t.TempDir()
		src := "service \"a\" {\n  protocol = \"unix\"\n  listen = [\"" + dir + "/x.sock\"]\n  builtin = \"echo\"\n  socket {\n    owner = \"nobody\"\n    group = " + nobody.Gid + "\n  }\n}\n"
		so := mustLoad(t, src, rootOpts()).Services[0].Socket
		if so.Owner != "nobody" || so.UID != mustAtoi(t, nobody.Uid) || so.GID != mustAtoi(t, nobody.Gid) || so.Mode != 0o666 {
			t.Errorf("Socket = %+v", so)
		}
		cfg := mustLoad(t, src, userOpts())
		if so := cfg.Services[0].Socket; so.UID != -1 || so.GID != -1 || len(cfg.Warnings) != 1 {
			t.Errorf("not root: Socket = %+v, Warnings = %q", so, cfg.Warnings)
		}
		_, got := loadOne(t, strings.Replace(src, `"nobody"`, `"no-such-user-x"`, 1), rootOpts())
		checkLines(t, got, []string{`a.hcl:6:13: service "a": socket.owner: no such user "no-such-user-x"`})
	})
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
