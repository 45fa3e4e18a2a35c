package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/superd-dev/superd/listener"
)

// metricsFlagOK reports whether a -metrics value is empty or a numeric
// host:port (superd never resolves names), and says why not on stderr.
func metricsFlagOK(cmd, addr string, stderr io.Writer) bool {
	if addr == "" {
		return true
	}
	if _, err := listener.ParseAddr("tcp", addr); err != nil {
		fmt.Fprintf(stderr, "superd %s: -metrics: %v\n", cmd, err)
		return false
	}
	return true
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// configFlagOK reports whether a -config value names a directory at all
// (an empty one, as from an unset variable in a unit file, would
// silently mean the working directory), and says why not on stderr.
func configFlagOK(cmd, dir string, stderr io.Writer) bool {
	if dir == "" {
		fmt.Fprintf(stderr, "superd %s: -config: empty path\n", cmd)
		return false
	}
	return true
}
