// Package acl decides whether superd admits a client: address rules, time
// windows, the load average, token-bucket rates and concurrency limits, in
// the order of SPEC §4.
//
// The parsers (ParsePrefix, ParseWindow, ParseRate) turn configuration
// strings into values; a Policy holds one service's rules; a Gate is the
// live, per-service admission state built from a Policy. Admit checks a
// client in the order
//
//	acl, time, load, per_source_rate, rate, per_source, instances
//
// and the first failure is the Reason. A Gate survives reloads of its
// service: Update swaps the Policy and keeps the running-handler counts.
//
// Typical use by the daemon, once per accepted connection:
//
//	g := acl.NewGate(policy, nil) // nil: the 1-minute load average from sysinfo(2)
//	t, reason, ok := g.Admit(conn.Remote.Addr(), time.Now())
//	if !ok {
//		// count and log reason, write deny_message, close
//		return
//	}
//	// start the handler; when it is reaped (or failed to start):
//	t.Release()
//
// The package is a leaf: it imports no other superd package, never
// resolves names and never blocks.
package acl
