package test

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// TestUDPConcurrentNoLoss: several clients at once, each request from a
// fresh socket, against a nowait UDP service that forks /bin/cat: every
// request gets its reply. A handler's reply socket is bound to the
// service's port before it is connected to its client, and in between the
// kernel may give it another client's datagram; superd takes such
// datagrams back and serves them.
func TestUDPConcurrentNoLoss(t *testing.T) {
	t.Parallel()
	s := startSuperd(t, map[string]string{
		"svc.hcl": service("ucat", `protocol = "udp"`, `listen = ["127.0.0.1:0"]`, userLine, `command = ["/bin/cat"]`,
			`limits {`, `  instances = 0`, `  per_source = 0`, `}`),
	})
	addr := s.addr("ucat")
	const clients, requests = 8, 40
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		lost []string
	)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64)
			// The last sockets stay open a while, so that no request
			// comes from the port of one just answered: while a handler
			// runs, datagrams from its client's address and port go to
			// its reply socket (SPEC §3), not to a new handler.
			var recent [16]net.Conn
			defer func() {
				for _, c := range recent {
					if c != nil {
						c.Close()
					}
				}
			}()
			for j := range requests {
				msg := fmt.Sprintf("c%d r%d", i, j)
				c, err := net.Dial("udp4", addr)
				if err != nil {
					t.Error(err)
					return
				}
				if old := recent[j%len(recent)]; old != nil {
					old.Close()
				}
				recent[j%len(recent)] = c
				c.SetDeadline(time.Now().Add(ioTimeout))
				var got string
				if _, err = c.Write([]byte(msg)); err == nil {
					var n int
					n, err = c.Read(buf)
					got = string(buf[:n])
				}
				if err != nil || got != msg {
					mu.Lock()
					lost = append(lost, fmt.Sprintf("%s: got %q, %v", msg, got, err))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(lost) > 0 {
		t.Errorf("%d of %d requests without their reply: %v", len(lost), clients*requests, lost)
	}
}
