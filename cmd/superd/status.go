package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// serviceStatus is one row of `superd status`.
type serviceStatus struct {
	Service  string             `json:"service"`
	Running  float64            `json:"running"`
	Accepted float64            `json:"accepted"`
	Refused  map[string]float64 `json:"refused"`
}

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("config", defaultDir, "configuration directory (its daemon.metrics_listen is read)")
	addr := fs.String("metrics", "", "metrics address of the running daemon (host:port)")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := parseArgs(fs, "status", args, stderr); !ok {
		return code
	}
	if !configFlagOK("status", *dir, stderr) {
		return exitUsage
	}
	if *addr != "" && flagSet(fs, "config") {
		fmt.Fprintln(stderr, "superd status: give -config or -metrics, not both")
		return exitUsage
	}
	if !metricsFlagOK("status", *addr, stderr) {
		return exitUsage
	}
	if *addr == "" {
		cfg, ok := loadConfig(*dir, stderr)
		if !ok {
			// The daemon keeps its last good configuration meanwhile.
			fmt.Fprintf(stderr, "superd status: %s does not load; give -metrics ADDR to reach the running daemon\n", *dir)
			return exitError
		}
		*addr = cfg.Daemon.MetricsListen
		if *addr == "" {
			fmt.Fprintf(stderr, "superd status: %s: daemon.metrics_listen is off; give -metrics ADDR\n", *dir)
			return exitError
		}
	}
	rows, err := fetchStatus(*addr)
	if err != nil {
		fmt.Fprintf(stderr, "superd status: %v\n", err)
		return exitError
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rows)
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tRUNNING\tACCEPTED\tREFUSED")
	for _, r := range rows {
		var parts []string
		keys := make([]string, 0, len(r.Refused))
		for k := range r.Refused {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if r.Refused[k] > 0 {
				parts = append(parts, fmt.Sprintf("%s=%.0f", k, r.Refused[k]))
			}
		}
		refused := strings.Join(parts, " ")
		if refused == "" {
			refused = "-"
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%s\n", cell(r.Service), r.Running, r.Accepted, cell(refused))
	}
	tw.Flush()
	return exitOK
}

func fetchStatus(addr string) ([]serviceStatus, error) {
	client := &http.Client{
		Timeout: 5 * time.Second,
		// The address given is the daemon: a redirect leads elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("read metrics at %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read metrics at %s: %s", addr, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("parse metrics from %s: %w", addr, err)
	}
	// Every superd serves this gauge, services or not: without it the
	// endpoint is not superd's.
	if families["superd_config_last_reload_successful"] == nil {
		return nil, fmt.Errorf("read metrics at %s: no superd_config_last_reload_successful: not a superd metrics endpoint", addr)
	}
	byName := map[string]*serviceStatus{}
	row := func(m *dto.Metric) *serviceStatus {
		name := label(m, "service")
		r := byName[name]
		if r == nil {
			r = &serviceStatus{Service: name, Refused: map[string]float64{}}
			byName[name] = r
		}
		return r
	}
	if f := families["superd_service_info"]; f != nil {
		for _, m := range f.Metric {
			row(m)
		}
	}
	if f := families["superd_handlers_active"]; f != nil {
		for _, m := range f.Metric {
			row(m).Running = m.GetGauge().GetValue()
		}
	}
	if f := families["superd_connections_total"]; f != nil {
		for _, m := range f.Metric {
			r := row(m)
			v := m.GetCounter().GetValue()
			switch res := label(m, "result"); res {
			case "accepted":
				r.Accepted = v
			default:
				r.Refused[res] = v
			}
		}
	}
	out := make([]serviceStatus, 0, len(byName))
	for _, r := range byName {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
