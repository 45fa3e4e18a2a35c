//go:build linux && !amd64

package spawner

// Without cloneChild handlers start through syscall.ForkExec and the exec
// helper.
func cloneChild(p *cloneProg) uintptr { panic("cloneChild: not on this architecture") }

const haveCloneVfork = false
