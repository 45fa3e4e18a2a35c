package main

import (
	"errors"
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

// parseArgs parses a subcommand's flags. It reports false, with the exit
// code, when the command must not go on: 0 after -h (the usage was
// printed), 2 for a bad flag or an argument the command does not take.
func parseArgs(fs *flag.FlagSet, cmd string, args []string, stderr io.Writer) (int, bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK, false
	case err != nil:
		return exitUsage, false
	case fs.NArg() != 0:
		fmt.Fprintf(stderr, "superd %s: unexpected argument %q\n", cmd, fs.Arg(0))
		return exitUsage, false
	}
	return exitOK, true
}
