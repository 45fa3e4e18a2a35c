package main

import (
	"log/slog"
	"os"
	"strconv"

	"github.com/coreos/go-systemd/v22/activation"
	"golang.org/x/sys/unix"
)

// maxListenFDs bounds the LISTEN_FDS superd believes.
const maxListenFDs = 4096

// inheritedSockets returns the sockets systemd passed in (LISTEN_FDS),
// close-on-exec, and unsets the LISTEN_* variables. Before anything wraps
// a descriptor it checks that every one LISTEN_FDS names is a socket: a
// parent that sets LISTEN_FDS without passing the descriptors would
// otherwise hand superd its own (the Go runtime's epoll and cgroup files)
// to adopt and close. If one is not, it takes none and says so; the
// sockets that were passed are left alone, close-on-exec.
func inheritedSockets(log *slog.Logger) []*os.File {
	n, ok := listenFDs()
	if !ok {
		return activation.Files(true) // nothing for this process: unsets the variables
	}
	if n > maxListenFDs {
		log.Error("LISTEN_FDS is not believable; using no inherited socket", "listen_fds", n)
		unsetListenEnv()
		return nil
	}
	var notSockets []int
	for fd := 3; fd < 3+n; fd++ {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
			notSockets = append(notSockets, fd)
		}
	}
	if len(notSockets) == 0 {
		return activation.Files(true)
	}
	log.Error("LISTEN_FDS names descriptors that are not sockets; using no inherited socket",
		"listen_fds", n, "not_sockets", notSockets)
	for fd := 3; fd < 3+n; fd++ {
		unix.CloseOnExec(fd) // no-op on a descriptor that is not open
	}
	unsetListenEnv()
	return nil
}

func unsetListenEnv() {
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		os.Unsetenv(v)
	}
}

// listenFDs returns LISTEN_FDS if LISTEN_PID is this process and it is
// positive (sd_listen_fds(3)).
func listenFDs() (int, bool) {
	pid, err := strconv.Atoi(os.Getenv("LISTEN_PID"))
	if err != nil || pid != os.Getpid() {
		return 0, false
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}
