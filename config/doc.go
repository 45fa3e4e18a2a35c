// Package config turns a directory of *.hcl files into an immutable,
// validated Config (SPEC §2).
//
// Load reports every problem it finds, each with its position, and
// applies the permission rules to the directory, the files, the
// commands and the unix socket directories:
//
//	cfg, diags := config.Load("/etc/superd.d", config.Options{Root: os.Geteuid() == 0, UID: os.Geteuid()})
//	for _, d := range diags {
//		fmt.Fprintln(os.Stderr, config.FormatDiagnostic(d))
//	}
//	if diags.HasErrors() {
//		os.Exit(1)
//	}
//	for _, w := range cfg.Warnings {
//		fmt.Fprintln(os.Stderr, "warning:", w)
//	}
//	for _, s := range cfg.Enabled() {
//		fmt.Println(s.Name, s.Protocol, s.Listen)
//	}
//
// A Config is built afresh by each Load and shares nothing with the
// loader or with another Config; treat it as read-only.
package config
