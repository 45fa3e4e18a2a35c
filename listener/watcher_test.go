package listener

import (
	"errors"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startWatcher makes a Watcher running on its own goroutine; the cleanup
// closes it and checks that Run returned nil.
func startWatcher(t *testing.T) *Watcher {
	t.Helper()
	w, err := NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- w.Run() }()
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Watcher.Close: %v", err)
		}
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Watcher.Run = %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Watcher.Run still running 5s after Close")
		}
	})
	return w
}

// fired returns a callback counting its calls on a channel.
func fired() (func(), chan struct{}) {
	ch := make(chan struct{}, 16)
	return func() { ch <- struct{}{} }, ch
}

// expectFire waits up to 5s for one call on ch.
func expectFire(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no callback within 5s", what)
	}
}

// expectNoFire checks that ch gets no call within d.
func expectNoFire(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("%s: unexpected callback", what)
	case <-time.After(d):
	}
}

// drain accepts every waiting connection of s and closes it.
func drain(t *testing.T, s *Socket) int {
	t.Helper()
	n := 0
	for {
		fd, _, err := unix.Accept4(s.FD(), unix.SOCK_CLOEXEC)
		if err == unix.EAGAIN {
			return n
		}
		if err != nil {
			t.Fatalf("accept4: %v", err)
		}
		unix.Close(fd)
		n++
	}
}

func TestWatchOnceFiresOncePerArm(t *testing.T) {
	w := startWatcher(t)
	s := mustBind(t, mustParse(t, "tcp", "127.0.0.1:0"), Options{})
	fn, ch := fired()
	if err := s.WatchOnce(w, fn); err != nil {
		t.Fatal(err)
	}
	expectNoFire(t, ch, 50*time.Millisecond, "armed, no connection")

	dial(t, loopback(s))
	expectFire(t, ch, "first connection")
	// One-shot: neither the same connection nor a new one calls back
	// until the socket is armed again.
	dial(t, loopback(s))
	expectNoFire(t, ch, 50*time.Millisecond, "second connection, not re-armed")

	// Re-armed with connections still waiting: reported at once.
	if err := s.WatchOnce(w, fn); err != nil {
		t.Fatal(err)
	}
	expectFire(t, ch, "re-armed with connections waiting")
	if n := drain(t, s); n != 2 {
		t.Fatalf("accepted %d connections, want 2", n)
	}

	// Re-armed with nothing waiting: the next arrival is reported, once.
	for i := 0; i < 3; i++ {
		if err := s.WatchOnce(w, fn); err != nil {
			t.Fatal(err)
		}
		expectNoFire(t, ch, 20*time.Millisecond, "re-armed, drained")
		dial(t, loopback(s))
		expectFire(t, ch, "connection after re-arm")
		expectNoFire(t, ch, 20*time.Millisecond, "same connection")
		drain(t, s)
	}
}

