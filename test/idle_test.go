package test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Idle nowait stream services keep no goroutine: their sockets wait on
// superd's one watcher, which starts an acceptor when a connection
// arrives; the acceptors end once the socket has been quiet for a while
// (listener's hot window, 200 ms).

// idleFor is longer than the hot window: the service's acceptors have
// ended by then.
const idleFor = 600 * time.Millisecond

// burst runs n round trips to addr at once.
func burst(t *testing.T, network, addr string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := fmt.Sprintf("burst %d\n", i)
			got, err := idleTry(network, addr, msg)
			if err == nil && got != msg {
				err = fmt.Errorf("got %q, want %q", got, msg)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("burst on %s: %v", addr, err)
		}
	}
}

// idleTry is roundTrip with a half-close, for goroutines: no t.
func idleTry(network, addr, in string) (string, error) {
	c, err := net.DialTimeout(network, addr, ioTimeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := c.Write([]byte(in)); err != nil {
		return "", err
	}
	c.(interface{ CloseWrite() error }).CloseWrite()
	var b strings.Builder
	buf := make([]byte, 512)
	for {
		n, err := c.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			if b.Len() > 0 || n > 0 {
				return b.String(), nil
			}
			return b.String(), err
		}
	}
}

func TestIdleServicesServe(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "cat.sock")
	s := startSuperd(t, map[string]string{
		"a.hcl": service("cat", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`) +
			service("echo", `builtin = "echo"`, `listen = ["127.0.0.1:0"]`) +
			service("ucat", `protocol = "unix"`, `listen = [`+strconv.Quote(sock)+`]`, userLine, `command = ["/bin/cat"]`) +
			service("gone", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`),
	})
	targets := []struct{ network, addr string }{
		{"tcp", s.addr("cat")}, {"tcp", s.addr("echo")}, {"unix", sock},
	}
	for round := 0; round < 3; round++ {
		time.Sleep(idleFor)
		for _, tg := range targets {
			if got := roundTrip(t, tg.network, tg.addr, "hi\n", true); got != "hi\n" {
				t.Fatalf("round %d, %s after %v idle: got %q, want %q", round, tg.addr, idleFor, got, "hi\n")
			}
		}
		// A burst (extra acceptors where spawns wait for the exec); they
		// end too once it is quiet.
		for _, tg := range targets {
			burst(t, tg.network, tg.addr, 20)
		}
	}

	// A reload keeps the idle sockets, which are still served; the socket
	// of a removed service is closed while it waits on the watcher.
	goneAddr := s.addr("gone")
	time.Sleep(idleFor)
	h2WriteConf(t, s, "a.hcl",
		service("cat", `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`)+
			service("echo", `builtin = "echo"`, `listen = ["127.0.0.1:0"]`)+
			service("ucat", `protocol = "unix"`, `listen = [`+strconv.Quote(sock)+`]`, userLine, `command = ["/bin/cat"]`))
	s.h2HupAndWait("reloaded")
	time.Sleep(idleFor)
	for _, tg := range targets {
		if got := roundTrip(t, tg.network, tg.addr, "kept\n", true); got != "kept\n" {
			t.Fatalf("%s after a reload: got %q, want %q", tg.addr, got, "kept\n")
		}
	}
	if refused, err := h2Refused(goneAddr); !refused {
		t.Errorf("removed service %s still accepts connections (%v)", goneAddr, err)
	}
}

// procThreads reads Threads from /proc/PID/status.
func procThreads(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("Threads: %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatalf("no Threads line in /proc/%d/status", pid)
	return 0
}

func TestIdleServicesNoGoroutines(t *testing.T) {
	const n = 200
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(service("s"+strconv.Itoa(i), `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`))
	}
	s := startSuperd(t, map[string]string{"00-daemon.hcl": h2MetricsDaemon, "svc.hcl": b.String()})
	maddr := s.h2MetricsAddr()

	// Far fewer goroutines than services: none waits for an idle socket.
	const maxGoroutines = 40
	idle := func(what string, checkThreads bool) {
		t.Helper()
		ss, ok := h2WaitScrape(t, maddr, 5*time.Second, func(ss []h2Sample) bool {
			g, ok := h2Value(ss, "go_goroutines")
			return ok && g <= maxGoroutines
		})
		if !ok {
			g, _ := h2Value(ss, "go_goroutines")
			t.Fatalf("%s: %v goroutines with %d idle services, want at most %d", what, g, n, maxGoroutines)
		}
		g, _ := h2Value(ss, "go_goroutines")
		th := procThreads(t, s.Pid)
		t.Logf("%s: %v goroutines, %d threads", what, g, th)
		// Threads are a high-water mark (the runtime keeps them after a
		// burst of spawns): checked only while no client came yet.
		if checkThreads && th > maxGoroutines {
			t.Errorf("%s: %d threads with %d idle services, want at most %d", what, th, n, maxGoroutines)
		}
	}
	idle("at start", true)

	// Services that were busy go back to none once quiet.
	for i := 0; i < n; i += 10 {
		addr := s.addr("s" + strconv.Itoa(i))
		if got := roundTrip(t, "tcp", addr, "x\n", true); got != "x\n" {
			t.Fatalf("%s: got %q, want %q", addr, got, "x\n")
		}
		if i%50 == 0 {
			burst(t, "tcp", addr, 20)
		}
	}
	time.Sleep(idleFor)
	idle("after connections", false)
	for i := 5; i < n; i += 50 {
		addr := s.addr("s" + strconv.Itoa(i))
		if got := roundTrip(t, "tcp", addr, "y\n", true); got != "y\n" {
			t.Fatalf("%s: got %q, want %q", addr, got, "y\n")
		}
	}
}
