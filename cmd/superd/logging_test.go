package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestSwapHandlerDerived: a logger derived with With and WithGroup keeps
// its attributes across records and follows every set (a reload of the
// log format), also after it has logged through the previous handler.
func TestSwapHandlerDerived(t *testing.T) {
	var text, js bytes.Buffer
	sw := newSwapHandler(slog.NewTextHandler(&text, nil))
	l := slog.New(sw).With("service", "echo").WithGroup("g").With("k", 1)
	l.Info("one")
	l.Info("two")
	sw.set(slog.NewJSONHandler(&js, nil))
	l.Info("three")
	if got := text.String(); strings.Count(got, "service=echo g.k=1") != 2 || strings.Contains(got, "three") {
		t.Errorf("text output:\n%s", got)
	}
	if got := js.String(); !strings.Contains(got, `"msg":"three","service":"echo","g":{"k":1}`) || strings.Contains(got, "two") {
		t.Errorf("JSON output after set:\n%s", got)
	}
	other := slog.New(sw).With("service", "daytime")
	other.Info("four")
	if got := js.String(); !strings.Contains(got, `"msg":"four","service":"daytime"}`) {
		t.Errorf("a second derived logger:\n%s", got)
	}
}
