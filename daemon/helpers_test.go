package daemon

import (
	"testing"

	"github.com/superd-dev/superd/listener"
)

func parseAddr(t *testing.T, s string) listener.Addr {
	t.Helper()
	a, err := listener.ParseAddr("tcp", s)
	if err != nil {
		t.Fatalf("ParseAddr(%q): %v", s, err)
	}
	return a
}
