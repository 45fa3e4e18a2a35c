package config

import (
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/superd-dev/superd/acl"
)

// exampleConfig is SPEC §2's example with command and user adjusted
// (user "" leaves user and group out).
func exampleConfig(command, user string) string {
	users := ""
	if user != "" {
		users = "  user     = \"" + user + "\"\n  group    = \"nogroup\"\n"
	}
	return `daemon {
  metrics_listen = "127.0.0.1:9637"
  log_format     = "text"
  log_level      = "info"
  shutdown_grace = "10s"
  kill_delay     = "5s"
}

defaults {
` + strings.ReplaceAll(users, "group    = \"nogroup\"\n", "") + `  limits { instances = 64 }
}

service "finger" {
  protocol = "tcp"
  listen   = [":79"]
  mode     = "nowait"
  pass     = "stdio"
  command  = ["` + command + `", "-w"]
  argv0    = "in.fingerd"
` + users + `  groups   = true
  workdir  = "/"
  env      = { LANG = "C" }
  pass_env = ["TZ"]
  umask    = "0022"
  nice     = 0
  stderr   = "log"
  disabled = false

  socket {
    backlog   = 4096
    keepalive = false
    nodelay   = false
    freebind  = false
  }

  access {
    allow        = ["10.0.0.0/8", "2001:db8::/32", "127.0.0.1"]
    deny         = ["10.9.0.0/16"]
    times        = ["08:00-18:30"]
    deny_message = "access denied\r\n"
  }

  limits {
    instances       = 64
    per_source      = 8
    source_prefix   = [32, 64]
    rate            = "50/s"
    per_source_rate = "5/s"
    max_load        = 0
    timeout         = "10m"
    memory          = "512MiB"
    cpu             = "60s"
    files           = 1024
    processes       = 64
  }
}
`
}

func TestExampleConfig(t *testing.T) {
	o, user := userOpts(), ""
	if os.Geteuid() == 0 {
		o, user = rootOpts(), "nobody"
	}
	cfg := mustLoad(t, exampleConfig("/bin/cat", user), o)
	if want := (Daemon{MetricsListen: "127.0.0.1:9637", LogFormat: "text", LogLevel: "info", ShutdownGrace: 10 * time.Second, KillDelay: 5 * time.Second}); cfg.Daemon != want {
		t.Errorf("Daemon = %+v, want %+v", cfg.Daemon, want)
	}
	if len(cfg.Services) != 1 {
		t.Fatalf("Services = %+v, want 1", cfg.Services)
	}
	s := cfg.Services[0]
	if got := strings.TrimSpace(fmt.Sprintln(s.Name, s.Protocol, s.Listen, s.Mode, s.Pass, s.Command, s.Argv(), s.Workdir, s.Env, s.PassEnv, s.Umask, s.Nice, s.Stderr, s.Disabled)); got !=
		"finger tcp [:79] nowait stdio [/bin/cat -w] [in.fingerd -w] / [[LANG C]] [TZ] 18 0 log false" {
		t.Errorf("service = %s", got)
	}
	if user != "" && (!s.HasUser || s.User != "nobody" || s.Group != "nogroup" || len(s.Groups) == 0) {
		t.Errorf("user = %q %q %v %v", s.User, s.Group, s.Groups, s.HasUser)
	}
	if want := (Socket{Backlog: 4096, UID: -1, GID: -1}); s.Socket != want {
		t.Errorf("Socket = %+v, want %+v", s.Socket, want)
	}
	wantAccess := Access{
		Allow:       []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("127.0.0.1/32")},
		Deny:        []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")},
		Times:       []acl.Window{{Start: 8 * 60, End: 18*60 + 30}},
		DenyMessage: "access denied\r\n",
	}
	if !reflect.DeepEqual(s.Access, wantAccess) {
		t.Errorf("Access = %+v, want %+v", s.Access, wantAccess)
	}
	wantLimits := Limits{Instances: 64, PerSource: 8, SourcePrefix4: 32, SourcePrefix6: 64, Rate: acl.Rate{N: 50, Per: time.Second},
		PerSourceRate: acl.Rate{N: 5, Per: time.Second}, Timeout: 10 * time.Minute, Memory: 512 << 20, CPU: 60, Files: 1024, Processes: 64}
	if s.Limits != wantLimits {
		t.Errorf("Limits = %+v, want %+v", s.Limits, wantLimits)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("Warnings = %q", cfg.Warnings)
	}
}

func ExampleLoad() {
	dir, _ := os.MkdirTemp("", "superd-example")
	defer os.RemoveAll(dir)
	os.WriteFile(dir+"/echo.hcl", []byte(`
service "echo" {
  listen  = ["127.0.0.1:7007"]
  builtin = "echo"
  limits { rate = "10/s" }
}
`), 0o600)
	cfg, diags := Load(dir, Options{UID: os.Geteuid()})
	for _, d := range diags {
		fmt.Println(FormatDiagnostic(d))
	}
	if diags.HasErrors() {
		return
	}
	for _, s := range cfg.Enabled() {
		fmt.Println(s.Name, s.Protocol, s.Listen[0], s.Builtin, s.Limits.Rate, s.Limits.Instances)
	}
	// Output: echo tcp 127.0.0.1:7007 echo 10/s 64
}
