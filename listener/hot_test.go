package listener

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// waitFor polls cond for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// inAccept4 reports whether a thread of this process is blocked in
// accept4 (from /proc/self/task/*/syscall).
func inAccept4() bool {
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/syscall")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 && f[0] == strconv.Itoa(unix.SYS_ACCEPT4) {
			return true
		}
	}
	return false
}

type acceptResult struct {
	c   Conn
	err error
}

func acceptAsync(s *Socket) <-chan acceptResult { return async(s.Accept) }

func acceptOrIdleAsync(s *Socket) <-chan acceptResult { return async(s.AcceptOrIdle) }

// async runs accept in a goroutine; its result arrives on the channel.
func async(accept func() (Conn, error)) <-chan acceptResult {
	ch := make(chan acceptResult, 1)
	go func() {
		c, err := accept()
		ch <- acceptResult{c, err}
	}()
	return ch
}

func TestHotWaitAccepts(t *testing.T) {
	s := mustBind(t, mustParse(t, "tcp", "127.0.0.1:0"), Options{})
	if s.busy() {
		t.Fatalf("a new socket is busy")
	}
	// The first connection makes the socket busy.
	dial(t, loopback(s)).Close()
	unix.Close(acceptTimeout(t, s).FD)
	if !s.busy() {
		t.Fatalf("not busy right after a connection")
	}
	// The next Accept blocks in accept4, and gets its connection.
	ch := acceptAsync(s)
	if !waitFor(time.Second, inAccept4) {
		t.Fatalf("Accept on a busy socket is not blocked in accept4")
	}
	// So does a second one: the kernel wakes one per connection.
	ch2 := acceptAsync(s)
	c1 := dial(t, loopback(s))
	defer c1.Close()
	c2 := dial(t, loopback(s))
	defer c2.Close()
	for i, ch := range []<-chan acceptResult{ch, ch2} {
		select {
		case r := <-ch:
			if r.err != nil {
				t.Fatalf("accept %d: %v", i, r.err)
			}
			if !isBlocking(t, r.c.FD) || !isCloexec(t, r.c.FD) {
				t.Errorf("accept %d: fd not blocking and close-on-exec", i)
			}
			unix.Close(r.c.FD)
		case <-time.After(5 * time.Second):
			t.Fatalf("accept %d: no connection after 5s", i)
		}
	}
}

func TestHotWaitGoesQuiet(t *testing.T) {
	s := mustBind(t, mustParse(t, "tcp", "127.0.0.1:0"), Options{})
	dial(t, loopback(s)).Close()
	unix.Close(acceptTimeout(t, s).FD)
	ch := acceptAsync(s)
	if !waitFor(time.Second, inAccept4) {
		t.Fatalf("Accept on a busy socket is not blocked in accept4")
	}
	// Quiet for hotWindow: the waiter leaves accept4 for the poller...
	if !waitFor(hotWindow+time.Second, func() bool { return !inAccept4() }) {
		t.Fatalf("still blocked in accept4 %v after the last connection", hotWindow+time.Second)
	}
	select {
	case r := <-ch:
		t.Fatalf("Accept returned %+v, %v without a connection", r.c, r.err)
	default:
	}
	// ...where a connection still reaches it.
	c := dial(t, loopback(s))
	defer c.Close()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatal(r.err)
		}
		unix.Close(r.c.FD)
	case <-time.After(5 * time.Second):
		t.Fatalf("no connection after 5s")
	}
}

