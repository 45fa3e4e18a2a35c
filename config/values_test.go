package config

import (
	"encoding/json"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/superd-dev/superd/acl"
	"github.com/superd-dev/superd/listener"
)

// TestBuiltinDefaults checks the values a minimal service gets.
func TestBuiltinDefaults(t *testing.T) {
	cfg := mustLoad(t, svc(""), userOpts())
	if len(cfg.Files) != 1 || !strings.HasSuffix(cfg.Files[0], "/a.hcl") {
		t.Errorf("Files = %q, want [.../a.hcl]", cfg.Files)
	}
	wantDaemon := Daemon{LogFormat: "text", LogLevel: "info", ShutdownGrace: 10 * time.Second, KillDelay: 5 * time.Second}
	if cfg.Daemon != wantDaemon {
		t.Errorf("Daemon = %+v, want %+v", cfg.Daemon, wantDaemon)
	}
	s := cfg.Services[0]
	if s.Protocol != "tcp" || s.Mode != "nowait" || s.Pass != "stdio" || s.Stderr != "log" || s.Workdir != "/" ||
		s.Umask != 0o022 || s.Nice != 0 || s.Disabled || s.HasUser || s.Groups != nil {
		t.Errorf("service = %+v, want the defaults", s)
	}
	if want := (Socket{Backlog: 4096, UID: -1, GID: -1}); s.Socket != want {
		t.Errorf("Socket = %+v, want %+v", s.Socket, want)
	}
	if want := (Limits{Instances: 64, SourcePrefix4: 32, SourcePrefix6: 64}); s.Limits != want {
		t.Errorf("Limits = %+v, want %+v", s.Limits, want)
	}
	if s.UID != uint32(os.Geteuid()) || s.GID != uint32(os.Getgid()) || s.User == "" || s.Home == "" || s.Shell == "" {
		t.Errorf("user = %q %d:%d %q %q, want superd's own", s.User, s.UID, s.GID, s.Home, s.Shell)
	}
	if want := []string{"/bin/cat"}; !reflect.DeepEqual(s.Argv(), want) {
		t.Errorf("Argv() = %q, want %q", s.Argv(), want)
	}
}

