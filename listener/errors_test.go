package listener

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestIsTemporary(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"EMFILE", syscall.EMFILE, true},
		{"ENFILE wrapped", fmt.Errorf("accept tcp :79: %w", os.NewSyscallError("accept4", syscall.ENFILE)), true},
		{"ENOBUFS", syscall.ENOBUFS, true},
		{"ENOMEM", syscall.ENOMEM, true},
		{"ECONNABORTED", os.NewSyscallError("accept4", syscall.ECONNABORTED), true},
		{"EINTR", syscall.EINTR, true},
		{"EPROTO", syscall.EPROTO, true},
		{"EPERM firewall", syscall.EPERM, true},
		{"ENETDOWN", syscall.ENETDOWN, true},
		{"EBADF", syscall.EBADF, false},
		{"EINVAL", syscall.EINVAL, false},
		{"closed", fmt.Errorf("accept tcp :79: %w", closedError{}), false},
		{"net.ErrClosed", net.ErrClosed, false},
		{"other", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsTemporary(tt.err); got != tt.want {
				t.Errorf("IsTemporary(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestClosedError(t *testing.T) {
	err := fmt.Errorf("accept tcp 127.0.0.1:79: %w", closedError{})
	if !errors.Is(err, net.ErrClosed) || !errors.Is(err, os.ErrClosed) {
		t.Errorf("%v: errors.Is net.ErrClosed = %v, os.ErrClosed = %v, want both", err,
			errors.Is(err, net.ErrClosed), errors.Is(err, os.ErrClosed))
	}
}
