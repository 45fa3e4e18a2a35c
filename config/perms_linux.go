package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// maxFileSize bounds a configuration file.
const maxFileSize = 4 << 20

// maxSymlinks bounds the symlinks followed resolving one path (as Linux).
const maxSymlinks = 40

// pathChecker applies SPEC §2 "Permissions": what superd reads or executes
// must be owned by root or superd's own uid and not writable by group or
// others, and so must every directory on the way to it (a sticky
// directory such as /tmp excepted) and every symlink followed (its owner;
// its mode means nothing on Linux).
type pathChecker struct {
	uid   int
	cache map[string]unix.Stat_t // lstat results by path, for one Load
}

func newPathChecker(uid int) *pathChecker {
	return &pathChecker{uid: uid, cache: make(map[string]unix.Stat_t)}
}

func (c *pathChecker) lstat(p string) (unix.Stat_t, error) {
	if st, ok := c.cache[p]; ok {
		return st, nil
	}
	var st unix.Stat_t
	for {
		err := unix.Lstat(p, &st)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return st, &os.PathError{Op: "lstat", Path: p, Err: err}
		}
		break
	}
	c.cache[p] = st
	return st, nil
}

func (c *pathChecker) ownerOK(uid uint32) bool {
	return uid == 0 || int64(uid) == int64(c.uid)
}

// problem describes st at path as refused.
func (c *pathChecker) problem(path string, st *unix.Stat_t) string {
	return fmt.Sprintf("%s: owned by uid %d and mode %04o: must be owned by root or uid %d and not group- or world-writable",
		path, st.Uid, st.Mode&07777, c.uid)
}

// onTheWay checks a directory that leads to something superd uses: a
// sticky directory may be writable by others.
func (c *pathChecker) onTheWay(path string, st *unix.Stat_t) string {
	if !c.ownerOK(st.Uid) || (st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0) {
		return c.problem(path, st)
	}
	return ""
}

// strict checks the thing itself: the configuration directory, a file,
// command[0], a unix socket's directory. Sticky does not excuse it.
func (c *pathChecker) strict(path string, st *unix.Stat_t) string {
	if !c.ownerOK(st.Uid) || st.Mode&0o022 != 0 {
		return c.problem(path, st)
	}
	return ""
}

