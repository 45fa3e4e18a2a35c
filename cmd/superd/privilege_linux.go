package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// canSwitchUsers reports whether superd holds CAP_SETUID and CAP_SETGID
// in its effective set, so it can run handlers as other users.
func canSwitchUsers() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3, Pid: int32(os.Getpid())}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return os.Geteuid() == 0
	}
	const need = 1<<unix.CAP_SETUID | 1<<unix.CAP_SETGID
	return data[0].Effective&need == need
}
