package daemon

import (
	"reflect"
	"testing"

	"github.com/superd-dev/superd/config"
)

func TestBaseEnv(t *testing.T) {
	svc := config.Service{
		Name: "finger", User: "nobody", Home: "/nonexistent", Shell: "/usr/sbin/nologin",
		PassEnv: []string{"TZ", "UNSET"},
		Env:     [][2]string{{"LANG", "C"}, {"PATH", "/opt/bin"}, {"TZ", "UTC"}},
	}
	own := map[string]string{"TZ": "Europe/Paris", "SECRET": "x"}
	env := environ{lookupEnv: func(k string) (string, bool) { v, ok := own[k]; return v, ok }}
	got := baseEnv(svc, "TCP", env)
	want := []string{
		"PATH=/opt/bin", "HOME=/nonexistent", "USER=nobody", "LOGNAME=nobody",
		"SHELL=/usr/sbin/nologin", "SUPERD_SERVICE=finger", "PROTO=TCP",
		"TZ=UTC", "LANG=C",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("baseEnv = %q\nwant %q", got, want)
	}
}

func TestSocketKeyChangesWithOptions(t *testing.T) {
	cfg := &config.Config{}
	svc := config.Service{Name: "a", Protocol: "tcp", Mode: "nowait", Builtin: "echo", Socket: config.Socket{Backlog: 10}}
	st := translate(cfg, svc, environ{})
	base := socketKey("a", st, parseAddr(t, "127.0.0.1:1"))
	if base != socketKey("a", translate(cfg, svc, environ{}), parseAddr(t, "127.0.0.1:1")) {
		t.Error("socketKey differs for equal services")
	}
	svc2 := svc
	svc2.Socket.NoDelay = true
	if base == socketKey("a", translate(cfg, svc2, environ{}), parseAddr(t, "127.0.0.1:1")) {
		t.Error("socketKey ignores nodelay")
	}
	if base == socketKey("b", st, parseAddr(t, "127.0.0.1:1")) {
		t.Error("socketKey ignores the service name")
	}
	svc3 := svc
	svc3.Mode = "wait"
	if base == socketKey("a", translate(cfg, svc3, environ{}), parseAddr(t, "127.0.0.1:1")) {
		t.Error("socketKey ignores the mode")
	}
}