// resolve walks the absolute path p from "/", following symlinks as the
// kernel would. It checks every directory it passes through (onTheWay)
// and the owner of every symlink, and returns the resolved path and the
// lstat of its last component, which it leaves to the caller to check.
func (c *pathChecker) resolve(p string) (resolved string, st unix.Stat_t, problems []string, err error) {
	if !filepath.IsAbs(p) {
		return "", st, nil, fmt.Errorf("%s: not an absolute path", p)
	}
	cur := "/"
	if st, err = c.lstat(cur); err != nil {
		return "", st, nil, err
	}
	rest := splitPath(p)
	links := 0
	for len(rest) > 0 {
		comp := rest[0]
		rest = rest[1:]
		switch comp {
		case ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			if st, err = c.lstat(cur); err != nil {
				return "", st, problems, err
			}
			continue
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return "", st, problems, fmt.Errorf("%s: not a directory", cur)
		}
		if msg := c.onTheWay(cur, &st); msg != "" {
			problems = append(problems, msg)
		}
		next := filepath.Join(cur, comp)
		nst, err := c.lstat(next)
		if err != nil {
			return "", nst, problems, err
		}
		if nst.Mode&unix.S_IFMT != unix.S_IFLNK {
			cur, st = next, nst
			continue
		}
		if !c.ownerOK(nst.Uid) {
			problems = append(problems, fmt.Sprintf("%s: symlink owned by uid %d: must be owned by root or uid %d", next, nst.Uid, c.uid))
		}
		if links++; links > maxSymlinks {
			return "", nst, problems, fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", nst, problems, err
		}
		if filepath.IsAbs(target) {
			cur = "/"
			if st, err = c.lstat(cur); err != nil {
				return "", st, problems, err
			}
		}
		rest = append(splitPath(target), rest...)
	}
	return cur, st, problems, nil
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// checkDir checks the configuration directory: the way to it, and the
// directory itself, strictly.
func (c *pathChecker) checkDir(dir string) (problems []string, err error) {
	resolved, st, problems, err := c.resolve(dir)
	if err != nil {
		return problems, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return problems, fmt.Errorf("%s: not a directory", dir)
	}
	if msg := c.strict(resolved, &st); msg != "" {
		problems = append(problems, msg)
	}
	return problems, nil
}

// readFile reads one configuration file. It resolves the path (checking
// the way and any symlinks), refuses anything but a regular file without
// opening it, then opens it O_NONBLOCK (a FIFO swapped in cannot block
// us) and O_NOFOLLOW, checks the open descriptor with fstat, and reads
// from that descriptor. problems are permission failures; err means the
// file could not be read at all.
func (c *pathChecker) readFile(path string) (data []byte, problems []string, err error) {
	resolved, st, problems, err := c.resolve(path)
	if err != nil {
		return nil, problems, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, problems, fmt.Errorf("%s: not a regular file", describe(path, resolved))
	}
	fd, err := openNoIntr(resolved)
	if err != nil {
		return nil, problems, &os.PathError{Op: "open", Path: resolved, Err: err}
	}
	f := os.NewFile(uintptr(fd), resolved)
	defer f.Close()
	var fst unix.Stat_t
	if err := unix.Fstat(fd, &fst); err != nil {
		return nil, problems, &os.PathError{Op: "fstat", Path: resolved, Err: err}
	}
	if fst.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, problems, fmt.Errorf("%s: not a regular file", describe(path, resolved))
	}
	if fst.Dev != st.Dev || fst.Ino != st.Ino {
		return nil, problems, fmt.Errorf("%s: changed while being read", describe(path, resolved))
	}
	if msg := c.strict(describe(path, resolved), &fst); msg != "" {
		problems = append(problems, msg)
	}
	data, err = io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, problems, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, problems, fmt.Errorf("%s: larger than %d bytes", path, maxFileSize)
	}
	return data, problems, nil
}

func openNoIntr(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NOCTTY, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// describe names path, and its target if it differs.
func describe(path, resolved string) string {
	if path == resolved {
		return path
	}
	return path + " (-> " + resolved + ")"
}

// checkExecutable checks command[0]: the way to it, symlinks, the file
// itself strictly, and that it is a regular file the handler's user can
// execute (uid 0 needs any x bit).
func (c *pathChecker) checkExecutable(path string, uid, gid uint32, groups []uint32) (problems []string, err error) {
	resolved, st, problems, err := c.resolve(path)
	if err != nil {
		return problems, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return problems, fmt.Errorf("%s: not a regular file", describe(path, resolved))
	}
	if msg := c.strict(describe(path, resolved), &st); msg != "" {
		problems = append(problems, msg)
	}
	if !canExec(&st, uid, gid, groups) {
		return problems, fmt.Errorf("%s: mode %04o: not executable by uid %d", describe(path, resolved), st.Mode&07777, uid)
	}
	return problems, nil
}

func canExec(st *unix.Stat_t, uid, gid uint32, groups []uint32) bool {
	switch {
	case uid == 0:
		return st.Mode&0o111 != 0
	case st.Uid == uid:
		return st.Mode&0o100 != 0
	case st.Gid == gid || containsID(groups, st.Gid):
		return st.Mode&0o010 != 0
	default:
		return st.Mode&0o001 != 0
	}
}

func containsID(ids []uint32, id uint32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// checkSocketDir checks where a unix socket will be created: its parent
// directory or, if that does not exist yet (superd creates it), the
// nearest existing ancestor, strictly.
func (c *pathChecker) checkSocketDir(sockPath string) (problems []string, err error) {
	dir := filepath.Dir(sockPath)
	for {
		resolved, st, probs, err := c.resolve(dir)
		if errors.Is(err, unix.ENOENT) && dir != "/" {
			dir = filepath.Dir(dir)
			continue
		}
		if err != nil {
			return probs, err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return probs, fmt.Errorf("%s: not a directory", describe(dir, resolved))
		}
		if msg := c.strict(describe(dir, resolved), &st); msg != "" {
			probs = append(probs, msg)
		}
		return probs, nil
	}
}
