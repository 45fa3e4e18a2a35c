// Package convert translates xinetd.conf(5) and inetd.conf(5)
// configurations into superd's HCL service files.
//
// The translation is best effort and never fails: whatever cannot be
// expressed in superd becomes a "# superd: …" comment in the output and a
// Warning with file and line, and Result.Complete is false. Differences
// that change nothing a client could notice (logging attributes, the
// second cps number, RLIMIT_RSS, which Linux ignores) are comments only.
// The output is always syntactically valid HCL; it passes `superd check`
// when the programs, users and groups it names exist.
//
// convert never touches the system itself: the caller passes the files'
// bytes, an fs.FS for `includedir`, `include` and `banner_fail` files
// (absolute paths are looked up with the leading "/" removed, so pass
// os.DirFS("/")), and the /etc/services text for port names.
//
// Choices, where superd and xinetd differ:
//   - Access: `0.0.0.0` means everyone; xinetd's implicit nets (`10.1.0.0`
//     is 10.1.0.0/16) and factorized forms (`10.0.{1,2}`) become CIDRs;
//     `localhost` becomes 127.0.0.1 and ::1. Other host and network names
//     are dropped: from only_from that only narrows access (if nothing is
//     left the service denies everyone), from no_access it would widen it,
//     so the service is also written with `disabled = true`.
//   - Addresses: xinetd binds IPv4 only unless the IPv6 flag is set; with
//     it, `v6only = yes` gives "[::]:port", otherwise ":port" (dual stack).
//     inetd's tcp/udp are IPv4, tcp6/udp6 IPv6 only, tcp46/udp46 both.
//   - Wait-mode services get no access or connection limits from superd's
//     `defaults {}`: xinetd's defaults are copied into UDP wait services;
//     on TCP wait services neither xinetd (without INTERCEPT) nor superd
//     can enforce them, so they are dropped with a comment.
//   - xinetd's default of no instance limit is not copied: superd's
//     default (64) stays unless `instances` is set.
//
// Usage:
//
//	res := convert.Xinetd([]convert.Source{{Name: "/etc/xinetd.conf", Data: data}},
//		convert.Options{FS: os.DirFS("/"), Services: convert.ParseServices(etcServices)})
//	os.Stdout.Write(res.HCL)
//	for _, w := range res.Warnings {
//		fmt.Fprintln(os.Stderr, w)
//	}
//	if !res.Complete {
//		os.Exit(1)
//	}
package convert
