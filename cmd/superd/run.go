package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/superd-dev/superd/config"
	"github.com/superd-dev/superd/daemon"
	"github.com/superd-dev/superd/metrics"
	"github.com/superd-dev/superd/spawner"
)

// runner holds the parts of a running superd that cmdRun wires together.
type runner struct {
	dir        string
	metricsArg string // -metrics, overriding daemon.metrics_listen when set
	stderr     io.Writer
	log        *slog.Logger
	logs       *swapHandler
	d          *daemon.Daemon
	metrics    *metrics.Server
	metricsAt  string // address metrics listens on, "" if off
	notify     *notifier
}

func cmdRun(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("config", defaultDir, "configuration directory")
	metricsAddr := fs.String("metrics", "", "serve Prometheus metrics on this numeric host:port (overrides daemon.metrics_listen)")
	if code, ok := parseArgs(fs, "run", args, stderr); !ok {
		return code
	}
	if !configFlagOK("run", *dir, stderr) {
		return exitUsage
	}
	if !metricsFlagOK("run", *metricsAddr, stderr) {
		return exitUsage
	}
	// Handlers asking for umask 022 need no per-spawn change.
	unix.Umask(0o022)
	procs := startupProcs()

	cfg, ok := loadConfig(*dir, stderr)
	if !ok {
		return exitError
	}
	logs := newSwapHandler(newHandler(stderr, cfg.Daemon))
	log := slog.New(logs)
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}

	// Before superd opens anything: the descriptors LISTEN_FDS names.
	inherited := inheritedSockets(log)

	// Signals are caught before anything is bound, so none is lost.
	hup := make(chan os.Signal, 1)
	term := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(hup)
	defer signal.Stop(term)

	exe, err := os.Executable()
	if err != nil {
		log.Error("find own executable for the spawn helper", "error", err)
		return exitError
	}
	sp, err := spawner.New(spawner.Options{HelperPath: exe, Logger: log})
	if err != nil {
		log.Error("start spawner", "error", err)
		return exitError
	}
	defer sp.Close()
	d, err := daemon.New(daemon.Options{Logger: log, Spawner: sp, Inherited: inherited})
	if err != nil {
		log.Error("start daemon", "error", err)
		return exitError
	}
	if err := d.Start(cfg); err != nil {
		log.Error("start failed", "error", err)
		return exitError
	}
	r := &runner{dir: *dir, metricsArg: *metricsAddr, stderr: stderr, log: log, logs: logs, d: d, notify: newNotifier(log)}
	reg := metrics.NewRegistry(d)
	if err := r.setMetrics(reg, cfg); err != nil {
		log.Error("start failed", "error", err)
		d.Shutdown()
		return exitError
	}
	n := len(enabled(cfg))
	log.Info("ready", "services", n)
	r.notify.sendStatus("READY=1\n", r.status)
	stopWatchdog := r.notify.startWatchdog(r.status)
	// Parsing, binding and the above leave garbage behind; give it back,
	// so an idle superd costs only what it holds. Then the Ps for serving.
	debug.FreeOSMemory()
	procs.serve()

	for {
		var sig os.Signal
		select {
		case <-hup:
			if sig = r.reload(reg, term); sig == nil {
				continue
			}
		case sig = <-term:
		}
		log.Info("stopping", "signal", sig.String())
		break
	}
	stopWatchdog()
	r.notify.send("STOPPING=1")
	d.Shutdown()
	if r.metrics != nil {
		r.metrics.Close()
	}
	log.Info("stopped")
	return exitOK
}

func enabled(cfg *config.Config) []config.Service {
	var out []config.Service
	for _, s := range cfg.Services {
		if !s.Disabled {
			out = append(out, s)
		}
	}
	return out
}

// status is the one-line STATUS= for systemd.
func (r *runner) status() string {
	st := r.d.Stats()
	return fmt.Sprintf("STATUS=%d services, %d handlers running", len(st.Services), st.HandlersRunning)
}

