package spawner

import (
	"fmt"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// forkExecLocked starts sp from a new, locked OS thread whose umask (after
// unshare(CLONE_FS)) and nice value are the Spec's: a forked child copies
// both from the thread that forks. The goroutine exits without unlocking,
// so the runtime discards the thread and nothing else runs with its
// attributes. curUmask and curNice are the process's own.
func forkExecLocked(sp *Spec, curUmask, curNice int, attr *syscall.ProcAttr) (int, error) {
	type result struct {
		pid int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		pid, err := func() (int, error) {
			if sp.Umask >= 0 && sp.Umask != curUmask {
				if err := unix.Unshare(unix.CLONE_FS); err != nil {
					return 0, fmt.Errorf("unshare CLONE_FS: %w", err)
				}
				syscall.Umask(sp.Umask)
			}
			if sp.SetNice && sp.Nice != curNice {
				if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), sp.Nice); err != nil {
					return 0, fmt.Errorf("setpriority %d: %w", sp.Nice, err)
				}
			}
			return syscall.ForkExec(sp.Path, sp.argv(), attr)
		}()
		ch <- result{pid, err}
	}()
	r := <-ch
	return r.pid, r.err
}
