//go:build linux && !amd64

package spawner

// Without cloneVfork handlers start through syscall.ForkExec and the exec
// helper.
func cloneVfork(p *cloneProg) uintptr { panic("cloneVfork: not on this architecture") }

const haveCloneVfork = false
