package daemon

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/superd-dev/superd/config"
	"github.com/superd-dev/superd/spawner"
)

// loadConfig writes services into a fresh config directory and loads it.
func loadConfig(t *testing.T, services string) *config.Config {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "conf")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "a.hcl")
	if err := os.WriteFile(p, []byte(services), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(dir, config.Options{UID: os.Getuid()})
	if diags.HasErrors() {
		t.Fatalf("config: %v", diags)
	}
	return cfg
}

// echoServices is n builtin echo services on kernel-chosen ports.
func echoServices(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "service %q {\n  builtin = \"echo\"\n  listen = [\"127.0.0.1:0\"]\n}\n", fmt.Sprintf("e%d", i))
	}
	return b.String()
}

func newSpawner(t *testing.T) *spawner.Spawner {
	t.Helper()
	sp, err := spawner.New(spawner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// settled waits for the goroutine and fd counts to come back to what
// they were.
func settled(t *testing.T, what string, goroutines, fds int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		g, f := runtime.NumGoroutine(), openFDs(t)
		if g <= goroutines && f <= fds {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d goroutines and %d fds, want %d and %d", what, g, f, goroutines, fds)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// echo sends a line to addr and reads it back.
func echo(addr, msg string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return fmt.Errorf("echo %s: got %q, want %q", addr, buf, msg)
	}
	return nil
}

// addrs are the bound addresses of the daemon's sockets.
func addrs(d *Daemon) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, s := range d.sockets {
		out = append(out, s.sock.LocalAddr().String())
	}
	return out
}

// TestIdleSocketsNoGoroutine: idle nowait stream sockets wait on the
// watcher, not in goroutines of their own; they are served when a client
// comes, after any idle time; Shutdown leaves no goroutine or fd behind.
func TestIdleSocketsNoGoroutine(t *testing.T) {
	const n = 50
	sp := newSpawner(t)
	cfg := loadConfig(t, echoServices(n))
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)

	d, err := New(Options{Spawner: sp})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(cfg); err != nil {
		t.Fatal(err)
	}
	// The watcher's and tickRefusals: two goroutines for n services; n
	// sockets, the watcher's two fds and the pacer's /proc/loadavg.
	settled(t, "idle", goroutines+2, fds+n+3)
	for round := 0; round < 2; round++ {
		for _, a := range addrs(d) {
			if err := echo(a, "hi\n"); err != nil {
				t.Fatal(err)
			}
		}
		// Quiet for longer than the listener's hot window: the acceptors
		// end again.
		settled(t, fmt.Sprintf("round %d, quiet", round), goroutines+2, fds+n+3)
	}
	d.Shutdown()
	d.Wait()
	settled(t, "after Shutdown", goroutines, fds)
}

// TestShutdownWhileWaking connects to idle services while Shutdown runs:
// acceptors the watcher starts meanwhile must be waited for (run with
// -race).
func TestShutdownWhileWaking(t *testing.T) {
	const n = 20
	sp := newSpawner(t)
	cfg := loadConfig(t, echoServices(n))
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)
	for round := 0; round < 5; round++ {
		d, err := New(Options{Spawner: sp})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Start(cfg); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, a := range addrs(d) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 5; i++ {
					if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
						c.Close()
					}
				}
			}()
		}
		time.Sleep(time.Duration(round) * time.Millisecond)
		d.Shutdown()
		wg.Wait()
		settled(t, fmt.Sprintf("round %d after Shutdown", round), goroutines, fds)
	}
}

// TestStartFailureReleases: a Start that cannot bind, and a Daemon never
// started, leave no descriptor behind.
func TestStartFailureReleases(t *testing.T) {
	sp := newSpawner(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := loadConfig(t, echoServices(3)+fmt.Sprintf("service \"clash\" {\n  builtin = \"echo\"\n  listen = [%q]\n}\n", busy.Addr().String()))
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)

	d, err := New(Options{Spawner: sp})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(cfg); err == nil {
		t.Fatalf("Start with a clashing address succeeded")
	}
	settled(t, "after a failed Start", goroutines, fds)
	d.Shutdown()

	d, err = New(Options{Spawner: sp})
	if err != nil {
		t.Fatal(err)
	}
	d.Shutdown()
	d.Wait()
	settled(t, "Shutdown without Start", goroutines, fds)
}
