package spawner

import (
	"bytes"
	"context"
	"log/slog"
	"time"
)

const (
	maxStderrLine = 4096 // bytes of one stderr line kept; the rest is dropped
	maxStderrRate = 100  // stderr lines logged per second per handler

	// stderrReadSize is the read buffer: a page of the pipe at a time.
	stderrReadSize = 4 << 10
)

// stderrLog turns one handler's stderr into log records: a line at a time,
// each at most maxStderrLine bytes (longer ones truncated and flagged), at
// most maxStderrRate a second (the excess counted and reported in one
// record per second, and at the end). The line is a string attribute, so
// the slog handler quotes it and escapes control characters: a client
// cannot forge log lines through a handler that echoes it.
type stderrLog struct {
	s         *Spawner
	log       *slog.Logger
	service   string
	pid       int
	line      []byte
	truncated bool
	window    time.Time // start of the current one-second window
	n         int       // lines logged in the window
	dropped   int       // lines dropped in the window
}

// write splits b into lines.
func (l *stderrLog) write(b []byte) {
	if l.n >= maxStderrRate && time.Since(l.window) < time.Second {
		// Over the rate bound for the rest of this window: every line
		// completed in b is dropped. Count them without splitting, so a
		// handler flooding its stderr costs superd a read and a count per
		// chunk, not a slice, a copy and a clock reading per line.
		i := bytes.LastIndexByte(b, '\n')
		if i < 0 {
			l.appendPartial(b)
			return
		}
		n := bytes.Count(b[:i+1], []byte{'\n'})
		l.dropped += n
		l.s.stderrDropped.Add(uint64(n))
		l.line, l.truncated = l.line[:0], false
		l.appendPartial(b[i+1:])
		return
	}
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		chunk := b
		if i >= 0 {
			chunk = b[:i]
		}
		if room := maxStderrLine - len(l.line); len(chunk) > room {
			chunk = chunk[:room]
			l.truncated = true
		}
		l.line = append(l.line, chunk...)
		if i < 0 {
			return
		}
		l.emit()
		b = b[i+1:]
	}
}

// appendPartial adds b, which holds no newline, to the current line,
// truncating it at maxStderrLine.
func (l *stderrLog) appendPartial(b []byte) {
	if room := maxStderrLine - len(l.line); len(b) > room {
		b = b[:room]
		l.truncated = true
	}
	l.line = append(l.line, b...)
}

// emit logs the current line, within the rate bound, and resets it.
func (l *stderrLog) emit() {
	line := bytes.TrimSuffix(l.line, []byte("\r"))
	now := time.Now()
	if now.Sub(l.window) >= time.Second {
		l.flushDropped()
		l.window, l.n = now, 0
	}
	if l.n < maxStderrRate {
		l.n++
		l.s.stderrLines.Add(1)
		attrs := []slog.Attr{slog.String("service", l.service), slog.Int("pid", l.pid), slog.String("line", string(line))}
		if l.truncated {
			attrs = append(attrs, slog.Bool("truncated", true))
		}
		l.log.LogAttrs(context.Background(), slog.LevelInfo, "stderr", attrs...)
	} else {
		l.dropped++
		l.s.stderrDropped.Add(1)
	}
	l.line, l.truncated = l.line[:0], false
}

// flushDropped reports the lines dropped in the last window, if any.
func (l *stderrLog) flushDropped() {
	if l.dropped == 0 {
		return
	}
	l.log.LogAttrs(context.Background(), slog.LevelWarn, "stderr lines dropped",
		slog.String("service", l.service), slog.Int("pid", l.pid), slog.Int("dropped", l.dropped))
	l.dropped = 0
}
