package spawner

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// helperPlan is what the helper does before executing the handler.
type helperPlan struct {
	rlimits   []Rlimit
	umask     int // -1: leave
	nice      int
	setNice   bool
	listenPID bool
	cred      bool
	uid, gid  uint32
	groups    []uint32
	dir       string
	path      string
	argv      []string
}

// parseHelperArgs decodes what Spec.helperArgs encoded; args start after
// HelperArg.
func parseHelperArgs(args []string) (*helperPlan, error) {
	p := &helperPlan{umask: -1, dir: "/"}
	for i, a := range args {
		if a == "--" {
			if len(args) < i+3 {
				return nil, errors.New("missing program or argv")
			}
			p.path, p.argv = args[i+1], args[i+2:]
			return p, nil
		}
		k, v, _ := strings.Cut(a, "=")
		var err error
		switch k {
		case "rlimit":
			f := strings.Split(v, ",")
			if len(f) != 3 {
				return nil, fmt.Errorf("bad rlimit %q", v)
			}
			var r Rlimit
			var e1, e2, e3 error
			r.Resource, e1 = strconv.Atoi(f[0])
			r.Cur, e2 = strconv.ParseUint(f[1], 10, 64)
			r.Max, e3 = strconv.ParseUint(f[2], 10, 64)
			if err = errors.Join(e1, e2, e3); err == nil {
				p.rlimits = append(p.rlimits, r)
			}
		case "umask":
			p.umask, err = strconv.Atoi(v)
		case "nice":
			p.nice, err = strconv.Atoi(v)
			p.setNice = true
		case "listen-pid":
			p.listenPID = true
		case "uid", "gid":
			var n uint64
			n, err = strconv.ParseUint(v, 10, 32)
			p.cred = true
			if k == "uid" {
				p.uid = uint32(n)
			} else {
				p.gid = uint32(n)
			}
		case "groups":
			p.groups = []uint32{}
			for _, g := range strings.Split(v, ",") {
				if g == "" {
					continue
				}
				var n uint64
				if n, err = strconv.ParseUint(g, 10, 32); err != nil {
					break
				}
				p.groups = append(p.groups, uint32(n))
			}
		case "dir":
			p.dir = v
		default:
			return nil, fmt.Errorf("unknown argument %q", a)
		}
		if err != nil {
			return nil, fmt.Errorf("argument %q: %w", a, err)
		}
	}
	return nil, errors.New("missing --")
}

// helperArgsAfter strips what precedes the encoded arguments: it accepts
// os.Args, os.Args[1:] and os.Args[2:] alike (no encoded argument equals
// HelperArg).
func helperArgsAfter(args []string) []string {
	for i := 0; i < len(args) && i < 2; i++ {
		if args[i] == HelperArg {
			return args[i+1:]
		}
	}
	return args
}

// HelperMain is the exec helper. The superd binary calls it first thing
// when os.Args[1] == HelperArg, with os.Args (os.Args[2:] works as well). On the thread that will exec
// it sets the resource limits (soft and hard, while still privileged),
// umask and nice value, resets ignored signals to their default and
// empties the signal mask, clears the ambient and inheritable
// capabilities, drops to the handler's user (setgroups, setresgid,
// setresuid), changes to the working directory, adds LISTEN_PID (its own
// pid, which the handler keeps) and executes the handler in place. It
// never returns: on any failure it writes one line to fd 2 and exits 127.
func HelperMain(args []string) {
	runtime.LockOSThread() // never unlocked: credentials and nice are per thread
	p, err := parseHelperArgs(helperArgsAfter(args))
	if err != nil {
		helperFail("%v", err)
	}
	if err := p.apply(); err != nil {
		helperFail("%s: %v", p.path, err)
	}
	env := os.Environ()
	if p.listenPID {
		env = append(env, "LISTEN_PID="+strconv.Itoa(os.Getpid()))
	}
	if err := clearSigmask(); err != nil {
		helperFail("%s: sigprocmask: %v", p.path, err)
	}
	err = syscall.Exec(p.path, p.argv, env)
	helperFail("exec %s: %v", p.path, err)
}

// apply does everything but the exec, on the calling (locked) thread.
func (p *helperPlan) apply() error {
	for _, r := range p.rlimits {
		// syscall.Setrlimit, so that syscall.Exec does not restore the
		// runtime's saved RLIMIT_NOFILE over the one set here.
		if err := syscall.Setrlimit(r.Resource, &syscall.Rlimit{Cur: r.Cur, Max: r.Max}); err != nil {
			return fmt.Errorf("setrlimit %d %d/%d: %w", r.Resource, r.Cur, r.Max, err)
		}
	}
	if p.umask >= 0 {
		syscall.Umask(p.umask)
	}
	if p.setNice {
		if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), p.nice); err != nil {
			return fmt.Errorf("setpriority %d: %w", p.nice, err)
		}
	}
	for _, sig := range ignoredSignals() {
		if err := setSigDefault(int(sig)); err != nil {
			return fmt.Errorf("reset signal %d: %w", sig, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	if err := clearInheritable(); err != nil {
		return err
	}
	if p.cred {
		var ptr unsafe.Pointer
		if len(p.groups) > 0 {
			ptr = unsafe.Pointer(&p.groups[0])
		}
		if _, _, e := syscall.RawSyscall(sysSetgroups, uintptr(len(p.groups)), uintptr(ptr), 0); e != 0 {
			return fmt.Errorf("setgroups %v: %w", p.groups, e)
		}
		if _, _, e := syscall.RawSyscall(sysSetresgid, uintptr(p.gid), uintptr(p.gid), uintptr(p.gid)); e != 0 {
			return fmt.Errorf("setresgid %d: %w", p.gid, e)
		}
		if _, _, e := syscall.RawSyscall(sysSetresuid, uintptr(p.uid), uintptr(p.uid), uintptr(p.uid)); e != 0 {
			return fmt.Errorf("setresuid %d: %w", p.uid, e)
		}
	}
	if err := syscall.Chdir(p.dir); err != nil {
		return fmt.Errorf("chdir %s: %w", p.dir, err)
	}
	return nil
}

// clearInheritable empties the calling thread's inheritable capabilities.
func clearInheritable() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	if data[0].Inheritable == 0 && data[1].Inheritable == 0 {
		return nil
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

func helperFail(format string, a ...any) {
	msg := "superd exec helper: " + fmt.Sprintf(format, a...) + "\n"
	syscall.Write(2, []byte(msg))
	os.Exit(127)
}
