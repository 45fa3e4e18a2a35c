package listener

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// keepOwner leaves the socket file's owner alone (tests run as non-root too).
var keepOwner = Options{UnixUID: -1, UnixGID: -1}

func TestUnixBindAccept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "x.sock") // parents created
	s := mustBind(t, mustParse(t, "unix", path), Options{UnixMode: 0o660, UnixUID: -1, UnixGID: -1})
	if got := s.Addr(); got.Path != path || got.Network != "unix" {
		t.Errorf("Addr() = %+v, want unix %s", got, path)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket file mode %v, want socket 0660", fi.Mode())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm()&^0o755 != 0 {
		t.Errorf("created parent directory mode %v, want at most 0755", di.Mode().Perm())
	}

	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn := acceptTimeout(t, s)
	if conn.Cred == nil {
		t.Fatal("Cred = nil, want SO_PEERCRED")
	}
	if int(conn.Cred.Pid) != os.Getpid() || int(conn.Cred.Uid) != os.Geteuid() || int(conn.Cred.Gid) != os.Getegid() {
		t.Errorf("Cred = %+v, want pid %d uid %d gid %d", conn.Cred, os.Getpid(), os.Geteuid(), os.Getegid())
	}
	if conn.Remote.IsValid() || conn.Local.IsValid() {
		t.Errorf("Remote, Local = %v, %v, want zero for unix", conn.Remote, conn.Local)
	}
	if !isBlocking(t, conn.FD) || !isCloexec(t, conn.FD) {
		t.Error("accepted unix fd is not blocking and close-on-exec")
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after Close, Lstat(%s) = %v, want it gone", path, err)
	}
}

func TestUnixDefaultMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.sock")
	mustBind(t, mustParse(t, "unix", path), keepOwner)
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o666 {
		t.Errorf("socket file mode %v, want 0666", fi.Mode().Perm())
	}
}

func TestUnixBindUmask(t *testing.T) {
	// The socket file is born 0600 (umask 0177), before its mode is set,
	// and the process umask is left alone.
	old := unix.Umask(0o022)
	defer unix.Umask(old)
	path := filepath.Join(t.TempDir(), "x.sock")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := bindUmask(fd, &unix.SockaddrUnix{Name: path}, 0o177); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket born with mode %v, want 0600", fi.Mode().Perm())
	}
	if now := unix.Umask(0o022); now != 0o022 {
		t.Errorf("process umask changed to %#o", now)
	}
}

func TestUnixOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to another user needs root")
	}
	path := filepath.Join(t.TempDir(), "x.sock")
	mustBind(t, mustParse(t, "unix", path), Options{UnixMode: 0o600, UnixUID: 12345, UnixGID: 23456})
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 12345 || st.Gid != 23456 || st.Mode&0o777 != 0o600 {
		t.Errorf("socket file %d:%d %#o, want 12345:23456 0600", st.Uid, st.Gid, st.Mode&0o777)
	}
	// Zero Options: root:root 0666, as systemd.
	path2 := filepath.Join(t.TempDir(), "y.sock")
	mustBind(t, mustParse(t, "unix", path2), Options{})
	if err := unix.Lstat(path2, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 0 || st.Gid != 0 || st.Mode&0o777 != 0o666 {
		t.Errorf("socket file %d:%d %#o, want 0:0 0666", st.Uid, st.Gid, st.Mode&0o777)
	}
}

func TestUnixExistingPath(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		setup   func(t *testing.T, path string)
		wantErr string // "" means Bind succeeds (stale socket removed)
	}{
		{"stale socket", func(t *testing.T, path string) {
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
				t.Fatal(err)
			}
			unix.Close(fd) // never listened, like a crashed server's leftover
		}, ""},
		{"live socket", func(t *testing.T, path string) {
			l, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
		}, "in use"},
		{"regular file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("precious"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "not a socket (a regular file)"},
		{"directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
		}, "not a socket (a directory)"},
		{"symlink to stale socket", func(t *testing.T, path string) {
			target := path + ".target"
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := unix.Bind(fd, &unix.SockaddrUnix{Name: target}); err != nil {
				t.Fatal(err)
			}
			unix.Close(fd)
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}, "not a socket (a symlink)"},
		{"datagram socket", func(t *testing.T, path string) {
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Close(fd) })
		}, "another type"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "s"+string(rune('a'+i)))
			tt.setup(t, path)
			before, _ := os.Lstat(path)
			s, err := Bind(mustParse(t, "unix", path), keepOwner)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Bind over %s: %v", tt.name, err)
				}
				s.Close()
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("Bind over %s succeeded, want error %q", tt.name, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
				t.Errorf("Bind error %q, want it to contain %q and the path", err, tt.wantErr)
			}
			after, err := os.Lstat(path)
			if err != nil || !os.SameFile(before, after) {
				t.Errorf("Bind refused but touched %s: %v", path, err)
			}
		})
	}
}

func TestUnixCloseKeepsSuccessor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.sock")
	s, err := Bind(mustParse(t, "unix", path), keepOwner)
	if err != nil {
		t.Fatal(err)
	}
	// Someone else's socket now sits at path.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("Close removed a socket it did not bind: %v", err)
	}
}
