package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"
)

// Bounds that keep a slow or garbage client from hurting the daemon.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 8 << 10
	maxInFlight       = 4

	// maxConns caps the connections the endpoint holds at once, idle ones
	// included, so it never takes more than that many of the daemon's
	// descriptors. Further clients wait in the kernel's backlog until a
	// connection closes.
	maxConns = 64
)

// Server serves /metrics on one address.
type Server struct {
	addr string
	srv  *http.Server
	ln   net.Listener
	wg   sync.WaitGroup
}

// Listen binds addr (a numeric host:port) and serves reg at /metrics. It
// holds at most maxConns (64) connections at once.
func Listen(addr string, reg *prometheus.Registry, log *slog.Logger) (*Server, error) {
	tl, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	ln := netutil.LimitListener(tl, maxConns)
	mux := http.NewServeMux()
	mux.Handle("/metrics", detachCancel(promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		MaxRequestsInFlight: maxInFlight,
		Timeout:             writeTimeout / 2,
		ErrorLog:            errLogger{log},
	})))
	s := &Server{
		addr: tl.Addr().String(),
		ln:   ln,
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "addr", s.addr, "error", err)
		}
	}()
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.addr }

// Close stops the server and waits for its goroutine.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	s.wg.Wait()
	return err
}

// detachCancel serves h with a request context that the client's going
// away does not cancel. net/http cancels the context when its background
// read sees EOF, which a client that half-closes after its request sends
// at once; promhttp's timeout handler would answer such a client 503. A
// scrape stays bounded by that handler's own timeout and by WriteTimeout.
func detachCancel(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithoutCancel(r.Context())))
	})
}

type errLogger struct{ log *slog.Logger }

func (l errLogger) Println(v ...any) { l.log.Warn("metrics", "error", fmt.Sprint(v...)) }
