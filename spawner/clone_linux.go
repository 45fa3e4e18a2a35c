package spawner

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The clone path starts a handler with one clone3(CLONE_VM|
// CLONE_CHILD_CLEARTID|CLONE_CLEAR_SIGHAND) whose child runs a list of
// system calls prepared here (cloneChild, in assembly) on a small stack of
// its own and ends in execve. The caller waits on a futex for the word the
// kernel clears when the child executes or exits (a wait the Go runtime
// sees as a system call, unlike a vfork), then reads the child's verdict
// from the memory they shared. Against syscall.ForkExec it saves the
// child's reset of every signal handler (the kernel does it), the
// exec-status pipe, and the exec helper's second exec: rlimits, umask,
// nice and LISTEN_PID are steps of the same child.

// cloneStep is one system call of the child: trap(a[0..5]).
type cloneStep struct {
	trap  uintptr
	a     [6]uintptr
	flags uintptr
}

const (
	stepNoCheck = 1 << iota // the result is not an error (umask, getpid)
	stepDecimal             // write the result in decimal, NUL-terminated, at a[0]
)

// cloneArgs is the kernel's struct clone_args (CLONE_ARGS_SIZE_VER0).
type cloneArgs struct {
	flags, pidfd, childTID, parentTID, exitSignal, stack, stackSize, tls uint64
}

// cloneProg is what cloneChild reads and, in the child, writes; the
// assembly knows its layout.
type cloneProg struct {
	all    uint64 // the signal mask while cloning: everything
	old    uint64 // the thread's mask before
	args   cloneArgs
	steps  *cloneStep
	n      uintptr
	failAt uintptr // the child's failed step, ^0 if none
	errno  uintptr // and its errno
}

// stepKind names a step for the error of a failed one.
type stepKind uint8

const (
	kindSetpgid stepKind = iota
	kindNotty
	kindDup
	kindRlimit
	kindUmask
	kindNice
	kindSignal
	kindAmbient
	kindCapset
	kindSetgroups
	kindSetgid
	kindSetuid
	kindChdir
	kindMask
	kindPid
	kindClock
	kindExec
)

// cloneJob holds one spawn's steps and everything they point to: the
// child reads it through raw addresses, so all of it lives on the heap
// (a goroutine stack may move) and is kept alive across cloneChild.
type cloneJob struct {
	prog  cloneProg
	steps []cloneStep
	kinds []stepKind
	strs  []byte    // NUL-terminated path, dir, argv and env strings
	path  uintptr   // into strs
	dir   uintptr   // into strs
	argv  []uintptr // nil-terminated, into strs
	env   []uintptr // nil-terminated, into strs
	pid   uintptr   // into strs: where the child writes LISTEN_PID's digits
	rlims []unix.Rlimit
	mask  uint64        // the handler's signal mask: empty
	tid   uint32        // cleared by the kernel when the child executes or exits
	exec  unix.Timespec // CLOCK_MONOTONIC as the child calls execve
	stack [64]uint64    // the child's; it never pushes, so only its top is named
}

// cloneState is what a Spawner prepares once for the clone path.
type cloneState struct {
	flags   uint64       // clone3 flags: CLONE_VM | CLONE_CHILD_CLEARTID | CLONE_CLEAR_SIGHAND
	nofile  *unix.Rlimit // superd's start-up RLIMIT_NOFILE, when the runtime has raised it since
	sigDfl  kernelSigaction
	ignored []syscall.Signal // still ignored in superd: set to SIG_DFL in the child
	ambient bool             // superd has ambient capabilities: clear them
	capHdr  unix.CapUserHeader
	capData [2]unix.CapUserData // superd's capabilities without the inheritable ones
	capset  bool                // superd has inheritable capabilities: set capData
	jobs    sync.Pool           // *cloneJob
}

// newCloneState prepares the clone path, or says why handlers start
// through syscall.ForkExec instead.
func newCloneState(ignored []syscall.Signal) (*cloneState, error) {
	if !haveCloneVfork {
		return nil, errors.New("no clone3 child for " + runtime.GOARCH)
	}
	c := &cloneState{ignored: ignored, flags: unix.CLONE_VM | unix.CLONE_CHILD_CLEARTID | unix.CLONE_CLEAR_SIGHAND}
	var err error
	if c.nofile, err = startNofile(); err != nil {
		return nil, err
	}
	c.capHdr.Version = unix.LINUX_CAPABILITY_VERSION_3
	if err := unix.Capget(&c.capHdr, &c.capData[0]); err != nil {
		return nil, fmt.Errorf("capget: %w", err)
	}
	if c.capData[0].Inheritable != 0 || c.capData[1].Inheritable != 0 {
		c.capData[0].Inheritable, c.capData[1].Inheritable = 0, 0
		c.capset = true
	}
	for capability := 0; capability <= unix.CAP_LAST_CAP; capability++ {
		if r, err := unix.PrctlRetInt(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_IS_SET, uintptr(capability), 0, 0); err == nil && r == 1 {
			c.ambient = true
			break
		}
	}
	return c, nil
}

// startNofile returns the RLIMIT_NOFILE the process started with if the Go
// runtime has raised the soft limit since (it sets it to hard - 1 and
// restores the saved value only in children of syscall.ForkExec), nil if
// the limit is as it started. Handlers get the start-up value (SPEC: rlimits
// not set are superd's own start-up values), so the saved value is read
// from a child of syscall.ForkExec: one that asked to be traced, which
// stops at its execve before the new program runs an instruction.
func startNofile() (*unix.Rlimit, error) {
	var cur unix.Rlimit
	if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, nil, &cur); err != nil {
		return nil, fmt.Errorf("getrlimit NOFILE: %w", err)
	}
	if cur.Max == 0 || cur.Max == unix.RLIM_INFINITY || cur.Cur != cur.Max-1 {
		return nil, nil
	}
	runtime.LockOSThread() // the tracer is this thread
	defer runtime.UnlockOSThread()
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"superd-rlimit-probe"}, &syscall.ProcAttr{
		Env: []string{},
		Sys: &syscall.SysProcAttr{Ptrace: true, Setsid: true},
	})
	if err != nil {
		return nil, fmt.Errorf("start-up RLIMIT_NOFILE: traced probe: %w", err)
	}
	var lim unix.Rlimit
	err = unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &lim)
	syscall.Kill(pid, syscall.SIGKILL)
	for {
		_, werr := syscall.Wait4(pid, nil, syscall.WALL, nil)
		if werr != syscall.EINTR {
			break // ECHILD: reaped by another waiter
		}
	}
	if err != nil {
		return nil, fmt.Errorf("start-up RLIMIT_NOFILE: prlimit %d: %w", pid, err)
	}
	if lim == cur {
		return nil, nil
	}
	return &lim, nil
}