func TestHotWaitClose(t *testing.T) {
	s := mustBind(t, mustParse(t, "tcp", "127.0.0.1:0"), Options{})
	dial(t, loopback(s)).Close()
	unix.Close(acceptTimeout(t, s).FD)
	before := openFDs(t)
	ch := acceptAsync(s)
	if !waitFor(time.Second, inAccept4) {
		t.Fatalf("Accept on a busy socket is not blocked in accept4")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-ch:
		if !errors.Is(r.err, net.ErrClosed) {
			t.Fatalf("Accept after Close = %+v, %v; want net.ErrClosed", r.c, r.err)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("Accept still blocked 2s after Close")
	}
	// The descriptor is released once the waiter has left accept4.
	if !waitFor(time.Second, func() bool { return openFDs(t) == before-1 }) {
		t.Errorf("open fds = %d after Close, want %d", openFDs(t), before-1)
	}
}

func TestPending(t *testing.T) {
	s := mustBind(t, mustParse(t, "tcp", "127.0.0.1:0"), Options{})
	if s.Pending() {
		t.Fatalf("Pending with no client")
	}
	dial(t, loopback(s))
	if !waitFor(time.Second, s.Pending) {
		t.Fatalf("not Pending with a connection in the backlog")
	}
	unix.Close(acceptTimeout(t, s).FD)
	if s.Pending() {
		t.Errorf("Pending after the only connection was accepted")
	}
	s.Close()
	if s.Pending() {
		t.Errorf("Pending after Close")
	}
}

func TestSetBlockingClearsAcceptTimeout(t *testing.T) {
	// A wait-mode handler gets the listening socket blocking and without
	// the receive timeout Accept uses: its own accept must not time out.
	s := mustBind(t, mustParse(t, "tcp", "127.0.0.1:0"), Options{})
	dial(t, loopback(s))
	unix.Close(acceptTimeout(t, s).FD)
	tv, err := unix.GetsockoptTimeval(s.FD(), unix.SOL_SOCKET, unix.SO_RCVTIMEO)
	// (The kernel keeps the timeout in clock ticks: about hotSlice.)
	if err != nil || tv.Nano() < int64(hotSlice) || tv.Nano() > int64(hotSlice)+int64(20*time.Millisecond) || !isBlocking(t, s.FD()) {
		t.Fatalf("after Accept: SO_RCVTIMEO %v (%v), blocking %v; want about %v, true", tv, err, isBlocking(t, s.FD()), hotSlice)
	}
	if err := s.SetBlocking(true); err != nil {
		t.Fatal(err)
	}
	if tv, err := unix.GetsockoptTimeval(s.FD(), unix.SOL_SOCKET, unix.SO_RCVTIMEO); err != nil || tv.Nano() != 0 || !isBlocking(t, s.FD()) {
		t.Errorf("after SetBlocking(true): SO_RCVTIMEO %v (%v), blocking %v; want 0, true", tv, err, isBlocking(t, s.FD()))
	}
	if err := s.SetBlocking(false); err != nil {
		t.Fatal(err)
	}
	// Accept again: blocking, with its timeout, once more.
	dial(t, loopback(s))
	unix.Close(acceptTimeout(t, s).FD)
	if tv, _ := unix.GetsockoptTimeval(s.FD(), unix.SOL_SOCKET, unix.SO_RCVTIMEO); tv.Nano() < int64(hotSlice) || !isBlocking(t, s.FD()) {
		t.Errorf("Accept after SetBlocking(false): SO_RCVTIMEO %v, blocking %v", tv, isBlocking(t, s.FD()))
	}
}

func TestAcceptedConnHasNoTimeout(t *testing.T) {
	// A connection inherits the listening socket's options, the receive
	// timeout Accept sets included: Accept clears it, or a handler
	// waiting for its client longer than hotSlice would read EAGAIN.
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if network == "unix" {
				addr = filepath.Join(t.TempDir(), "s")
			}
			s := mustBind(t, mustParse(t, network, addr), Options{})
			for i := range 3 {
				var c net.Conn
				var err error
				if network == "unix" {
					c, err = net.Dial("unix", addr)
				} else {
					c, err = net.Dial("tcp", loopback(s).String())
				}
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				conn := acceptTimeout(t, s)
				defer unix.Close(conn.FD)
				if tv, err := unix.GetsockoptTimeval(s.FD(), unix.SOL_SOCKET, unix.SO_RCVTIMEO); err != nil || tv.Nano() == 0 {
					t.Fatalf("listening socket SO_RCVTIMEO = %v, %v; want Accept's", tv, err)
				}
				if tv, err := unix.GetsockoptTimeval(conn.FD, unix.SOL_SOCKET, unix.SO_RCVTIMEO); err != nil || tv.Nano() != 0 {
					t.Errorf("connection %d: SO_RCVTIMEO = %v, %v; want none", i, tv, err)
				}
				// A read blocks past hotSlice until the client writes.
				go func() {
					time.Sleep(5 * hotSlice)
					c.Write([]byte("x"))
				}()
				var b [1]byte
				if n, err := unix.Read(conn.FD, b[:]); n != 1 || err != nil {
					t.Errorf("connection %d: read = %d, %v; want the client's byte", i, n, err)
				}
			}
		})
	}
}
