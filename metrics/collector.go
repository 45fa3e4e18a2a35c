package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/superd-dev/superd/daemon"
)

// Source is what the collector reads: *daemon.Daemon.
type Source interface {
	Stats() daemon.Stats
}

type collector struct {
	src Source

	connections, active, handlerDur, exits, spawnDur, ignored *prometheus.Desc
	reloads, lastOK, lastTime, info                           *prometheus.Desc
}

// NewRegistry returns a private registry with superd's collector and the
// standard Go and process collectors.
func NewRegistry(src Source) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func newCollector(src Source) *collector {
	svc := []string{"service"}
	return &collector{
		src: src,
		connections: prometheus.NewDesc("superd_connections_total",
			"Connections (datagrams for UDP nowait, handler starts for wait services) by result: accepted or the refusal reason.",
			[]string{"service", "result"}, nil),
		active: prometheus.NewDesc("superd_handlers_active",
			"Handlers (and builtin sessions) running now.", svc, nil),
		handlerDur: prometheus.NewDesc("superd_handler_duration_seconds",
			"Wall time of finished handlers.", svc, nil),
		exits: prometheus.NewDesc("superd_handler_exits_total",
			"Finished handlers by status: success, failure, signal or timeout.",
			[]string{"service", "status"}, nil),
		ignored: prometheus.NewDesc("superd_datagrams_ignored_total",
			"Datagrams never answered (UDP services) because their source could be a forged packet-storm source: a port below 1024, broadcast, multicast or unspecified.", svc, nil),
		spawnDur: prometheus.NewDesc("superd_spawn_duration_seconds",
			"Time from accept to the handler's exec.", svc, nil),
		reloads: prometheus.NewDesc("superd_config_reloads_total",
			"Configuration reloads by result.", []string{"result"}, nil),
		lastOK: prometheus.NewDesc("superd_config_last_reload_successful",
			"Whether the last configuration reload attempt succeeded.", nil, nil),
		lastTime: prometheus.NewDesc("superd_config_last_reload_success_timestamp_seconds",
			"Timestamp of the last successful configuration (re)load.", nil, nil),
		info: prometheus.NewDesc("superd_service_info",
			"One per configured service.", []string{"service", "protocol", "mode"}, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.connections, c.active, c.handlerDur, c.exits, c.spawnDur, c.ignored,
		c.reloads, c.lastOK, c.lastTime, c.info} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	for _, s := range st.Services {
		for result, n := range s.Connections {
			ch <- prometheus.MustNewConstMetric(c.connections, prometheus.CounterValue, float64(n), s.Name, result)
		}
		for status, n := range s.Exits {
			ch <- prometheus.MustNewConstMetric(c.exits, prometheus.CounterValue, float64(n), s.Name, status)
		}
		ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(s.Active), s.Name)
		if s.Protocol == "udp" {
			ch <- prometheus.MustNewConstMetric(c.ignored, prometheus.CounterValue, float64(s.Ignored), s.Name)
		}
		ch <- histogram(c.handlerDur, s.Handler, s.Name)
		ch <- histogram(c.spawnDur, s.Spawn, s.Name)
		ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, s.Name, s.Protocol, s.Mode)
	}
	ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(st.ReloadsSuccess), "success")
	ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(st.ReloadsFailure), "failure")
	ok := 0.0
	if st.LastReloadOK {
		ok = 1
	}
	ch <- prometheus.MustNewConstMetric(c.lastOK, prometheus.GaugeValue, ok)
	ts := 0.0
	if !st.LastReloadSuccess.IsZero() {
		ts = float64(st.LastReloadSuccess.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(c.lastTime, prometheus.GaugeValue, ts)
}

func histogram(d *prometheus.Desc, h daemon.Histogram, name string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		buckets[b] = h.Buckets[i]
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum, buckets, name)
}