// errCloneUnsupported wraps the clone3 error that sends this and every
// later spawn back to syscall.ForkExec.
var errCloneUnsupported = errors.New("clone3 unsupported")

// startClone starts sp with the descriptor table files (3 or 4 entries)
// through cloneChild and returns the handler's pid once it has executed.
// With async, it returns as soon as the child exists, together with its
// job: the child still reads the job, and the caller keeps it until the
// kernel has cleared its tid and then hands it to execVerdict.
func (s *Spawner) startClone(sp *Spec, files []uintptr, env []string, async bool) (int, *cloneJob, error) {
	c := s.clone
	j, _ := c.jobs.Get().(*cloneJob)
	if j == nil {
		j = new(cloneJob)
	}
	if err := s.cloneSteps(j, sp, files, env); err != nil {
		c.jobs.Put(j)
		return 0, nil, err
	}

	j.prog = cloneProg{all: ^uint64(0), failAt: ^uintptr(0), steps: &j.steps[0], n: uintptr(len(j.steps))}
	j.prog.args.flags = c.flags
	j.prog.args.exitSignal = uint64(syscall.SIGCHLD)
	j.tid = 1
	j.prog.args.childTID = uint64(uintptr(unsafe.Pointer(&j.tid)))
	j.prog.args.stack = uint64(uintptr(unsafe.Pointer(&j.stack[0])))
	j.prog.args.stackSize = uint64(len(j.stack) * 8)
	syscall.ForkLock.RLock()
	r := cloneChild(&j.prog)
	syscall.ForkLock.RUnlock()
	if int64(r) > 0 && async {
		return int(r), j, nil
	}
	defer c.jobs.Put(j)
	if int64(r) > 0 {
		// Until the child executes or exits it reads j and may write
		// its verdict into it.
		for atomic.LoadUint32(&j.tid) != 0 {
			syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(&j.tid)), 0 /* FUTEX_WAIT */, 1, 0, 0, 0)
		}
	}
	runtime.KeepAlive(j)
	runtime.KeepAlive(c)
	runtime.KeepAlive(sp)

	if e := -int(r); e > 0 && e < 4096 {
		switch errno := syscall.Errno(e); errno {
		case syscall.ENOSYS, syscall.EINVAL, syscall.EPERM:
			// No clone3 (a seccomp filter, an old kernel) or no
			// CLONE_CLEAR_SIGHAND (before Linux 5.5).
			return 0, nil, fmt.Errorf("%w: %w", errCloneUnsupported, errno)
		default:
			return 0, nil, fmt.Errorf("clone3: %w", errno)
		}
	}
	pid := int(r)
	if j.prog.failAt == ^uintptr(0) {
		return pid, nil, nil
	}
	// The child wrote its failure and exited 253; reap it unless the
	// reaper got there first.
	errno := syscall.Errno(j.prog.errno)
	for {
		_, werr := syscall.Wait4(pid, nil, 0, nil)
		if werr == syscall.EINTR {
			continue
		}
		if werr != nil {
			s.failedForks.Add(1) // the reaper has it: not an escapee
		}
		break
	}
	return 0, nil, j.stepError(int(j.prog.failAt), errno, sp)
}

