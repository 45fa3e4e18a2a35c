package spawner

// cloneVfork is in clone_linux_amd64.s.
//
//go:noescape
func cloneVfork(p *cloneProg) uintptr

const haveCloneVfork = true
