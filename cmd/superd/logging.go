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
	ops   []handlerOp // the With and WithGroup calls, in order
	// derived is inner with ops applied, for the inner it was made
	// from: made again only after a reload, not per record.
	derived *atomic.Pointer[derivedHandler]
}

// handlerOp is one WithGroup (group set) or WithAttrs.
type handlerOp struct {
	group string
	attrs []slog.Attr
}

type derivedHandler struct {
	from *slog.Handler
	h    slog.Handler
}

func newSwapHandler(h slog.Handler) *swapHandler {
	p := new(atomic.Pointer[slog.Handler])
	p.Store(&h)
	return &swapHandler{inner: p, derived: new(atomic.Pointer[derivedHandler])}
}

func (s *swapHandler) set(h slog.Handler) { s.inner.Store(&h) }

func (s *swapHandler) current() slog.Handler {
	from := s.inner.Load()
	if d := s.derived.Load(); d != nil && d.from == from {
		return d.h
	}
	h := *from
	for _, op := range s.ops {
		if op.group != "" {
			h = h.WithGroup(op.group)
		} else {
			h = h.WithAttrs(op.attrs)
		}
	}
	s.derived.Store(&derivedHandler{from: from, h: h})
	return h
}

func (s *swapHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return (*s.inner.Load()).Enabled(ctx, l)
}

func (s *swapHandler) Handle(ctx context.Context, r slog.Record) error {
	return s.current().Handle(ctx, r)
}

func (s *swapHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return s
	}
	return s.with(handlerOp{attrs: attrs})
}

func (s *swapHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return s
	}
	return s.with(handlerOp{group: name})
}

func (s *swapHandler) with(op handlerOp) *swapHandler {
	return &swapHandler{
		inner:   s.inner,
		ops:     append(s.ops[:len(s.ops):len(s.ops)], op),
		derived: new(atomic.Pointer[derivedHandler]),
	}
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