// TestValues checks the valid side of each rule.
func TestValues(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		check func(t *testing.T, s Service)
	}{
		{"argv0", svc("  argv0 = \"in.catd\"\n"), func(t *testing.T, s Service) {
			if got := s.Argv(); !reflect.DeepEqual(got, []string{"in.catd"}) {
				t.Errorf("Argv() = %q", got)
			}
		}},
		{"umask 3 digits", svc("  umask = \"077\"\n"), func(t *testing.T, s Service) {
			if s.Umask != 0o077 {
				t.Errorf("Umask = %o, want 077", s.Umask)
			}
		}},
		{"umask 4 digits", svc("  umask = \"0027\"\n"), func(t *testing.T, s Service) {
			if s.Umask != 0o027 {
				t.Errorf("Umask = %o, want 027", s.Umask)
			}
		}},
		{"nice bounds", svc("  nice = -20\n"), func(t *testing.T, s Service) {
			if s.Nice != -20 {
				t.Errorf("Nice = %d", s.Nice)
			}
		}},
		{"env and pass_env", svc("  env = { PATH = \"/bin\", LANG = \"C\", HOME = \"/x\" }\n  pass_env = [\"TZ\", \"LC_ALL\"]\n"), func(t *testing.T, s Service) {
			if want := [][2]string{{"HOME", "/x"}, {"LANG", "C"}, {"PATH", "/bin"}}; !reflect.DeepEqual(s.Env, want) {
				t.Errorf("Env = %q, want %q", s.Env, want)
			}
			if want := []string{"TZ", "LC_ALL"}; !reflect.DeepEqual(s.PassEnv, want) {
				t.Errorf("PassEnv = %q, want %q", s.PassEnv, want)
			}
		}},
		{"udp wait with access", strings.Replace(svc("  mode = \"wait\"\n  pass = \"fd\"\n  access {\n    allow = [\"127.0.0.1\"]\n  }\n  limits {\n    rate = \"5/m\"\n  }\n"), "{\n", "{\n  protocol = \"udp\"\n", 1), func(t *testing.T, s Service) {
			if s.Mode != "wait" || s.Pass != "fd" || len(s.Access.Allow) != 1 || s.Limits.Rate != (acl.Rate{N: 5, Per: time.Minute}) || s.Limits.Instances != 0 {
				t.Errorf("service = %+v", s)
			}
		}},
		{"wait tcp timeout", svc("  mode = \"wait\"\n  limits {\n    timeout = \"1h\"\n    max_load = 2.5\n  }\n"), func(t *testing.T, s Service) {
			if s.Limits.Timeout != time.Hour || s.Limits.MaxLoad != 2.5 || s.Limits.Instances != 0 {
				t.Errorf("Limits = %+v", s.Limits)
			}
		}},
		{"access", svc("  access {\n    allow = [\"10.0.0.0/8\", \"2001:db8::/32\", \"127.0.0.1\"]\n    deny = [\"10.9.1.2/16\"]\n    times = [\"22:00-06:30\"]\n    deny_message = \"no\\r\\n\"\n  }\n"), func(t *testing.T, s Service) {
			want := Access{
				Allow:       []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("127.0.0.1/32")},
				Deny:        []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")},
				Times:       []acl.Window{{Start: 22 * 60, End: 6*60 + 30}},
				DenyMessage: "no\r\n",
			}
			if !reflect.DeepEqual(s.Access, want) {
				t.Errorf("Access = %+v, want %+v", s.Access, want)
			}
		}},
		{"limits", svc("  limits {\n    instances = 0\n    per_source = 8\n    source_prefix = [24, 48]\n    rate = \"50/s\"\n    per_source_rate = \"5/s\"\n    max_load = 4\n    timeout = \"10m\"\n    memory = \"512MiB\"\n    cpu = \"1500ms\"\n    files = 1024\n    processes = 64\n  }\n"), func(t *testing.T, s Service) {
			want := Limits{Instances: 0, PerSource: 8, SourcePrefix4: 24, SourcePrefix6: 48, Rate: acl.Rate{N: 50, Per: time.Second},
				PerSourceRate: acl.Rate{N: 5, Per: time.Second}, MaxLoad: 4, Timeout: 10 * time.Minute, Memory: 512 << 20, CPU: 2, Files: 1024, Processes: 64}
			if s.Limits != want {
				t.Errorf("Limits = %+v, want %+v", s.Limits, want)
			}
		}},
		{"sizes", svc("  limits {\n    memory = 4096\n  }\n"), func(t *testing.T, s Service) {
			if s.Limits.Memory != 4096 {
				t.Errorf("Memory = %d", s.Limits.Memory)
			}
		}},
		{"size KiB", svc("  limits {\n    memory = \"8KiB\"\n  }\n"), func(t *testing.T, s Service) {
			if s.Limits.Memory != 8192 {
				t.Errorf("Memory = %d", s.Limits.Memory)
			}
		}},
		{"size GiB", svc("  limits {\n    memory = \"2GiB\"\n  }\n"), func(t *testing.T, s Service) {
			if s.Limits.Memory != 2<<30 {
				t.Errorf("Memory = %d", s.Limits.Memory)
			}
		}},
		{"socket", svc("  socket {\n    backlog = 16\n    keepalive = true\n    nodelay = true\n    freebind = true\n  }\n"), func(t *testing.T, s Service) {
			if want := (Socket{Backlog: 16, Keepalive: true, NoDelay: true, FreeBind: true, UID: -1, GID: -1}); s.Socket != want {
				t.Errorf("Socket = %+v, want %+v", s.Socket, want)
			}
		}},
		{"builtin", builtinSvc("  limits {\n    timeout = \"5s\"\n    instances = 3\n  }\n"), func(t *testing.T, s Service) {
			if s.Builtin != "echo" || s.Command != nil || s.Pass != "" || s.Stderr != "" || s.User != "" || s.Limits.Timeout != 5*time.Second || s.Limits.Instances != 3 {
				t.Errorf("service = %+v", s)
			}
		}},
		{"stderr socket", svc("  stderr = \"socket\"\n"), func(t *testing.T, s Service) {
			if s.Stderr != "socket" {
				t.Errorf("Stderr = %q", s.Stderr)
			}
		}},
		{"disabled", svc("  disabled = true\n"), func(t *testing.T, s Service) {
			if !s.Disabled {
				t.Errorf("Disabled = false")
			}
		}},
		{"listen forms", "service \"a\" {\n  listen = [\"127.0.0.1:7001\", \"[::1]:7001\", \":7002\", \"[fe80::1%lo]:7003\"]\n  builtin = \"echo\"\n}\n", func(t *testing.T, s Service) {
			var got []string
			for _, a := range s.Listen {
				got = append(got, a.String())
			}
			if want := []string{"127.0.0.1:7001", "[::1]:7001", ":7002", "[fe80::1%lo]:7003"}; !reflect.DeepEqual(got, want) {
				t.Errorf("Listen = %q, want %q", got, want)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, mustLoad(t, tt.src, userOpts()).Services[0])
		})
	}
}

