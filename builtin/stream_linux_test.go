package builtin

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// transport gives a server fd (owned by the test, closed at cleanup) and a
// client connection for one session.
type transport struct {
	name string
	open func(t *testing.T) (fd int, client net.Conn)
}

func transports() []transport {
	return []transport{
		{"socketpair", socketPair},
		{"tcp4", func(t *testing.T) (int, net.Conn) { return tcpPair(t, "tcp4", "127.0.0.1:0") }},
		{"tcp6", func(t *testing.T) (int, net.Conn) { return tcpPair(t, "tcp6", "[::1]:0") }},
	}
}

// socketPair returns a blocking AF_UNIX stream pair: the server's raw fd
// and the client side as a net.Conn.
func socketPair(t *testing.T) (int, net.Conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	t.Cleanup(func() { unix.Close(fds[0]) })
	f := os.NewFile(uintptr(fds[1]), "client")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatalf("FileConn: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return fds[0], c
}

// tcpPair connects a client to a loopback listener and returns the
// accepted connection's fd (a blocking dup) and the client.
func tcpPair(t *testing.T, network, addr string) (int, net.Conn) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("listen %s %s: %v", network, addr, err)
	}
	defer ln.Close()
	c, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	sc, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	f, err := sc.(*net.TCPConn).File() // a blocking dup
	sc.Close()
	if err != nil {
		t.Fatalf("File: %v", err)
	}
	fd, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		t.Fatalf("dup: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd, c
}

// serve runs ServeStream in a goroutine; the returned channel yields its error.
func serve(name string, fd int, deadline time.Time, stop <-chan struct{}, loc *time.Location) <-chan error {
	done := make(chan error, 1)
	go func() { done <- ServeStream(name, fd, deadline, stop, loc) }()
	return done
}

// result waits for ServeStream's error, failing after 5 s.
func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("ServeStream did not return")
		return nil
	}
}

// closeWrite half-closes the client's sending side.
func closeWrite(t *testing.T, c net.Conn) {
	t.Helper()
	type closeWriter interface{ CloseWrite() error }
	if err := c.(closeWriter).CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
}

func TestServeStreamEcho(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			fd, c := tr.open(t)
			done := serve("echo", fd, time.Now().Add(10*time.Second), nil, nil)
			msg := bytes.Repeat([]byte("echo me\x00\xff"), 50000) // larger than socket buffers
			werr := make(chan error, 1)
			go func() {
				_, err := c.Write(msg)
				if err == nil {
					type closeWriter interface{ CloseWrite() error }
					err = c.(closeWriter).CloseWrite()
				}
				werr <- err
			}()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatalf("read: %v", err)
			}
			if err := <-werr; err != nil {
				t.Fatalf("write: %v", err)
			}
			if !bytes.Equal(got, msg) {
				t.Errorf("echoed %d bytes differ from the %d sent", len(got), len(msg))
			}
			if err := result(t, done); err != nil {
				t.Errorf("ServeStream(echo) = %v, want nil", err)
			}
		})
	}
}

// TestServeStreamEchoContent checks a short exchange and that the fd is
// left open and blocking.
func TestServeStreamEchoContent(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			fd, c := tr.open(t)
			done := serve("echo", fd, time.Time{}, nil, nil)
			msg := []byte("hello, echo\r\n\x00binary\xff")
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, msg) {
				t.Errorf("echoed %q, want %q", got, msg)
			}
			closeWrite(t, c)
			if err := result(t, done); err != nil {
				t.Errorf("ServeStream(echo) = %v, want nil", err)
			}
			// fd is still open and still blocking.
			fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
			if err != nil {
				t.Fatalf("fd closed by ServeStream: %v", err)
			}
			if fl&unix.O_NONBLOCK != 0 {
				t.Errorf("ServeStream left the fd non-blocking")
			}
		})
	}
}

func TestServeStreamDiscard(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			fd, c := tr.open(t)
			done := serve("discard", fd, time.Now().Add(10*time.Second), nil, nil)
			if _, err := c.Write(bytes.Repeat([]byte("x"), 1<<20)); err != nil {
				t.Fatal(err)
			}
			closeWrite(t, c)
			if err := result(t, done); err != nil {
				t.Errorf("ServeStream(discard) = %v, want nil", err)
			}
			// Nothing was sent back.
			unix.Shutdown(fd, unix.SHUT_WR)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if got, err := io.ReadAll(c); err != nil || len(got) != 0 {
				t.Errorf("discard sent %q (err %v), want nothing", got, err)
			}
		})
	}
}

// finish runs a builtin that writes and returns, then closes the server
// side so the client can read to EOF.
func finish(t *testing.T, name string, loc *time.Location) ([]byte, time.Time, time.Time) {
	t.Helper()
	fd, c := socketPair(t)
	before := time.Now()
	if err := ServeStream(name, fd, time.Now().Add(5*time.Second), nil, loc); err != nil {
		t.Fatalf("ServeStream(%s) = %v", name, err)
	}
	after := time.Now()
	unix.Shutdown(fd, unix.SHUT_WR)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return got, before, after
}

