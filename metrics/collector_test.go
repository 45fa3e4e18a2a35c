package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/superd-dev/superd/daemon"
)

type fakeSource struct{ st daemon.Stats }

func (f *fakeSource) Stats() daemon.Stats { return f.st }

func oneService(name string) daemon.ServiceStats {
	return daemon.ServiceStats{
		Name: name, Protocol: "tcp", Mode: "nowait", Active: 2,
		Connections: map[string]uint64{"accepted": 7, "acl": 3, "rate": 0},
		Exits:       map[string]uint64{"success": 5, "failure": 0, "signal": 0, "timeout": 0},
		Spawn:       daemon.Histogram{Bounds: []float64{0.001, 0.01}, Buckets: []uint64{6, 7}, Count: 7, Sum: 0.004},
		Handler:     daemon.Histogram{Bounds: []float64{1, 3600}, Buckets: []uint64{5, 5}, Count: 5, Sum: 0.5},
	}
}

func TestCollectorValues(t *testing.T) {
	src := &fakeSource{st: daemon.Stats{
		Services:          []daemon.ServiceStats{oneService("echo")},
		ReloadsSuccess:    2,
		ReloadsFailure:    1,
		LastReloadOK:      false,
		LastReloadSuccess: time.Unix(1700000000, 0),
	}}
	c := newCollector(src)
	want := `
# HELP superd_connections_total Connections (datagrams for UDP nowait, handler starts for wait services) by result: accepted or the refusal reason.
# TYPE superd_connections_total counter
superd_connections_total{result="accepted",service="echo"} 7
superd_connections_total{result="acl",service="echo"} 3
superd_connections_total{result="rate",service="echo"} 0
# HELP superd_config_reloads_total Configuration reloads by result.
# TYPE superd_config_reloads_total counter
superd_config_reloads_total{result="failure"} 1
superd_config_reloads_total{result="success"} 2
# HELP superd_config_last_reload_successful Whether the last configuration reload attempt succeeded.
# TYPE superd_config_last_reload_successful gauge
superd_config_last_reload_successful 0
# HELP superd_config_last_reload_success_timestamp_seconds Timestamp of the last successful configuration (re)load.
# TYPE superd_config_last_reload_success_timestamp_seconds gauge
superd_config_last_reload_success_timestamp_seconds 1.7e+09
# HELP superd_handlers_active Handlers (and builtin sessions) running now.
# TYPE superd_handlers_active gauge
superd_handlers_active{service="echo"} 2
# HELP superd_spawn_duration_seconds Time from accept to the handler's exec.
# TYPE superd_spawn_duration_seconds histogram
superd_spawn_duration_seconds_bucket{service="echo",le="0.001"} 6
superd_spawn_duration_seconds_bucket{service="echo",le="0.01"} 7
superd_spawn_duration_seconds_bucket{service="echo",le="+Inf"} 7
superd_spawn_duration_seconds_sum{service="echo"} 0.004
superd_spawn_duration_seconds_count{service="echo"} 7
`
	names := []string{"superd_connections_total", "superd_config_reloads_total", "superd_config_last_reload_successful",
		"superd_config_last_reload_success_timestamp_seconds", "superd_handlers_active", "superd_spawn_duration_seconds"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestRemovedServiceDisappears(t *testing.T) {
	src := &fakeSource{st: daemon.Stats{Services: []daemon.ServiceStats{oneService("a"), oneService("b")}}}
	reg := NewRegistry(src)
	if n := testutil.CollectAndCount(newCollector(src), "superd_service_info"); n != 2 {
		t.Fatalf("service_info series = %d, want 2", n)
	}
	src.st.Services = src.st.Services[:1]
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "service" && l.GetValue() == "b" {
					t.Errorf("%s still has service b after it was removed", mf.GetName())
				}
			}
		}
	}
	var _ prometheus.Collector = newCollector(src)
}
