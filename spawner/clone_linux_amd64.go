package spawner

// cloneChild is in clone_linux_amd64.s.
//
//go:noescape
func cloneChild(p *cloneProg) uintptr

const haveCloneVfork = true