// execDone reports whether the child of an async startClone is done with
// its job: it has executed its program or exited.
func (j *cloneJob) execDone() bool { return atomic.LoadUint32(&j.tid) == 0 }

// execVerdict reads what the child of an async startClone left in its job
// (execDone is true): when it called execve, or the step that failed and
// why. The caller then puts the job back into the pool.
func (j *cloneJob) execVerdict(sp *Spec) (time.Time, error) {
	if j.prog.failAt != ^uintptr(0) {
		return time.Time{}, j.stepError(int(j.prog.failAt), syscall.Errno(j.prog.errno), sp)
	}
	// The child's clock reading, placed on the Go clock.
	var now unix.Timespec
	at := time.Now()
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &now) == nil {
		if ago := time.Duration(now.Nano() - j.exec.Nano()); ago > 0 {
			at = at.Add(-ago)
		}
	}
	return at, nil
}

// stepError says which step failed.
func (j *cloneJob) stepError(i int, errno syscall.Errno, sp *Spec) error {
	if i < 0 || i >= len(j.kinds) {
		return fmt.Errorf("child: %w", errno)
	}
	a := j.steps[i].a
	switch j.kinds[i] {
	case kindExec:
		return errno // as syscall.ForkExec reports it
	case kindSetpgid:
		return fmt.Errorf("setpgid: %w", errno)
	case kindDup:
		return fmt.Errorf("dup fd %d to %d: %w", a[0], a[1], errno)
	case kindRlimit:
		n := 0 // rlimit steps before this one: its index in j.rlims
		for _, k := range j.kinds[:i] {
			if k == kindRlimit {
				n++
			}
		}
		r := j.rlims[n]
		return fmt.Errorf("setrlimit %d %d/%d: %w", a[1], r.Cur, r.Max, errno)
	case kindNice:
		return fmt.Errorf("setpriority %d: %w", int(a[2]), errno)
	case kindSignal:
		return fmt.Errorf("reset signal %d: %w", a[0], errno)
	case kindAmbient:
		return fmt.Errorf("clear ambient capabilities: %w", errno)
	case kindCapset:
		return fmt.Errorf("capset: %w", errno)
	case kindSetgroups:
		return fmt.Errorf("setgroups %v: %w", sp.Credential.Groups, errno)
	case kindSetgid:
		return fmt.Errorf("setresgid %d: %w", a[0], errno)
	case kindSetuid:
		return fmt.Errorf("setresuid %d: %w", a[0], errno)
	case kindChdir:
		return fmt.Errorf("chdir %s: %w", sp.dir(), errno)
	case kindMask:
		return fmt.Errorf("sigprocmask: %w", errno)
	}
	return fmt.Errorf("child step %d: %w", i, errno)
}

