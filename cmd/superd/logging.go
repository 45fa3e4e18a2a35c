package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/superd-dev/superd/config"
)

// swapHandler is a slog.Handler whose output format and level can change
// on reload while loggers derived with With keep working.
type swapHandler struct {
	inner *atomic.Pointer[slog.Handler]
	attrs []slog.Attr
	group string
}

func newSwapHandler(h slog.Handler) *swapHandler {
	p := new(atomic.Pointer[slog.Handler])
	p.Store(&h)
	return &swapHandler{inner: p}
}

func (s *swapHandler) set(h slog.Handler) { s.inner.Store(&h) }

func (s *swapHandler) current() slog.Handler {
	h := *s.inner.Load()
	if s.group != "" {
		h = h.WithGroup(s.group)
	}
	if len(s.attrs) > 0 {
		h = h.WithAttrs(s.attrs)
	}
	return h
}

func (s *swapHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return (*s.inner.Load()).Enabled(ctx, l)
}

func (s *swapHandler) Handle(ctx context.Context, r slog.Record) error {
	return s.current().Handle(ctx, r)
}

func (s *swapHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *s
	c.attrs = append(append([]slog.Attr(nil), s.attrs...), attrs...)
	return &c
}

func (s *swapHandler) WithGroup(name string) slog.Handler {
	c := *s
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	return &c
}

// newHandler builds the handler for daemon {} log settings.
func newHandler(w io.Writer, d config.Daemon) slog.Handler {
	opts := &slog.HandlerOptions{Level: parseLevel(d.LogLevel)}
	if strings.EqualFold(d.LogFormat, "json") {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

func parseLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}
