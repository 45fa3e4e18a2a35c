package daemon

import (
	"sort"
	"time"
)

// Stats is a snapshot of the daemon's counters, read by metrics at scrape
// time.
type Stats struct {
	Services          []ServiceStats // configured, enabled services, by name
	ReloadsSuccess    uint64
	ReloadsFailure    uint64
	LastReloadOK      bool
	LastReloadSuccess time.Time
	HandlersRunning   int
}

// Stats returns a snapshot of every service's counters.
func (d *Daemon) Stats() Stats {
	d.sp.Sync() // count the launches and exits that are due
	svcs := d.serviceList()
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].name < svcs[j].name })
	out := Stats{
		Services:        make([]ServiceStats, 0, len(svcs)),
		ReloadsSuccess:  d.reloadsOK.Load(),
		ReloadsFailure:  d.reloadsFailed.Load(),
		LastReloadOK:    d.lastReloadOK.Load(),
		HandlersRunning: d.sp.Running(),
	}
	if ns := d.lastReloadSuccess.Load(); ns != 0 {
		out.LastReloadSuccess = time.Unix(0, ns)
	}
	for _, s := range svcs {
		out.Services = append(out.Services, s.stats())
	}
	return out
}
