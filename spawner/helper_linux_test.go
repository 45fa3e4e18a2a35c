package spawner

import (
	"slices"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestHelperArgsRoundTrip(t *testing.T) {
	sp := &Spec{
		Path: "/bin/prog", Argv: []string{"prog", "-x", "--", "a=b"}, Dir: "/srv",
		Umask: 0o027, Nice: -3, SetNice: true, ListenFDName: "svc",
		Rlimits:    []Rlimit{{unix.RLIMIT_NOFILE, 10, 20}, {unix.RLIMIT_AS, unix.RLIM_INFINITY, unix.RLIM_INFINITY}},
		Credential: &syscall.Credential{Uid: 1000, Gid: 100, Groups: []uint32{4, 24}},
	}
	full := sp.helperArgs("/usr/sbin/superd")
	for name, args := range map[string][]string{"os.Args": full, "os.Args[1:]": full[1:], "os.Args[2:]": full[2:]} {
		p, err := parseHelperArgs(helperArgsAfter(args))
		if err != nil {
			t.Fatalf("%s: parseHelperArgs: %v", name, err)
		}
		if p.path != sp.Path || !slices.Equal(p.argv, sp.Argv) || p.dir != "/srv" || p.umask != 0o027 ||
			!p.setNice || p.nice != -3 || !p.listenPID || !p.cred || p.uid != 1000 || p.gid != 100 ||
			!slices.Equal(p.groups, []uint32{4, 24}) || !slices.Equal(p.rlimits, sp.Rlimits) {
			t.Errorf("%s: parsed %+v from %q", name, p, args)
		}
	}
	sp2 := &Spec{Path: "/bin/true", Umask: -1, Credential: &syscall.Credential{Uid: 1, Gid: 2}}
	p, err := parseHelperArgs(helperArgsAfter(sp2.helperArgs("x")))
	if err != nil || p.groups == nil || len(p.groups) != 0 || p.umask != -1 || p.setNice || p.dir != "/" {
		t.Errorf("empty groups: parsed %+v, %v; want an empty, non-nil list", p, err)
	}
	for _, bad := range [][]string{{"rlimit=1,2"}, {"uid=x", "--", "/a", "a"}, {"what", "--", "/a", "a"}, {"--", "/a"}, {"umask=1"}} {
		if _, err := parseHelperArgs(bad); err == nil {
			t.Errorf("parseHelperArgs(%q) = nil error", bad)
		}
	}
}
