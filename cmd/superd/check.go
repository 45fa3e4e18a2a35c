package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/hashicorp/hcl/v2"

	"github.com/superd-dev/superd/config"
)

// loadConfig reads and validates dir, printing every problem to stderr.
func loadConfig(dir string, stderr io.Writer) (*config.Config, bool) {
	cfg, diags := config.Load(dir, config.Options{Root: canSwitchUsers(), UID: os.Getuid()})
	printDiags(stderr, diags)
	if diags.HasErrors() || cfg == nil {
		return nil, false
	}
	return cfg, true
}

func printDiags(w io.Writer, diags hcl.Diagnostics) {
	for _, d := range diags {
		fmt.Fprintln(w, config.FormatDiagnostic(d))
	}
}

// maxLoggedProblems bounds the configuration errors a failed reload or
// start writes to the log (check prints them all): a file of 100,000
// broken services must not write megabytes into the journal.
const maxLoggedProblems = 20

// errorDiags returns the errors of diags.
func errorDiags(diags hcl.Diagnostics) hcl.Diagnostics {
	var errs hcl.Diagnostics
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs = append(errs, d)
		}
	}
	return errs
}

// diagSummary joins the first maxLoggedProblems errors into one line and
// counts the rest.
func diagSummary(errs hcl.Diagnostics) string {
	var parts []string
	for i, d := range errs {
		if i == maxLoggedProblems {
			parts = append(parts, fmt.Sprintf("and %d more", len(errs)-i))
			break
		}
		parts = append(parts, config.FormatDiagnostic(d))
	}
	return strings.Join(parts, "; ")
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("config", defaultDir, "configuration directory")
	asJSON := fs.Bool("json", false, "print the services as JSON")
	if code, ok := parseArgs(fs, "check", args, stderr); !ok {
		return code
	}
	if !configFlagOK("check", *dir, stderr) {
		return exitUsage
	}
	cfg, ok := loadConfig(*dir, stderr)
	if !ok {
		return exitError
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		services := cfg.Services
		if services == nil {
			services = []config.Service{} // [], not null
		}
		if err := enc.Encode(services); err != nil {
			fmt.Fprintln(stderr, "superd check:", err)
			return exitError
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tPROTO\tLISTEN\tMODE\tPASS\tUSER\tHANDLER\tSTATE")
	for _, s := range cfg.Services {
		var listen []string
		for _, a := range s.Listen {
			listen = append(listen, a.String())
		}
		handler := shorten(argvCell(s.Command), 48)
		pass, user := s.Pass, s.User
		if s.Builtin != "" {
			handler, pass, user = "builtin:"+s.Builtin, "-", "-"
		}
		if user == "" {
			user = "-"
		}
		state := "enabled"
		if s.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Protocol, cell(strings.Join(listen, ",")),
			s.Mode, pass, cell(user), handler, state)
	}
	tw.Flush()
	return exitOK
}

// shorten cuts s to at most n runes, marking the cut.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
