//go:build linux && !386 && !arm

package spawner

import "syscall"

// The 32-bit-id system calls (on 386 and arm their plain names take 16-bit ids).
const (
	sysSetgroups = syscall.SYS_SETGROUPS
	sysSetresgid = syscall.SYS_SETRESGID
	sysSetresuid = syscall.SYS_SETRESUID
)