// cloneSteps fills j with the child's steps for sp: a new process group
// (without superd's controlling terminal, if it has one), the
// descriptor table, rlimits, umask, nice, signal dispositions,
// capabilities, credentials, working directory, an empty signal mask,
// LISTEN_PID and the execve.
func (s *Spawner) cloneSteps(j *cloneJob, sp *Spec, files []uintptr, env []string) error {
	c := s.clone
	j.steps, j.kinds = j.steps[:0], j.kinds[:0]
	if err := j.layoutStrings(sp, env); err != nil {
		return err
	}
	add := func(k stepKind, flags uintptr, trap uintptr, a ...uintptr) {
		st := cloneStep{trap: trap, flags: flags}
		copy(st.a[:], a)
		j.steps = append(j.steps, st)
		j.kinds = append(j.kinds, k)
	}

	add(kindSetpgid, 0, unix.SYS_SETPGID, 0, 0)
	if s.tty >= 0 {
		// ENOTTY: the terminal is no longer the session's (hung up).
		add(kindNotty, stepNoCheck, unix.SYS_IOCTL, uintptr(s.tty), unix.TIOCNOTTY)
	}

	// Descriptors: move the sources that a lower target would overwrite
	// out of the way, then dup each onto its target without close-on-exec
	// (as syscall.ForkExec does).
	var fd [4]uintptr
	n := copy(fd[:], files)
	next := uintptr(n)
	for _, f := range fd[:n] {
		if f >= next {
			next = f + 1
		}
	}
	for i := range n {
		if fd[i] < uintptr(i) {
			add(kindDup, 0, unix.SYS_DUP3, fd[i], next, unix.O_CLOEXEC)
			fd[i] = next
			next++
		}
	}
	for i := range n {
		if fd[i] == uintptr(i) {
			add(kindDup, 0, unix.SYS_FCNTL, fd[i], unix.F_SETFD, 0)
			continue
		}
		add(kindDup, 0, unix.SYS_DUP3, fd[i], uintptr(i), 0)
	}

	// Resource limits after the descriptors (a lower RLIMIT_NOFILE would
	// refuse the moves above), before the credentials (raising a hard
	// limit needs the privilege).
	j.rlims = j.rlims[:0]
	nofile := false
	for _, r := range sp.Rlimits {
		j.rlims = append(j.rlims, unix.Rlimit{Cur: r.Cur, Max: r.Max})
		nofile = nofile || r.Resource == unix.RLIMIT_NOFILE
	}
	if !nofile && c.nofile != nil {
		j.rlims = append(j.rlims, *c.nofile)
	}
	for i := range j.rlims { // j.rlims no longer grows: addresses are stable
		res := unix.RLIMIT_NOFILE
		if i < len(sp.Rlimits) {
			res = sp.Rlimits[i].Resource
		}
		add(kindRlimit, 0, unix.SYS_PRLIMIT64, 0, uintptr(res), uintptr(unsafe.Pointer(&j.rlims[i])), 0)
	}
	if sp.Umask >= 0 && sp.Umask != s.umask {
		add(kindUmask, stepNoCheck, unix.SYS_UMASK, uintptr(sp.Umask))
	}
	if sp.SetNice && sp.Nice != s.nice {
		add(kindNice, 0, unix.SYS_SETPRIORITY, unix.PRIO_PROCESS, 0, uintptr(sp.Nice))
	}
	for _, sig := range c.ignored {
		add(kindSignal, 0, unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&c.sigDfl)), 0, 8)
	}
	if c.ambient {
		add(kindAmbient, 0, unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL)
	}
	if c.capset {
		add(kindCapset, 0, unix.SYS_CAPSET, uintptr(unsafe.Pointer(&c.capHdr)), uintptr(unsafe.Pointer(&c.capData[0])))
	}
	if cr := sp.Credential; cr != nil {
		var groups uintptr
		if len(cr.Groups) > 0 {
			groups = uintptr(unsafe.Pointer(&cr.Groups[0]))
		}
		add(kindSetgroups, 0, sysSetgroups, uintptr(len(cr.Groups)), groups)
		add(kindSetgid, 0, sysSetresgid, uintptr(cr.Gid), uintptr(cr.Gid), uintptr(cr.Gid))
		add(kindSetuid, 0, sysSetresuid, uintptr(cr.Uid), uintptr(cr.Uid), uintptr(cr.Uid))
	}
	add(kindChdir, 0, unix.SYS_CHDIR, j.dir)
	j.mask = 0
	add(kindMask, 0, unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&j.mask)), 0, 8)
	if sp.ListenFDName != "" {
		add(kindPid, stepNoCheck|stepDecimal, unix.SYS_GETPID, j.pid)
	}
	add(kindClock, stepNoCheck, unix.SYS_CLOCK_GETTIME, unix.CLOCK_MONOTONIC, uintptr(unsafe.Pointer(&j.exec)))
	add(kindExec, 0, unix.SYS_EXECVE, j.path, uintptr(unsafe.Pointer(&j.argv[0])), uintptr(unsafe.Pointer(&j.env[0])))
	return nil
}

