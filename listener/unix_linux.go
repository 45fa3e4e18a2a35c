package listener

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// bindUnix binds a unix stream socket at a.Path (SPEC §2 Permissions):
// a stale socket there is removed, anything else is refused; a missing
// parent directory is created 0755; the socket file is created under
// umask 0177, then given its owner and mode without following symlinks.
// Checking the parent directory's owner and mode is config's job.
func bindUnix(a Addr, o Options) (*Socket, error) {
	if a.Path == "" || len(a.Path) > MaxUnixPath || !filepath.IsAbs(a.Path) {
		return nil, errors.New("unix socket path must be absolute and at most 107 bytes")
	}
	dir := filepath.Dir(a.Path)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create socket directory: %w", err)
		}
	}
	if err := removeStale(a.Path); err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := bindUmask(fd, &unix.SockaddrUnix{Name: a.Path}, 0o177); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// The path is ours from here on: remove it again on failure.
	dev, ino, err := setSocketFilePerm(a.Path, o)
	if err == nil {
		err = unix.Listen(fd, o.backlog())
		if err != nil {
			err = os.NewSyscallError("listen", err)
		}
	}
	if err != nil {
		unix.Unlink(a.Path)
		unix.Close(fd)
		return nil, err
	}
	s, err := newSocket(fd, a, unix.AF_UNIX, unix.SOCK_STREAM)
	if err != nil {
		unix.Unlink(a.Path)
		return nil, err
	}
	s.listening = true
	s.unlinkPath, s.unlinkDev, s.unlinkIno = a.Path, dev, ino
	return s, nil
}

// bindUmask binds fd under the given umask without touching the process
// umask: on a thread of its own (unshare(CLONE_FS) gives it a private
// umask), which is never unlocked, so it exits with the goroutine and no
// other goroutine ever runs with that umask.
func bindUmask(fd int, sa unix.Sockaddr, mask int) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- os.NewSyscallError("unshare CLONE_FS", err)
			return
		}
		unix.Umask(mask)
		if err := unix.Bind(fd, sa); err != nil {
			errc <- os.NewSyscallError("bind", err)
			return
		}
		errc <- nil
	}()
	return <-errc
}

// removeStale makes room at path: nothing there is fine; a socket nobody
// accepts on (ECONNREFUSED: left by a crash) is unlinked; anything else,
// a live socket included, is an error.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("path exists and is not a socket (%s); only a stale socket is removed", fileKind(fi.Mode()))
	}
	live, err := socketLive(path)
	if err != nil {
		return fmt.Errorf("probe existing socket: %w", err)
	}
	if live {
		return errors.New("socket is in use: another process accepts connections on it")
	}
	if err := unix.Unlink(path); err != nil && err != unix.ENOENT {
		return fmt.Errorf("remove stale socket: %w", os.NewSyscallError("unlink", err))
	}
	return nil
}

// socketLive connects to the socket at path without blocking: refused
// means stale; accepted or a full backlog (EAGAIN) means live.
func socketLive(path string) (bool, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	switch err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err {
	case nil, unix.EAGAIN, unix.EINPROGRESS:
		return true, nil
	case unix.ECONNREFUSED:
		return false, nil
	case unix.EPROTOTYPE:
		return false, errors.New("a socket of another type (not stream) is bound there")
	default:
		return false, os.NewSyscallError("connect", err)
	}
}

func fileKind(m fs.FileMode) string {
	switch m.Type() {
	case 0:
		return "a regular file"
	case fs.ModeDir:
		return "a directory"
	case fs.ModeSymlink:
		return "a symlink"
	case fs.ModeNamedPipe:
		return "a named pipe"
	case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
		return "a device"
	}
	return "mode " + m.String()
}

// setSocketFilePerm gives the socket file just bound at path its owner
// and mode, on an O_PATH|O_NOFOLLOW descriptor (never through a symlink),
// and returns the file's device and inode for Close.
func setSocketFilePerm(path string, o Options) (dev, ino uint64, err error) {
	pfd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, 0, fmt.Errorf("open socket file: %w", os.NewSyscallError("open", err))
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return 0, 0, os.NewSyscallError("fstat", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return 0, 0, errors.New("the path is no longer the socket just bound")
	}
	uid, gid := o.UnixUID, o.UnixGID
	if uid != -1 || gid != -1 {
		if err := unix.Fchownat(pfd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
			return 0, 0, fmt.Errorf("chown socket to %d:%d: %w", uid, gid, os.NewSyscallError("fchownat", err))
		}
	}
	mode := o.unixMode()
	err = unix.Fchmodat(pfd, "", mode, unix.AT_EMPTY_PATH) // fchmodat2, Linux 6.6+
	if err != nil {
		// Older kernels: chmod the inode the O_PATH fd refers to.
		err = unix.Chmod("/proc/self/fd/"+strconv.Itoa(pfd), mode)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("chmod socket to %#o: %w", mode, os.NewSyscallError("chmod", err))
	}
	return uint64(st.Dev), uint64(st.Ino), nil
}

// unlinkOwned removes the unix socket path this Socket bound, if the path
// still names the same file.
func (s *Socket) unlinkOwned() error {
	if s.unlinkPath == "" || s.inherited {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Lstat(s.unlinkPath, &st); err != nil {
		return nil // gone already
	}
	if uint64(st.Dev) != s.unlinkDev || uint64(st.Ino) != s.unlinkIno {
		return nil // someone else's now
	}
	if err := unix.Unlink(s.unlinkPath); err != nil && err != unix.ENOENT {
		return fmt.Errorf("close unix %s: %w", s.unlinkPath, os.NewSyscallError("unlink", err))
	}
	return nil
}
