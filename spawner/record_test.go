package spawner

import (
	"context"
	"log/slog"
	"sync"
)

// recordHandler is a slog.Handler keeping the line attribute of "stderr" records.
type recordHandler struct {
	mu sync.Mutex
	ls []string
}

func newRecordLogger(h *recordHandler) *slog.Logger { return slog.New(h) }

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "line" {
			h.mu.Lock()
			h.ls = append(h.ls, a.Value.String())
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

func (h *recordHandler) lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.ls...)
}
