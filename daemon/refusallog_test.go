package daemon

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRefusalLogBounded(t *testing.T) {
	var buf syncBuffer
	r := newRefusalLog(slog.New(slog.NewTextHandler(&buf, nil)))
	remote := "127.0.0.2:4000"
	for i := 0; i < 1000; i++ {
		r.note("acl", remote)
		r.note("rate", remote)
	}
	lines := strings.Count(buf.String(), "msg=refused")
	if lines != 2*refusalBurst {
		t.Fatalf("refused lines = %d, want %d", lines, 2*refusalBurst)
	}
	// Close the window: one summary per reason with the exact count.
	r.tick(time.Now().Add(refusalWindow + time.Second))
	out := buf.String()
	for _, reason := range []string{"acl", "rate"} {
		want := "msg=\"refusals suppressed\" reason=" + reason + " suppressed=995"
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	// A new window logs again.
	r.note("acl", remote)
	if got := strings.Count(buf.String(), "msg=refused"); got != 2*refusalBurst+1 {
		t.Errorf("refused lines after the window = %d, want %d", got, 2*refusalBurst+1)
	}
}

func TestRefusalLogUnixRemote(t *testing.T) {
	var buf syncBuffer
	r := newRefusalLog(slog.New(slog.NewTextHandler(&buf, nil)))
	r.note("instances", remoteString(netip.AddrPort{}))
	if !strings.Contains(buf.String(), "remote=unix") {
		t.Errorf("log = %q, want remote=unix", buf.String())
	}
}

func TestRefusalLogFlushAll(t *testing.T) {
	var buf syncBuffer
	r := newRefusalLog(slog.New(slog.NewTextHandler(&buf, nil)))
	for i := 0; i < refusalBurst+3; i++ {
		r.note("acl", "127.0.0.2:4000")
	}
	r.note("rate", "127.0.0.2:4000") // nothing left out: no summary
	r.flushAll()
	out := buf.String()
	if !strings.Contains(out, `msg="refusals suppressed" reason=acl suppressed=3`) {
		t.Errorf("log lacks the acl summary:\n%s", out)
	}
	if strings.Contains(out, "reason=rate suppressed") {
		t.Errorf("a summary for a reason with nothing left out:\n%s", out)
	}
	r.flushAll()
	if n := strings.Count(buf.String(), "refusals suppressed"); n != 1 {
		t.Errorf("%d summaries after a second flushAll, want 1", n)
	}
}