// TestDefaultsMerge checks the defaults {} block merges per attribute.
func TestDefaultsMerge(t *testing.T) {
	defaults := `defaults {
  user     = "nobody"
  env      = { LANG = "C" }
  pass_env = ["TZ"]
  umask    = "0077"
  stderr   = "null"
  workdir  = "/tmp"
  socket {
    backlog = 10
    mode    = "0600"
  }
  access {
    allow = ["10.0.0.0/8"]
    deny_message = "go away"
  }
  limits {
    instances = 5
    per_source = 2
    rate = "9/s"
    timeout = "1m"
    memory = "1GiB"
    files = 99
  }
}
`
	src := defaults + `
service "plain" {
  listen  = ["127.0.0.1:7001"]
  command = ["/bin/cat"]
}
service "override" {
  listen   = ["127.0.0.1:7002"]
  command  = ["/bin/cat"]
  env      = {}
  pass_env = []
  umask    = "022"
  limits {
    instances = 0
    timeout   = "0s"
  }
  access {
    allow = []
  }
  socket {
    nodelay = true
  }
}
service "echo" {
  listen  = ["127.0.0.1:7003"]
  builtin = "echo"
}
service "waiter" {
  listen  = ["127.0.0.1:7004"]
  command = ["/bin/cat"]
  mode    = "wait"
}
service "sock" {
  protocol = "unix"
  listen   = ["/tmp/superd-config-test-nonexistent/x.sock"]
  command  = ["/bin/cat"]
  disabled = true
}
`
	// Defaults may come from any file: put them after the services.
	for _, order := range []string{"defaults-first", "defaults-last"} {
		t.Run(order, func(t *testing.T) {
			files := map[string]string{"a.hcl": defaults, "b.hcl": strings.TrimPrefix(src, defaults)}
			if order == "defaults-last" {
				files = map[string]string{"z.hcl": defaults, "b.hcl": strings.TrimPrefix(src, defaults)}
			}
			cfg, lines := load(t, writeDir(t, files), rootOpts())
			if cfg == nil {
				t.Fatalf("Load: %s", strings.Join(lines, "\n"))
			}
			by := map[string]Service{}
			for _, s := range cfg.Services {
				by[s.Name] = s
			}
			p := by["plain"]
			if p.User != "nobody" || !p.HasUser || p.Umask != 0o077 || p.Stderr != "null" || p.Workdir != "/tmp" ||
				!reflect.DeepEqual(p.Env, [][2]string{{"LANG", "C"}}) || !reflect.DeepEqual(p.PassEnv, []string{"TZ"}) {
				t.Errorf("plain = %+v", p)
			}
			if p.Socket.Backlog != 10 || p.Socket.Mode != 0 || p.Socket.UID != -1 {
				t.Errorf("plain.Socket = %+v (mode is for unix sockets only)", p.Socket)
			}
			if p.Limits.Instances != 5 || p.Limits.PerSource != 2 || p.Limits.Rate.N != 9 || p.Limits.Timeout != time.Minute || p.Limits.Memory != 1<<30 || p.Limits.Files != 99 {
				t.Errorf("plain.Limits = %+v", p.Limits)
			}
			if len(p.Access.Allow) != 1 || p.Access.DenyMessage != "go away" {
				t.Errorf("plain.Access = %+v", p.Access)
			}
			o := by["override"]
			if o.Env != nil || o.PassEnv != nil || o.Umask != 0o022 || o.Limits.Instances != 0 || o.Limits.Timeout != 0 ||
				o.Access.Allow != nil || o.Access.DenyMessage != "go away" || !o.Socket.NoDelay || o.Socket.Backlog != 10 || o.Limits.PerSource != 2 {
				t.Errorf("override = %+v", o)
			}
			e := by["echo"]
			if e.User != "" || e.HasUser || e.Limits.Memory != 0 || e.Limits.Files != 0 || e.Limits.Instances != 5 || e.Limits.Timeout != time.Minute || len(e.Access.Allow) != 1 {
				t.Errorf("echo = %+v", e)
			}
			w := by["waiter"]
			if w.Access.Allow != nil || w.Access.DenyMessage != "" || w.Limits.Instances != 0 || w.Limits.PerSource != 0 || w.Limits.Rate.On() ||
				w.Limits.Timeout != 0 || w.Limits.Memory != 0 || w.Limits.Files != 0 || w.User != "nobody" {
				t.Errorf("waiter = %+v", w)
			}
			s := by["sock"]
			if s.Socket.Mode != 0o600 || s.Socket.UID != 0 || s.Socket.GID != 0 || s.Socket.Owner != "root" {
				t.Errorf("sock.Socket = %+v", s.Socket)
			}
		})
	}
}

