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

// transport gives a server fd, to be handed to ServeStream (which closes
// it), and a client connection for one session.
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
	f := os.NewFile(uintptr(fds[1]), "client")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		unix.Close(fds[0])
		t.Fatalf("FileConn: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return fds[0], c
}

// tcpPair connects a client to a loopback listener and returns the
// accepted connection's fd (blocking, the only one open on the
// connection) and the client.
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
// closed at the end.
func TestServeStreamEchoContent(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			fd, c := tr.open(t)
			id := fileID(t, fd)
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
			checkClosed(t, fd, id)
			checkEOF(t, c)
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
			// Nothing was sent back, and ServeStream closed its side.
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if got, err := io.ReadAll(c); err != nil || len(got) != 0 {
				t.Errorf("discard sent %q (err %v), want nothing", got, err)
			}
		})
	}
}

// finish runs a builtin that writes and returns (closing the server
// side), then reads what the client got up to EOF.
func finish(t *testing.T, name string, loc *time.Location) ([]byte, time.Time, time.Time) {
	t.Helper()
	fd, c := socketPair(t)
	before := time.Now()
	if err := ServeStream(name, fd, time.Now().Add(5*time.Second), nil, loc); err != nil {
		t.Fatalf("ServeStream(%s) = %v", name, err)
	}
	after := time.Now()
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
	t.Run("unknown builtin", func(t *testing.T) {
		fd, c := socketPair(t)
		id := fileID(t, fd)
		if err := ServeStream("qotd", fd, time.Time{}, nil, nil); err == nil {
			t.Errorf("ServeStream(qotd) = nil, want an error")
		}
		checkClosed(t, fd, id)
		checkEOF(t, c)
	})
	t.Run("not a socket", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		fd, err := unix.Dup(int(r.Fd()))
		r.Close()
		if err != nil {
			t.Fatalf("dup: %v", err)
		}
		id := fileID(t, fd)
		w.Write([]byte("x"))
		err = ServeStream("echo", fd, time.Now().Add(5*time.Second), nil, nil)
		if !errors.Is(err, unix.ENOTSOCK) {
			t.Errorf("ServeStream(echo, pipe) = %v, want ENOTSOCK", err)
		}
		checkClosed(t, fd, id)
	})
	t.Run("no such fd", func(t *testing.T) {
		const fd = 1<<31 - 1 // above any RLIMIT_NOFILE
		err := ServeStream("echo", fd, time.Now().Add(time.Second), nil, nil)
		if !errors.Is(err, unix.EBADF) {
			t.Errorf("ServeStream(echo, bad fd) = %v, want EBADF", err)
		}
	})
}

// TestServeStreamClosesFD checks that ServeStream closes its fd on every
// path: the client sees EOF and the descriptor no longer refers to the
// socket.
func TestServeStreamClosesFD(t *testing.T) {
	past := func() time.Time { return time.Now().Add(-time.Second) }
	soon := func() time.Time { return time.Now().Add(100 * time.Millisecond) }
	none := func() time.Time { return time.Time{} }
	for _, tc := range []struct {
		name     string
		builtin  string
		deadline func() time.Time
		stop     string // "": nil, "before": closed before, "after": closed after 50ms
		client   func(t *testing.T, c net.Conn)
		want     error // nil, ErrStopped, os.ErrDeadlineExceeded; other: any error
	}{
		{name: "unknown builtin", builtin: "qotd", deadline: none, want: errors.New("any")},
		{name: "past deadline", builtin: "daytime", deadline: past, want: os.ErrDeadlineExceeded},
		{name: "deadline", builtin: "echo", deadline: soon, want: os.ErrDeadlineExceeded},
		{name: "deadline chargen", builtin: "chargen", deadline: soon, want: os.ErrDeadlineExceeded},
		{name: "stop before", builtin: "discard", deadline: none, stop: "before", want: ErrStopped},
		{name: "stop", builtin: "discard", deadline: none, stop: "after", want: ErrStopped},
		{name: "stop with deadline", builtin: "echo", deadline: func() time.Time { return time.Now().Add(time.Minute) }, stop: "after", want: ErrStopped},
		{name: "client EOF", builtin: "echo", deadline: none, client: func(t *testing.T, c net.Conn) { closeWrite(t, c) }},
		{name: "daytime", builtin: "daytime", deadline: none},
		{name: "client gone", builtin: "chargen", deadline: none, client: func(t *testing.T, c net.Conn) {
			c.(*net.UnixConn).CloseRead()
			closeWrite(t, c)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd, c := socketPair(t)
			id := fileID(t, fd)
			var stop chan struct{}
			if tc.stop != "" {
				stop = make(chan struct{})
			}
			if tc.stop == "before" {
				close(stop)
			}
			done := serve(tc.builtin, fd, tc.deadline(), stop, nil)
			if tc.client != nil {
				tc.client(t, c)
			}
			if tc.stop == "after" {
				time.Sleep(50 * time.Millisecond)
				close(stop)
			}
			err := result(t, done)
			switch {
			case tc.want == nil && err != nil,
				tc.want != nil && err == nil,
				tc.want == ErrStopped && !errors.Is(err, ErrStopped),
				tc.want == os.ErrDeadlineExceeded && !errors.Is(err, os.ErrDeadlineExceeded):
				t.Errorf("ServeStream(%s) = %v, want %v", tc.builtin, err, tc.want)
			}
			checkClosed(t, fd, id)
			if tc.client == nil {
				checkEOF(t, c)
			}
		})
	}
}

