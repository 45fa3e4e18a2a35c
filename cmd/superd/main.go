// Command superd is an inetd/xinetd-style super-server: it binds the
// sockets of the services in /etc/superd.d/*.hcl and starts each service's
// handler program when a client arrives.
//
// Usage:
//
//	superd run     [-config DIR] [-metrics ADDR]
//	superd check   [-config DIR] [-json]
//	superd status  [-config DIR | -metrics ADDR] [-json]
//	superd convert xinetd FILE...
//	superd convert inetd  FILE
//	superd version
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/superd-dev/superd/spawner"
)

// Exit codes.
const (
	exitOK     = 0
	exitError  = 1
	exitUsage  = 2
	defaultDir = "/etc/superd.d"
)

func main() {
	// superd serves no heap profiles: sampling allocations for one would
	// only cost memory (the profile's hash table and records).
	runtime.MemProfileRate = 0
	if len(os.Args) > 1 && os.Args[1] == spawner.HelperArg {
		spawner.HelperMain(os.Args[2:]) // never returns
	}
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "status":
		return cmdStatus(args[1:], stdout, stderr)
	case "convert":
		return cmdConvert(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "superd version: unexpected argument %q\n", args[1])
			return exitUsage
		}
		fmt.Fprintln(stdout, "superd", version())
		return exitOK
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	default:
		fmt.Fprintf(stderr, "superd: unknown command %q\n", args[0])
		usage(stderr)
		return exitUsage
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  superd run     [-config DIR] [-metrics ADDR]
  superd check   [-config DIR] [-json]
  superd status  [-config DIR | -metrics ADDR] [-json]
  superd convert xinetd FILE...
  superd convert inetd  FILE
  superd version
`)
}
