package listener

import "os"

// DefaultBacklog is the listen(2) backlog used when Options.Backlog is 0.
// The kernel caps it at net.core.somaxconn.
const DefaultBacklog = 4096

// DefaultUnixMode is the mode of a unix socket file when Options.UnixMode
// is 0 (as systemd's SocketMode).
const DefaultUnixMode os.FileMode = 0o666

// Options are the binding options of a socket. The zero value is the
// SPEC default: backlog 4096, no keepalive, nodelay or freebind, a unix
// socket file 0666 owned by root:root (as systemd). Set UnixUID and
// UnixGID to -1 to leave the file owned by superd, as an unprivileged
// superd must.
type Options struct {
	Backlog   int         // listen(2) backlog; 0 means 4096
	Keepalive bool        // SO_KEEPALIVE on accepted TCP sockets (set on listener, inherited)
	NoDelay   bool        // TCP_NODELAY on accepted TCP sockets (set on listener, inherited)
	FreeBind  bool        // IP_FREEBIND / IPV6_FREEBIND: bind an address that is not up yet
	UnixMode  os.FileMode // unix socket file mode (permission bits only); 0 means 0666
	UnixUID   int         // owner of the unix socket file; -1 leaves it
	UnixGID   int         // group; -1 leaves it
}

func (o Options) backlog() int {
	if o.Backlog <= 0 {
		return DefaultBacklog
	}
	return o.Backlog
}

func (o Options) unixMode() uint32 {
	if o.UnixMode == 0 {
		return uint32(DefaultUnixMode)
	}
	return uint32(o.UnixMode.Perm())
}
