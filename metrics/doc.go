// Package metrics exposes a running daemon's counters in the Prometheus
// text format. The collector reads daemon.Stats at scrape time, so a
// service removed by a reload disappears from the output, and every
// service × result series exists from the start.
//
// The endpoint holds at most 64 connections at once, idle ones included,
// so a flood of clients cannot take the daemon's descriptors; further
// clients wait in the kernel's listen backlog. A scrape is answered even
// when the client half-closes after its request, and is bounded by a
// 15 s handler timeout and a 30 s write timeout.
//
// Usage:
//
//	reg := metrics.NewRegistry(d)
//	srv, err := metrics.Listen("127.0.0.1:9637", reg, log)
//	...
//	srv.Close()
package metrics