// reload reads and validates the configuration again and applies it;
// any error leaves the running configuration untouched. A SIGTERM or
// SIGINT while the files are read ends the reload at once: it returns that
// signal (nil otherwise), and the reading goroutine's result is dropped.
func (r *runner) reload(reg *prometheus.Registry, term <-chan os.Signal) os.Signal {
	r.notify.reloading()
	type loaded struct {
		cfg   *config.Config
		diags hcl.Diagnostics
	}
	done := make(chan loaded, 1)
	go func() { // ends on its own: Load is bounded (config/shape.go)
		cfg, diags := config.Load(r.dir, config.Options{Root: canSwitchUsers(), UID: os.Getuid()})
		done <- loaded{cfg, diags}
	}()
	var l loaded
	select {
	case l = <-done:
	case sig := <-term:
		r.d.ReloadFailed()
		r.log.Error("reload failed", "error", "stopping: "+sig.String())
		return sig
	}
	cfg, diags := l.cfg, l.diags
	if diags.HasErrors() || cfg == nil {
		errs := errorDiags(diags)
		for i, d := range errs {
			if i == maxLoggedProblems {
				r.log.Error("config", "problem", fmt.Sprintf("%d more not logged; superd check -config %s lists them all", len(errs)-i, r.dir))
				break
			}
			r.log.Error("config", "problem", config.FormatDiagnostic(d))
		}
		r.d.ReloadFailed()
		r.log.Error("reload failed", "error", diagSummary(errs))
		r.notify.send("READY=1\nSTATUS=reload failed: " + firstLine(diagSummary(errs)))
		return nil
	}
	if err := r.d.Reload(cfg); err != nil {
		r.log.Error("reload failed", "error", err)
		r.notify.send("READY=1\nSTATUS=reload failed: " + firstLine(err.Error()))
		return nil
	}
	r.logs.set(newHandler(r.stderr, cfg.Daemon))
	for _, w := range cfg.Warnings {
		r.log.Warn(w)
	}
	if err := r.setMetrics(reg, cfg); err != nil {
		r.log.Error("metrics", "error", err)
	}
	r.log.Info("reloaded", "services", len(enabled(cfg)))
	r.notify.sendStatus("READY=1\n", r.status)
	debug.FreeOSMemory()
	return nil
}

// setMetrics (re)starts the metrics server when its address changed. The
// new address is bound before the old server is closed, so a reload whose
// metrics address cannot be bound keeps the endpoint that runs (SPEC §5: a
// bind failure undoes it); only where the two clash does the old one go
// first, and it comes back if the new one still fails.
func (r *runner) setMetrics(reg *prometheus.Registry, cfg *config.Config) error {
	addr := cfg.Daemon.MetricsListen
	if r.metricsArg != "" {
		addr = r.metricsArg
	}
	if addr == r.metricsAt && (addr == "") == (r.metrics == nil) {
		return nil
	}
	if addr == "" {
		if r.metrics != nil {
			r.metrics.Close()
			r.metrics, r.metricsAt = nil, ""
		}
		return nil
	}
	srv, err := metrics.Listen(addr, reg, r.log)
	if err != nil && r.metrics != nil && samePort(addr, r.metrics.Addr()) {
		// It clashes with the running one: close that, try again.
		oldAt, oldBound := r.metricsAt, r.metrics.Addr()
		r.metrics.Close()
		r.metrics, r.metricsAt = nil, ""
		srv, err = metrics.Listen(addr, reg, r.log)
		if err != nil {
			if old, oerr := metrics.Listen(oldBound, reg, r.log); oerr == nil {
				r.metrics, r.metricsAt = old, oldAt
				r.log.Info("metrics listening", "addr", old.Addr())
			}
			return err
		}
	}
	if err != nil {
		return err
	}
	if r.metrics != nil {
		r.metrics.Close()
	}
	r.metrics, r.metricsAt = srv, addr
	r.log.Info("metrics listening", "addr", srv.Addr())
	return nil
}

// samePort reports whether two host:port addresses have the same port.
func samePort(a, b string) bool {
	_, pa, errA := net.SplitHostPort(a)
	_, pb, errB := net.SplitHostPort(b)
	return errA == nil && errB == nil && pa == pb
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' || c == ';' {
			return s[:i]
		}
	}
	return s
}
