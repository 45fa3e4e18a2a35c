// Package daemon turns a validated config.Config into running services:
// it binds their sockets through listener, admits clients through acl,
// starts handlers through spawner (or serves builtins in-process), swaps
// configurations on reload without closing unchanged sockets, and keeps the
// counters that Stats reports.
//
// Usage:
//
//	d, err := daemon.New(daemon.Options{Logger: log, Spawner: sp})
//	if err != nil { ... }
//	if err := d.Start(cfg); err != nil { ... } // binds every socket or none
//	go func() { <-sigterm; d.Shutdown() }()
//	d.Wait()
package daemon
