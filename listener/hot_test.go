package listener

import (
	"errors"
	"net"
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

type acceptResult struct {
	c   Conn
	err error
}

func acceptAsync(s *Socket) <-chan acceptResult {
	ch := make(chan acceptResult, 1)
	go func() {
		c, err := s.Accept()
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
	// The next Accept waits in poll(2), and still gets its connection.
	ch := acceptAsync(s)
	if !waitFor(time.Second, s.hot.Load) {
		t.Fatalf("Accept on a busy socket does not wait in poll")
	}
	// A second waiter uses the poller.
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
	if !waitFor(time.Second, s.hot.Load) {
		t.Fatalf("Accept on a busy socket does not wait in poll")
	}
	// Quiet for hotWindow: the waiter leaves poll(2) for the poller...
	if !waitFor(hotWindow+time.Second, func() bool { return !s.hot.Load() }) {
		t.Fatalf("still waiting in poll %v after the last connection", hotWindow+time.Second)
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
	if !waitFor(time.Second, s.hot.Load) {
		t.Fatalf("Accept on a busy socket does not wait in poll")
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
	// The descriptor is released once the waiter has left poll(2).
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