func TestWatchOnceManySockets(t *testing.T) {
	w := startWatcher(t)
	const n = 50
	socks := make([]*Socket, n)
	var calls [n]atomic.Int32
	for i := range socks {
		socks[i] = mustBind(t, mustParse(t, "tcp", "127.0.0.1:0"), Options{})
		if err := socks[i].WatchOnce(w, func() { calls[i].Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i += 2 {
		dial(t, loopback(socks[i]))
	}
	if !waitFor(5*time.Second, func() bool {
		for i := 0; i < n; i += 2 {
			if calls[i].Load() == 0 {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("not every socket with a connection was reported")
	}
	time.Sleep(20 * time.Millisecond)
	for i := range socks {
		want := int32(1 - i%2)
		if got := calls[i].Load(); got != want {
			t.Errorf("socket %d: %d callbacks, want %d", i, got, want)
		}
	}
}

func TestWatchOnceArmedBeforeRun(t *testing.T) {
	w, err := NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	s := mustBind(t, mustParse(t, "tcp", "127.0.0.1:0"), Options{})
	fn, ch := fired()
	if err := s.WatchOnce(w, fn); err != nil {
		t.Fatal(err)
	}
	dial(t, loopback(s))
	done := make(chan error, 1)
	go func() { done <- w.Run() }()
	expectFire(t, ch, "connection before Run")
	if err := w.Run(); err == nil {
		t.Errorf("second Run = nil, want an error")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

// TestWatchOnceClose closes armed sockets while connections arrive: no
// callback may run once Close has returned, and the fd number that a new
// socket reuses is not taken for the old one's.
func TestWatchOnceClose(t *testing.T) {
	w := startWatcher(t)
	for i := 0; i < 200; i++ {
		s, err := Bind(mustParse(t, "tcp", "127.0.0.1:0"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		var closed atomic.Bool
		var late atomic.Int32
		if err := s.WatchOnce(w, func() {
			if closed.Load() {
				late.Add(1)
			}
		}); err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", loopback(s).String())
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			runtime.Gosched()
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		closed.Store(true)
		c.Close()

		// A new socket, likely on the same fd number, armed with a
		// connection waiting: only its own callback runs.
		s2 := mustBind(t, mustParse(t, "tcp", "127.0.0.1:0"), Options{})
		fn, ch := fired()
		if err := s2.WatchOnce(w, fn); err != nil {
			t.Fatal(err)
		}
		dial(t, loopback(s2))
		expectFire(t, ch, "new socket")
		s2.Close()
		if n := late.Load(); n != 0 {
			t.Fatalf("round %d: %d callbacks after Close", i, n)
		}
		if err := s.WatchOnce(w, func() {}); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("WatchOnce after Close = %v, want net.ErrClosed", err)
		}
	}
}

// TestWatchOnceCloseDuringCallback closes a socket while its callback
// runs: Close waits for it.
func TestWatchOnceCloseDuringCallback(t *testing.T) {
	w := startWatcher(t)
	s, err := Bind(mustParse(t, "tcp", "127.0.0.1:0"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	in, out := make(chan struct{}), make(chan struct{})
	var returned atomic.Bool
	if err := s.WatchOnce(w, func() {
		close(in)
		time.Sleep(50 * time.Millisecond)
		returned.Store(true)
		close(out)
	}); err != nil {
		t.Fatal(err)
	}
	dial(t, loopback(s))
	<-in
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !returned.Load() {
		t.Errorf("Close returned while the callback ran")
	}
	<-out
}

func TestWatcherCloseReleases(t *testing.T) {
	before := openFDs(t)
	goroutines := runtime.NumGoroutine()
	for i := 0; i < 3; i++ {
		s, err := Bind(mustParse(t, "tcp", "127.0.0.1:0"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := NewWatcher()
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		if i > 0 { // the first is closed without ever running
			go func() { done <- w.Run() }()
		}
		fn, ch := fired()
		if err := s.WatchOnce(w, fn); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if err := <-done; err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		}
		if err := w.Close(); err == nil {
			t.Errorf("second Close = nil, want an error")
		}
		if err := w.Run(); err != nil {
			t.Errorf("Run after Close = %v, want nil", err)
		}
		if err := s.WatchOnce(w, fn); err == nil {
			t.Errorf("WatchOnce on a closed watcher = nil, want an error")
		}
		c, err := net.Dial("tcp", loopback(s).String())
		if err != nil {
			t.Fatal(err)
		}
		expectNoFire(t, ch, 20*time.Millisecond, "closed watcher")
		c.Close()
		// A socket armed on a closed watcher still closes cleanly.
		if err := s.Close(); err != nil {
			t.Errorf("Close of a socket armed on a closed watcher: %v", err)
		}
	}
	if got := openFDs(t); got != before {
		t.Errorf("open fds = %d after closing the watchers and sockets, want %d", got, before)
	}
	if !waitFor(time.Second, func() bool { return runtime.NumGoroutine() <= goroutines }) {
		t.Errorf("goroutines = %d after closing the watchers, want %d", runtime.NumGoroutine(), goroutines)
	}
}

func TestWatchOnceOtherWatcher(t *testing.T) {
	w1, w2 := startWatcher(t), startWatcher(t)
	s := mustBind(t, mustParse(t, "tcp", "127.0.0.1:0"), Options{})
	if err := s.WatchOnce(w1, func() {}); err != nil {
		t.Fatal(err)
	}
	if err := s.WatchOnce(w2, func() {}); err == nil {
		t.Errorf("WatchOnce on a second watcher = nil, want an error")
	}
}

func TestWatchOnceUnix(t *testing.T) {
	w := startWatcher(t)
	path := t.TempDir() + "/s.sock"
	s := mustBind(t, mustParse(t, "unix", path), Options{UnixMode: 0o600, UnixUID: -1, UnixGID: -1})
	fn, ch := fired()
	if err := s.WatchOnce(w, fn); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	expectFire(t, ch, "unix connection")
	cn, err := s.AcceptOrIdle()
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(cn.FD)
}

func TestAcceptOrIdle(t *testing.T) {
	s := mustBind(t, mustParse(t, "tcp", "127.0.0.1:0"), Options{})
	// Quiet: idle at once.
	start := time.Now()
	if _, err := s.AcceptOrIdle(); !errors.Is(err, ErrIdle) {
		t.Fatalf("AcceptOrIdle on a new socket = %v, want ErrIdle", err)
	}
	if d := time.Since(start); d > hotWindow/2 {
		t.Errorf("AcceptOrIdle on a quiet socket took %v", d)
	}
	// A waiting connection is accepted.
	dial(t, loopback(s))
	c, err := s.AcceptOrIdle()
	if err != nil {
		t.Fatalf("AcceptOrIdle with a connection waiting: %v", err)
	}
	if !isBlocking(t, c.FD) || !isCloexec(t, c.FD) {
		t.Errorf("fd not blocking and close-on-exec")
	}
	unix.Close(c.FD)
	// Busy: it waits in accept4 for the next connection...
	ch := acceptOrIdleAsync(s)
	if !waitFor(time.Second, inAccept4) {
		t.Fatalf("AcceptOrIdle on a busy socket is not blocked in accept4")
	}
	dial(t, loopback(s))
	r := <-ch
	if r.err != nil {
		t.Fatalf("AcceptOrIdle on a busy socket: %v", r.err)
	}
	unix.Close(r.c.FD)
	// ...and reports idle once quiet for hotWindow.
	start = time.Now()
	if _, err := s.AcceptOrIdle(); !errors.Is(err, ErrIdle) {
		t.Fatalf("AcceptOrIdle after the socket went quiet = %v, want ErrIdle", err)
	}
	if d := time.Since(start); d < hotWindow/2 || d > hotWindow+time.Second {
		t.Errorf("AcceptOrIdle on a busy socket returned ErrIdle after %v, want about %v", d, hotWindow)
	}
	if IsTemporary(ErrIdle) {
		t.Errorf("IsTemporary(ErrIdle) = true")
	}
	// Closed while it waits in accept4: net.ErrClosed.
	dial(t, loopback(s))
	c, err = s.AcceptOrIdle()
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(c.FD)
	ch = acceptOrIdleAsync(s)
	if !waitFor(time.Second, inAccept4) {
		t.Fatalf("AcceptOrIdle on a busy socket is not blocked in accept4")
	}
	s.Close()
	if r := <-ch; !errors.Is(r.err, net.ErrClosed) {
		t.Errorf("AcceptOrIdle when closed = %+v, %v; want net.ErrClosed", r.c, r.err)
	}
	if _, err := s.AcceptOrIdle(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("AcceptOrIdle after Close = %v, want net.ErrClosed", err)
	}
}

// TestAcceptOrIdleWithAccept: while Accept waits for a connection on a
// quiet socket, AcceptOrIdle still reports idle, and the Accept still
// gets the connection that comes.
func TestAcceptOrIdleWithAccept(t *testing.T) {
	s := mustBind(t, mustParse(t, "tcp", "127.0.0.1:0"), Options{})
	res := make(chan error, 1)
	go func() {
		c, err := s.Accept()
		if err == nil {
			unix.Close(c.FD)
		}
		res <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if _, err := s.AcceptOrIdle(); !errors.Is(err, ErrIdle) {
		t.Fatalf("AcceptOrIdle on a quiet socket = %v, want ErrIdle", err)
	}
	select {
	case err := <-res:
		t.Fatalf("Accept returned without a connection: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	dial(t, loopback(s))
	select {
	case err := <-res:
		if err != nil {
			t.Errorf("accept: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no connection accepted within 5s")
	}
}

func TestAcceptOrIdleAllocs(t *testing.T) {
	s := mustBind(t, mustParse(t, "tcp", "127.0.0.1:0"), Options{})
	w := startWatcher(t)
	fn := func() {}
	if err := s.WatchOnce(w, fn); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := s.AcceptOrIdle(); !errors.Is(err, ErrIdle) {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("AcceptOrIdle on a quiet socket: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := s.WatchOnce(w, fn); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("WatchOnce re-arm: %v allocations, want 0", n)
	}
}
