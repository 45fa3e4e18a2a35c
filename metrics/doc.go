// Package metrics exposes a running daemon's counters in the Prometheus
// text format. The collector reads daemon.Stats at scrape time, so a
// service removed by a reload disappears from the output, and every
// service × result series exists from the start.
//
// Usage:
//
//	reg := metrics.NewRegistry(d)
//	srv, err := metrics.Listen("127.0.0.1:9637", reg, log)
//	...
//	srv.Close()
package metrics
