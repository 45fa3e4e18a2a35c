package config

import (
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/superd-dev/superd/listener"
)

// metricsAddr is the parsed metrics_listen, to check it against the
// services' addresses.
type metricsAddr struct {
	addr listener.Addr
	rng  hcl.Range
	ok   bool
}

// defaultDaemon returns the settings used where daemon {} is silent.
func defaultDaemon() Daemon {
	grace, _ := time.ParseDuration(defaultShutdownWait)
	kill, _ := time.ParseDuration(defaultKillDelay)
	return Daemon{LogFormat: "text", LogLevel: "info", ShutdownGrace: grace, KillDelay: kill}
}

// decodeDaemon decodes the daemon {} block; blk may be nil.
func decodeDaemon(diags *diagList, blk *hclsyntax.Block) (Daemon, metricsAddr) {
	dm := defaultDaemon()
	var ma metricsAddr
	if blk == nil {
		return dm, ma
	}
	d := &decoder{diags: diags, what: "daemon"}
	attrs, _ := d.body(blk.Body, "", daemonAttrs, nil, nil)

	if ml := d.str(attrs["metrics_listen"], "metrics_listen"); ml.OK && ml.V != "" {
		a, err := listener.ParseAddr("tcp", ml.V)
		if err != nil {
			d.errf(ml.Rng, "metrics_listen", "%v", err)
		} else {
			dm.MetricsListen = ml.V
			ma = metricsAddr{addr: a, rng: ml.Rng, ok: true}
		}
	}
	if f := d.enum(attrs["log_format"], "log_format", "text", "json"); f.OK {
		dm.LogFormat = f.V
	}
	if l := d.enum(attrs["log_level"], "log_level", "debug", "info", "warn", "error"); l.OK {
		dm.LogLevel = l.V
	}
	if g := d.duration(attrs["shutdown_grace"], "shutdown_grace", 0); g.OK {
		dm.ShutdownGrace = g.V
	}
	if k := d.duration(attrs["kill_delay"], "kill_delay", time.Millisecond); k.OK {
		dm.KillDelay = k.V
	}
	return dm, ma
}
