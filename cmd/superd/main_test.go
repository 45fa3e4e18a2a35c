package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/superd-dev/superd/config"
)

func TestDispatchUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"no command", nil, exitUsage},
		{"unknown command", []string{"serve"}, exitUsage},
		{"unknown flag", []string{"check", "-bogus"}, exitUsage},
		{"extra argument", []string{"run", "extra"}, exitUsage},
		{"convert without files", []string{"convert", "xinetd"}, exitUsage},
		{"convert inetd two files", []string{"convert", "inetd", "a", "b"}, exitUsage},
		{"version extra argument", []string{"version", "extra"}, exitUsage},
		{"run metrics host name", []string{"run", "-metrics", "localhost:9637", "-config", "/nonexistent"}, exitUsage},
		{"run metrics bad port", []string{"run", "-metrics", "127.0.0.1:99999", "-config", "/nonexistent"}, exitUsage},
		{"status metrics host name", []string{"status", "-metrics", "localhost:9637"}, exitUsage},
		{"status config and metrics", []string{"status", "-config", "/nonexistent", "-metrics", "127.0.0.1:9637"}, exitUsage},
		{"check empty config", []string{"check", "-config", ""}, exitUsage},
		{"check -h", []string{"check", "-h"}, exitOK},
		{"version", []string{"version"}, exitOK},
		{"help", []string{"help"}, exitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if got := dispatch(tt.args, &out, &errb); got != tt.want {
				t.Errorf("dispatch(%q) = %d, want %d\nstderr: %s", tt.args, got, tt.want, errb.String())
			}
		})
	}
}

func TestSwapHandlerKeepsDerivedLoggers(t *testing.T) {
	var buf bytes.Buffer
	h := newSwapHandler(newHandler(&buf, config.Daemon{LogFormat: "text"}))
	log := slog.New(h).With("service", "echo")
	log.Info("listening")
	h.set(newHandler(&buf, config.Daemon{LogFormat: "json", LogLevel: "warn"}))
	log.Info("dropped at warn level")
	log.Warn("after reload")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log lines = %q, want 2", lines)
	}
	if !strings.Contains(lines[0], "msg=listening service=echo") {
		t.Errorf("text line = %q", lines[0])
	}
	if !strings.Contains(lines[1], `"msg":"after reload","service":"echo"`) {
		t.Errorf("json line after the swap = %q", lines[1])
	}
}

func TestShorten(t *testing.T) {
	if got := shorten("abc", 5); got != "abc" {
		t.Errorf("shorten short = %q", got)
	}
	if got := shorten("abcdefgh", 5); got != "abcd…" {
		t.Errorf("shorten long = %q, want abcd…", got)
	}
}

func TestFirstLine(t *testing.T) {
	if got := firstLine("a.hcl:1:2: bad; b.hcl:3:4: worse"); got != "a.hcl:1:2: bad" {
		t.Errorf("firstLine = %q", got)
	}
}