// pidWidth is room for a pid in decimal and its NUL.
const pidWidth = 21

// layoutStrings copies sp's path, working directory, argv and environment
// (then env, then LISTEN_FDS, LISTEN_FDNAMES and a LISTEN_PID for the
// child to complete, for pass = "fd") into j.strs as the kernel takes
// them.
func (j *cloneJob) layoutStrings(sp *Spec, env []string) error {
	argv, dir := sp.argv(), sp.dir()
	size := len(sp.Path) + 1 + len(dir) + 1
	for _, list := range [][]string{argv, sp.Env, env} {
		for _, a := range list {
			if strings.IndexByte(a, 0) >= 0 {
				return fmt.Errorf("NUL byte in argument or environment %q: %w", a, syscall.EINVAL)
			}
			size += len(a) + 1
		}
	}
	listen := sp.ListenFDName != ""
	if listen {
		size += len("LISTEN_FDS=1\x00LISTEN_FDNAMES=\x00LISTEN_PID=") + len(sp.ListenFDName) + pidWidth
	}
	if strings.IndexByte(sp.Path, 0) >= 0 || strings.IndexByte(dir, 0) >= 0 || strings.IndexByte(sp.ListenFDName, 0) >= 0 {
		return fmt.Errorf("NUL byte in path, directory or name: %w", syscall.EINVAL)
	}
	if cap(j.strs) < size {
		j.strs = make([]byte, 0, size)
	}
	b := j.strs[:0] // never grows past its capacity: the addresses stay
	base := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	put := func(prefix, s string) uintptr {
		at := base + uintptr(len(b))
		b = append(b, prefix...)
		b = append(b, s...)
		b = append(b, 0)
		return at
	}
	j.path = put("", sp.Path)
	j.dir = put("", dir)
	j.argv = j.argv[:0]
	for _, a := range argv {
		j.argv = append(j.argv, put("", a))
	}
	j.argv = append(j.argv, 0)
	j.env = j.env[:0]
	for _, e := range sp.Env {
		j.env = append(j.env, put("", e))
	}
	for _, e := range env {
		j.env = append(j.env, put("", e))
	}
	if listen {
		j.env = append(j.env, put("LISTEN_FDS=1", ""), put("LISTEN_FDNAMES=", sp.ListenFDName))
		at := put("LISTEN_PID=", "")
		j.pid = at + uintptr(len("LISTEN_PID="))
		b = b[:len(b)-1+pidWidth]
		j.env = append(j.env, at)
	}
	j.env = append(j.env, 0)
	j.strs = b
	return nil
}
