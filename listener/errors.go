package listener

import (
	"errors"
	"net"
	"os"
	"syscall"
)

// ErrIdle is returned by AcceptOrIdle when no connection is waiting and
// the socket has been quiet for a while: time to arm it on a Watcher.
var ErrIdle = errors.New("no connection waiting")

// closedError is returned (wrapped) by every blocking operation on a
// Socket after Close. It matches net.ErrClosed, the documented contract,
// and os.ErrClosed as well, so either check works.
type closedError struct{}

func (closedError) Error() string { return "use of closed socket" }

func (closedError) Is(target error) bool {
	return target == net.ErrClosed || target == os.ErrClosed
}

// IsTemporary reports whether err from Accept, RecvFrom, PeekFrom or
// Discard is a passing condition: out of descriptors or memory, a
// connection aborted or gone before it was accepted, a signal, a network
// error of the accepted connection, a firewall's EPERM. The caller should
// back off (5ms doubling to 1s) and try again rather than give up. An
// error after Close is never temporary.
func IsTemporary(err error) bool {
	if err == nil || errors.Is(err, net.ErrClosed) {
		return false
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR, syscall.EAGAIN,
		syscall.EPERM, // netfilter refused the connection
		syscall.ETIMEDOUT, syscall.ECONNREFUSED, syscall.ENOTCONN,
		// accept(2): "the network errors defined for the protocol"
		syscall.EPROTO, syscall.ENOPROTOOPT, syscall.EHOSTDOWN, syscall.ENONET,
		syscall.EHOSTUNREACH, syscall.EOPNOTSUPP, syscall.ENETDOWN, syscall.ENETUNREACH:
		return true
	}
	return false
}