// TestServeStreamHeldSessions holds many idle sessions at once: waiting,
// they must not hold an OS thread each. Stopped, each returns ErrStopped
// and closes its fd.
func TestServeStreamHeldSessions(t *testing.T) {
	const sessions = 200
	warm, _ := socketPair(t) // the runtime's poller is set up before counting
	unix.Close(warm)
	threads0, fds0 := countDir(t, "/proc/self/task"), countDir(t, "/proc/self/fd")

	stop := make(chan struct{})
	clients := make([]net.Conn, sessions)
	dones := make([]<-chan error, sessions)
	fds := make([]int, sessions)
	ids := make([]fdID, sessions)
	for i := range sessions {
		fds[i], clients[i] = socketPair(t)
		ids[i] = fileID(t, fds[i])
		name := "discard"
		if i%2 == 0 {
			name = "echo"
		}
		dones[i] = serve(name, fds[i], time.Now().Add(time.Minute), stop, nil)
	}
	// Every echo session answers once, then waits again.
	for i := 0; i < sessions; i += 2 {
		c := clients[i]
		c.SetDeadline(time.Now().Add(5 * time.Second))
		var b [1]byte
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatalf("write to session %d: %v", i, err)
		}
		if _, err := io.ReadFull(c, b[:]); err != nil {
			t.Fatalf("read from session %d: %v", i, err)
		}
	}
	time.Sleep(50 * time.Millisecond) // the discard sessions are waiting too
	threads := countDir(t, "/proc/self/task")
	t.Logf("OS threads: %d before, %d with %d sessions waiting", threads0, threads, sessions)
	if threads-threads0 >= 50 {
		t.Errorf("%d waiting sessions took %d OS threads, want fewer than 50", sessions, threads-threads0)
	}

	close(stop)
	deadline := time.After(10 * time.Second)
	for i, done := range dones {
		select {
		case err := <-done:
			if !errors.Is(err, ErrStopped) {
				t.Errorf("session %d: ServeStream after stop = %v, want ErrStopped", i, err)
			}
		case <-deadline:
			t.Fatalf("session %d: ServeStream did not return after stop", i)
		}
		checkClosed(t, fds[i], ids[i])
	}
	for _, c := range clients {
		c.Close()
	}
	n := countDir(t, "/proc/self/fd")
	for end := time.Now().Add(2 * time.Second); n != fds0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
		n = countDir(t, "/proc/self/fd")
	}
	if n != fds0 {
		t.Errorf("open fds after the sessions = %d, want %d as before", n, fds0)
	}
}

// countDir counts the entries of a /proc directory.
func countDir(t *testing.T, dir string) int {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	return len(es)
}

// fdID identifies the file open on a descriptor, so that a test can tell
// it was closed even if the number has been reused since.
type fdID struct{ dev, ino uint64 }

func fileID(t *testing.T, fd int) fdID {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatalf("fstat %d: %v", fd, err)
	}
	return fdID{st.Dev, st.Ino}
}

// checkClosed fails if fd still refers to the file id.
func checkClosed(t *testing.T, fd int, id fdID) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err == nil && st.Dev == id.dev && st.Ino == id.ino {
		t.Errorf("fd %d still open after ServeStream returned", fd)
	}
}

// checkEOF fails unless the client reads, after what was sent, EOF: the
// server side is closed.
func checkEOF(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := io.Copy(io.Discard, c); err != nil {
		t.Errorf("client read %d bytes then %v, want EOF", n, err)
	}
}
