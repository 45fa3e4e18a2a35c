package config

import (
	"bufio"
	"fmt"
	"os"
	"os/user"
	"sort"
	"strconv"
	"strings"
)

// passwdFile is where login shells are read from (os/user has no shell).
const passwdFile = "/etc/passwd"

// account is a resolved user.
type account struct {
	name     string
	uid, gid uint32 // gid: the primary group
	home     string
	shell    string
	u        *user.User
}

// users resolves user and group names for one Load, through os/user (the
// system's user database, read afresh by every Load).
type users struct {
	shells map[string]string // from /etc/passwd, read once per Load; nil until read
}

func isNumber(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// lookupUser resolves a user name or number.
func (us *users) lookupUser(s string) (account, error) {
	var u *user.User
	var err error
	if isNumber(s) {
		u, err = user.LookupId(s)
	} else {
		u, err = user.Lookup(s)
	}
	if err != nil {
		return account{}, fmt.Errorf("no such user %q", s)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return account{}, fmt.Errorf("user %q: uid %q or gid %q is not a number", s, u.Uid, u.Gid)
	}
	a := account{name: u.Username, uid: uint32(uid), gid: uint32(gid), home: u.HomeDir, shell: us.shell(u.Username), u: u}
	if a.home == "" {
		a.home = "/"
	}
	return a, nil
}

// lookupGroup resolves a group name or number to its gid and name.
func lookupGroup(s string) (uint32, string, error) {
	var g *user.Group
	var err error
	if isNumber(s) {
		g, err = user.LookupGroupId(s)
	} else {
		g, err = user.LookupGroup(s)
	}
	if err != nil {
		return 0, "", fmt.Errorf("no such group %q", s)
	}
	gid, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, "", fmt.Errorf("group %q: gid %q is not a number", s, g.Gid)
	}
	return uint32(gid), g.Name, nil
}

// groupName names gid, or returns it as a number.
func groupName(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10)); err == nil {
		return g.Name
	}
	return strconv.FormatUint(uint64(gid), 10)
}

// supplementary returns the groups a handler running as a with group gid
// gets, as initgroups(3) computes them: gid and every group listing the
// user as a member.
func supplementary(a account, gid uint32) ([]uint32, error) {
	ids, err := a.u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("groups of user %q: %w", a.name, err)
	}
	set := map[uint32]bool{gid: true}
	for i, s := range ids {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			continue
		}
		// os/user puts the primary group first; initgroups does not
		// add it unless it is the group the handler runs as.
		if i == 0 && uint32(n) == a.gid {
			continue
		}
		set[uint32(n)] = true
	}
	out := make([]uint32, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// shell returns name's login shell from /etc/passwd, or "/bin/sh".
func (us *users) shell(name string) string {
	if us.shells == nil {
		us.shells = readShells(passwdFile)
	}
	if sh := us.shells[name]; sh != "" {
		return sh
	}
	return "/bin/sh"
}

func readShells(path string) map[string]string {
	m := make(map[string]string)
	f, err := os.Open(path)
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Split(line, ":")
		if len(fields) < 7 {
			continue
		}
		if _, ok := m[fields[0]]; !ok {
			m[fields[0]] = fields[6]
		}
	}
	return m
}

// self returns superd's own user, for handlers when superd cannot switch
// users; an unknown uid gets "/" and "/bin/sh".
func (us *users) self(uid int) account {
	if a, err := us.lookupUser(strconv.Itoa(uid)); err == nil {
		a.gid = uint32(os.Getgid())
		return a
	}
	return account{name: strconv.Itoa(uid), uid: uint32(uid), gid: uint32(os.Getgid()), home: "/", shell: "/bin/sh"}
}
