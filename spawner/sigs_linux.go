package spawner

import (
	"os"
	"os/signal"
	"syscall"
	"unsafe"
)

const (
	sigDFL = 0
	sigIGN = 1
	nSig   = 64
)

// kernelSigaction is the kernel's struct sigaction on every Linux port but
// MIPS; only its first word (the handler) is read or written, the rest is
// zero when it is written.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// sigHandler reports the disposition of sig without changing it.
func sigHandler(sig int) (uintptr, error) {
	var old kernelSigaction
	_, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	if e != 0 {
		return 0, e
	}
	return old.handler, nil
}

// setSigDefault sets the disposition of sig to SIG_DFL. Only for signals the
// Go runtime does not handle (the ignored ones).
func setSigDefault(sig int) error {
	var act kernelSigaction // SIG_DFL, no flags, empty mask
	_, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// clearSigmask empties the calling thread's signal mask.
func clearSigmask() error {
	var empty uint64
	_, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 2 /* SIG_SETMASK */, uintptr(unsafe.Pointer(&empty)), 0, 8, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// ignoredSignals lists the signals whose disposition is SIG_IGN.
func ignoredSignals() []syscall.Signal {
	var ign []syscall.Signal
	for sig := 1; sig <= nSig; sig++ {
		if sig == int(syscall.SIGKILL) || sig == int(syscall.SIGSTOP) {
			continue
		}
		if h, err := sigHandler(sig); err == nil && h == sigIGN {
			ign = append(ign, syscall.Signal(sig))
		}
	}
	return ign
}

// unignoreSignals makes the Go runtime handle every signal that is ignored
// now (SIGHUP under nohup, SIGINT and SIGQUIT for a background job of a
// non-interactive shell, anything a parent left ignored): a SIG_IGN
// disposition survives fork and execve, while the runtime resets the
// signals it handles to SIG_DFL in a forked child before exec. The process
// itself keeps ignoring them: ch is never read and drops what arrives.
// The runtime will not handle 32 and 33 (the C library's internal
// signals, unused by a Go program without cgo): those are set to SIG_DFL
// in superd itself, so that the plain fork path passes nothing ignored
// on. It returns the signals still ignored, which only the exec helper
// can reset.
func unignoreSignals(ch chan os.Signal) (stuck []syscall.Signal) {
	ign := ignoredSignals()
	if len(ign) == 0 {
		return nil
	}
	sigs := make([]os.Signal, len(ign))
	for i, s := range ign {
		sigs[i] = s
	}
	signal.Notify(ch, sigs...)
	for _, s := range ign {
		if h, err := sigHandler(int(s)); err != nil || h != sigIGN {
			continue
		}
		if err := setSigDefault(int(s)); err != nil {
			stuck = append(stuck, s)
			continue
		}
		if h, err := sigHandler(int(s)); err != nil || h == sigIGN {
			stuck = append(stuck, s)
		}
	}
	return stuck
}
