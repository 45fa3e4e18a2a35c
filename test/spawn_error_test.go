package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSpawnErrorAfterAccept: a nowait handler whose start fails in the
// child (its workdir is gone) is counted spawn_error and logged with the
// failed step, never accepted or exited; its client is closed with
// nothing written; and the service serves again once the directory is
// back.
func TestSpawnErrorAfterAccept(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(markerDir(t), "work")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := startSuperd(t, map[string]string{
		"svc.hcl": h2MetricsDaemon +
			service("gone", `listen = ["127.0.0.1:0"]`, userLine, `command = `+shCmd("echo ok"),
				`workdir = "`+dir+`"`),
	})
	maddr := s.h2MetricsAddr()
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if got, err := h2Fetch("", s.addr("gone"), ""); err != nil || got != "" {
			t.Fatalf("client %d: %q, %v; want closed with nothing written", i, got, err)
		}
	}
	l := s.mustLog(10*time.Second, "a spawn_error line", msgIs("refused", "reason", "spawn_error"))
	if e := l.Get("error"); !strings.Contains(e, "chdir "+dir) || !strings.Contains(e, "no such file or directory") {
		t.Errorf("spawn_error line %s: want the chdir of %s and its errno", l, dir)
	}
	ss := h2Parse(t, h2Scrape(t, maddr))
	h2Want(t, ss, 3, "superd_connections_total", "service", "gone", "result", "spawn_error")
	h2Want(t, ss, 0, "superd_connections_total", "service", "gone", "result", "accepted")
	h2Want(t, ss, 0, "superd_handlers_active", "service", "gone")
	h2Want(t, ss, 0, "superd_spawn_duration_seconds_count", "service", "gone")
	for _, st := range h2Statuses {
		h2Want(t, ss, 0, "superd_handler_exits_total", "service", "gone", "status", st)
	}
	if n := s.h2CountMsg(msgIs("handler exited")); n != 0 {
		t.Errorf("%d handler exited lines for handlers that never started", n)
	}
	if n := s.h2CountMsg(msgIs("reaped escaped process")); n != 0 {
		t.Errorf("failed starts logged as escapees")
	}

	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := h2Fetch("", s.addr("gone"), ""); err != nil || got != "ok\n" {
		t.Fatalf("after the directory is back: %q, %v", got, err)
	}
	// Scraped right after the handler answered: its start is counted.
	ss = h2Parse(t, h2Scrape(t, maddr))
	h2Want(t, ss, 1, "superd_connections_total", "service", "gone", "result", "accepted")
	h2Want(t, ss, 1, "superd_spawn_duration_seconds_count", "service", "gone")
	// Accept to the handler's execve, as the child read the clock.
	if v, ok := h2Value(ss, "superd_spawn_duration_seconds_sum", "service", "gone"); !ok || v <= 0 || v > 1 {
		t.Errorf("superd_spawn_duration_seconds_sum = %g, want a positive time under a second", v)
	}
	h2Want(t, ss, 3, "superd_connections_total", "service", "gone", "result", "spawn_error")
}