func TestServeStreamDaytime(t *testing.T) {
	loc := time.FixedZone("UTC+5:30", 5*3600+1800)
	got, before, after := finish(t, "daytime", loc)
	s := string(got)
	if !strings.HasSuffix(s, "\r\n") {
		t.Fatalf("daytime = %q, want a \\r\\n ending", s)
	}
	ts, err := time.ParseInLocation(DaytimeLayout, strings.TrimSuffix(s, "\r\n"), loc)
	if err != nil {
		t.Fatalf("daytime = %q: %v", s, err)
	}
	if ts.Before(before.Truncate(time.Second)) || ts.After(after) {
		t.Errorf("daytime = %v, want between %v and %v", ts, before, after)
	}
	if want := before.In(loc).Format("Mon Jan _2"); !strings.HasPrefix(s, want) && !strings.HasPrefix(s, after.In(loc).Format("Mon Jan _2")) {
		t.Errorf("daytime = %q, want it to start %q (in the given location)", s, want)
	}
}

func TestServeStreamTime(t *testing.T) {
	got, before, after := finish(t, "time", nil)
	if len(got) != 4 {
		t.Fatalf("time sent %d bytes %x, want 4", len(got), got)
	}
	v := binary.BigEndian.Uint32(got)
	lo, hi := uint32(before.Unix()+2208988800), uint32(after.Unix()+2208988800)
	if v < lo || v > hi {
		t.Errorf("time = %d, want %d..%d", v, lo, hi)
	}
}

func TestServeStreamChargen(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			fd, c := tr.open(t)
			done := serve("chargen", fd, time.Now().Add(10*time.Second), nil, nil)
			const lines = 3*95 + 7
			got := make([]byte, lines*74)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatalf("read: %v", err)
			}
			if want := wantChargen(0, lines); !bytes.Equal(got, want) {
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("chargen byte %d (line %d) = %q, want %q", i, i/74, got[i], want[i])
					}
				}
			}
			c.Close() // the client goes: EPIPE/ECONNRESET end the session quietly
			if err := result(t, done); err != nil {
				t.Errorf("ServeStream(chargen) after the client left = %v, want nil", err)
			}
		})
	}
}

func TestServeStreamDeadline(t *testing.T) {
	for _, name := range []string{"echo", "discard", "chargen"} {
		for _, tr := range transports() {
			t.Run(name+"/"+tr.name, func(t *testing.T) {
				fd, _ := tr.open(t) // an idle client that never reads nor writes
				start := time.Now()
				err := result(t, serve(name, fd, start.Add(150*time.Millisecond), nil, nil))
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("ServeStream(%s) = %v, want os.ErrDeadlineExceeded", name, err)
				}
				if d := time.Since(start); d < 150*time.Millisecond || d > 3*time.Second {
					t.Errorf("ServeStream(%s) returned after %v, want about 150ms", name, d)
				}
			})
		}
	}
}

func TestServeStreamPastDeadline(t *testing.T) {
	fd, _ := socketPair(t)
	err := ServeStream("daytime", fd, time.Now().Add(-time.Second), nil, nil)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ServeStream(daytime, past deadline) = %v, want os.ErrDeadlineExceeded", err)
	}
}

func TestServeStreamStop(t *testing.T) {
	for _, name := range []string{"echo", "discard", "chargen"} {
		t.Run(name, func(t *testing.T) {
			fd, _ := socketPair(t)
			stop := make(chan struct{})
			done := serve(name, fd, time.Time{}, stop, nil)
			time.Sleep(50 * time.Millisecond)
			start := time.Now()
			close(stop)
			if err := result(t, done); !errors.Is(err, ErrStopped) {
				t.Errorf("ServeStream(%s) after stop = %v, want ErrStopped", name, err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("ServeStream(%s) took %v to stop", name, d)
			}
		})
	}
	t.Run("closed before", func(t *testing.T) {
		fd, _ := socketPair(t)
		stop := make(chan struct{})
		close(stop)
		if err := ServeStream("echo", fd, time.Time{}, stop, nil); !errors.Is(err, ErrStopped) {
			t.Errorf("ServeStream with stop closed = %v, want ErrStopped", err)
		}
	})
}

func TestServeStreamClientReset(t *testing.T) {
	fd, c := tcpPair(t, "tcp4", "127.0.0.1:0")
	done := serve("echo", fd, time.Now().Add(5*time.Second), nil, nil)
	c.(*net.TCPConn).SetLinger(0) // close sends RST
	c.Write([]byte("x"))
	c.Close()
	if err := result(t, done); err != nil {
		t.Errorf("ServeStream(echo) after RST = %v, want nil", err)
	}
}

func TestServeStreamErrors(t *testing.T) {
	fd, _ := socketPair(t)
	if err := ServeStream("qotd", fd, time.Time{}, nil, nil); err == nil {
		t.Errorf("ServeStream(qotd) = nil, want an error")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	bad := int(r.Fd())
	r.Close()
	w.Close()
	if err := ServeStream("echo", bad, time.Now().Add(time.Second), nil, nil); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ServeStream(echo, closed fd) = %v, want a poll error", err)
	}
}