// TestDefaultsErrorPosition checks that a value the defaults give is
// reported where the defaults set it.
func TestDefaultsErrorPosition(t *testing.T) {
	src := "defaults {\n  stderr = \"socket\"\n  user = \"no-such-user-x\"\n}\n" +
		"service \"u\" {\n  protocol = \"udp\"\n  listen = [\"127.0.0.1:7001\"]\n  command = [\"/bin/cat\"]\n}\n"
	_, got := loadOne(t, src, rootOpts())
	checkLines(t, got, []string{
		`a.hcl:2:12: service "u": stderr: "socket" is only allowed for nowait tcp and unix services (set in defaults)`,
		`a.hcl:3:10: service "u": user: no such user "no-such-user-x" (set in defaults)`,
	})
}

// TestJSON checks Service marshals with strings for durations and rates.
func TestJSON(t *testing.T) {
	cfg := mustLoad(t, svc("  env = { A = \"b\" }\n  limits {\n    timeout = \"90s\"\n    rate = \"5/s\"\n  }\n  access {\n    times = [\"08:00-18:30\"]\n  }\n"), userOpts())
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"listen":["127.0.0.1:7001"]`, `"timeout":"1m30s"`, `"rate":"5/s"`, `"per_source_rate":""`,
		`"times":["08:00-18:30"]`, `"env":{"A":"b"}`, `"umask":"0022"`, `"shutdown_grace":"10s"`, `"kill_delay":"5s"`, `"location":"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("json.Marshal(cfg) = %s, want it to contain %s", b, want)
		}
	}
}

// TestImmutable checks Enabled returns copies.
func TestImmutable(t *testing.T) {
	cfg := mustLoad(t, svc(""), userOpts())
	en := cfg.Enabled()
	en[0].Command[0] = "/x"
	en[0].Listen[0] = listener.Addr{}
	if cfg.Services[0].Command[0] != "/bin/cat" || cfg.Services[0].Listen[0].Port != 7001 {
		t.Errorf("modifying Enabled() changed the Config: %+v", cfg.Services[0])
	}
}

// TestLocation checks TZ and its fallbacks.
func TestLocation(t *testing.T) {
	dir := writeDir(t, map[string]string{"a.hcl": svc("")})
	for _, tt := range []struct{ tz, want string }{{"Europe/Paris", "Europe/Paris"}, {":Asia/Tokyo", "Asia/Tokyo"}, {"", "UTC"}, {"Nowhere/Town", "UTC"}} {
		o := userOpts()
		o.LookupEnv = func(k string) (string, bool) { return tt.tz, k == "TZ" }
		cfg, lines := load(t, dir, o)
		if cfg == nil {
			t.Fatal(lines)
		}
		if got := cfg.Location.String(); got != tt.want {
			t.Errorf("TZ=%q: Location = %s, want %s", tt.tz, got, tt.want)
		}
		if tt.tz == "Nowhere/Town" && len(cfg.Warnings) != 1 {
			t.Errorf("TZ=%q: Warnings = %q, want one", tt.tz, cfg.Warnings)
		}
	}
	o := userOpts()
	o.LookupEnv = nil // os.LookupEnv
	if cfg, _ := load(t, dir, o); cfg == nil || cfg.Location == nil {
		t.Errorf("Location with the real environment = nil")
	}
}
