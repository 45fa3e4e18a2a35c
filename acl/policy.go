package acl

import (
	"net/netip"
	"time"
)

// Reason names the check that refused a client. The values are the
// `result` labels of superd_connections_total and the `reason` of refusal
// log lines (SPEC §4, §6).
type Reason string

// The reasons, in the order Admit checks them.
const (
	ReasonACL           Reason = "acl"             // address rules
	ReasonTime          Reason = "time"            // outside every time window
	ReasonLoad          Reason = "load"            // load average at or above MaxLoad
	ReasonPerSourceRate Reason = "per_source_rate" // the client's token bucket is empty
	ReasonRate          Reason = "rate"            // the service's token bucket is empty
	ReasonPerSource     Reason = "per_source"      // the client has PerSource handlers running
	ReasonInstances     Reason = "instances"       // the service has Instances handlers running
)

// Reasons returns every Reason in the order Admit checks them (a new slice
// each call), for callers that create one metric series per reason.
func Reasons() []Reason {
	return []Reason{ReasonACL, ReasonTime, ReasonLoad, ReasonPerSourceRate, ReasonRate, ReasonPerSource, ReasonInstances}
}

// Policy is one service's access rules and limits, built once per
// (re)load and never modified afterwards (a Gate keeps its own compiled
// copy). The zero Policy admits everyone, always.
type Policy struct {
	// Allow and Deny hold the address rules (ParsePrefix). A client that
	// matches both lists is decided by the longer prefix, deny on a tie. A
	// client no rule matches is admitted if Allow is empty and refused
	// otherwise. IPv4 rules match only IPv4 clients and IPv6 rules only
	// IPv6 clients (v4-mapped clients are unmapped first): allow or deny
	// everyone with both 0.0.0.0/0 and ::/0.
	Allow, Deny []netip.Prefix

	// Times are the daily windows a client may arrive in; empty: always.
	Times []Window

	// Location is the time zone of Times; nil means time.Local.
	Location *time.Location

	// Instances caps the handlers running at once; 0 is unlimited.
	Instances int

	// PerSource caps the handlers running at once for one client; 0 is
	// unlimited.
	PerSource int

	// SourceBits4 and SourceBits6 say what counts as one client for
	// PerSource and PerSourceRate: the client's address masked to this many
	// bits. 0 (or any value out of range) means 32 for IPv4 and 64 for IPv6.
	SourceBits4 int
	SourceBits6 int

	// Rate limits new connections to the service; the zero Rate is off.
	Rate Rate

	// PerSourceRate limits new connections per client; the zero Rate is
	// off.
	PerSourceRate Rate

	// MaxLoad refuses clients while the 1-minute load average is at or
	// above it; 0 is off.
	MaxLoad float64
}

// sourceBits returns the effective per-source prefix lengths of p.
func (p *Policy) sourceBits() (bits4, bits6 int) {
	bits4, bits6 = p.SourceBits4, p.SourceBits6
	if bits4 <= 0 || bits4 > 32 {
		bits4 = 32
	}
	if bits6 <= 0 || bits6 > 128 {
		bits6 = 64
	}
	return bits4, bits6
}
