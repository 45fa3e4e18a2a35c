package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/superd-dev/superd/convert"
)

// servicesFile is where port names of xinetd/inetd entries are looked up.
const servicesFile = "/etc/services"

func cmdConvert(args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 || (args[0] != "xinetd" && args[0] != "inetd") || (args[0] == "inetd" && len(args) != 2) {
		fmt.Fprintln(stderr, "usage: superd convert xinetd FILE... | superd convert inetd FILE")
		return exitUsage
	}
	var srcs []convert.Source
	for _, name := range args[1:] {
		// Absolute: includes name files that way, and a file read once
		// under each name would make every service twice.
		if abs, err := filepath.Abs(name); err == nil {
			name = abs
		}
		data, err := os.ReadFile(name)
		if err != nil {
			fmt.Fprintf(stderr, "superd convert: %v\n", err)
			return exitError
		}
		srcs = append(srcs, convert.Source{Name: name, Data: data})
	}
	opts := convert.Options{FS: os.DirFS("/")}
	if data, err := os.ReadFile(servicesFile); err == nil {
		opts.Services = convert.ParseServices(data)
	} else {
		fmt.Fprintf(stderr, "superd convert: %v: only numeric ports can be translated\n", err)
	}
	var res convert.Result
	if args[0] == "xinetd" {
		res = convert.Xinetd(srcs, opts)
	} else {
		res = convert.Inetd(srcs[0], opts)
	}
	stdout.Write(res.HCL)
	for _, w := range res.Warnings {
		fmt.Fprintln(stderr, "warning:", w.String())
	}
	if !res.Complete {
		return exitError
	}
	return exitOK
}
