package config

import (
	"strings"
	"testing"
)

// TestRuleErrors checks each rule's invalid side, with the exact position.
func TestRuleErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown attribute", svc("  foo = 1\n"), []string{`a.hcl:4:3: service "a": unknown attribute "foo"`}},
		{"unknown block", svc("  sockets {}\n"), []string{`a.hcl:4:3: service "a": unknown block "sockets"`}},
		{"unknown nested attribute", svc("  limits {\n    instance = 3\n  }\n"), []string{`a.hcl:5:5: service "a": unknown attribute "limits.instance"`}},
		{"duplicate nested block", svc("  access {}\n  access {}\n"), []string{`a.hcl:5:3: service "a": duplicate access block (the first is at a.hcl:4:3)`}},
		{"top-level attribute", "x = 1\n", []string{`a.hcl:1:1: unknown attribute "x"`}},
		{"top-level unknown block", "services \"a\" {}\n", []string{`a.hcl:1:1: unknown block "services"`}},
		{"service without label", "service {}\n", []string{`a.hcl:1:1: service block needs one label`}},
		{"bad name", strings.Replace(svc(""), `"a"`, `"A_b"`, 1), []string{`a.hcl:1:9: invalid service name "A_b"`}},
		{"name too long", strings.Replace(svc(""), `"a"`, `"`+strings.Repeat("x", 65)+`"`, 1), []string{`a.hcl:1:9: invalid service name`}},
		{"name starting with dash", strings.Replace(svc(""), `"a"`, `"-a"`, 1), []string{`a.hcl:1:9: invalid service name "-a"`}},
		{"duplicate service", svc("") + strings.Replace(svc(""), "7001", "7002", 1), []string{`a.hcl:5:9: duplicate service "a" (the first is at a.hcl:1:9)`}},
		{"two daemon blocks", "daemon {}\ndaemon {}\n", []string{`a.hcl:2:1: duplicate daemon block (the first is at a.hcl:1:1)`}},
		{"two defaults blocks", "defaults {}\ndefaults {}\n", []string{`a.hcl:2:1: duplicate defaults block (the first is at a.hcl:1:1)`}},
		{"daemon label", "daemon \"x\" {}\n", []string{`a.hcl:1:8: daemon block takes no label`}},
		{"syntax error", "service \"a\" {\n  listen = [\n", []string{`a.hcl:3:1: Missing expression`}},
		{"variables", svc("  user = nobody\n"), []string{`a.hcl:4:10: Variables not allowed`}},
		{"null", svc("  mode = null\n"), []string{`a.hcl:4:10: service "a": mode: must not be null`}},

		{"protocol", strings.Replace(svc(""), "{\n", "{\n  protocol = \"sctp\"\n", 1), []string{`a.hcl:2:14: service "a": protocol: must be "tcp", "udp" or "unix", not "sctp"`}},
		{"listen missing", "service \"a\" {\n  command = [\"/bin/cat\"]\n}\n", []string{`a.hcl:1:9: service "a": listen: is required`}},
		{"listen empty", "service \"a\" {\n  listen = []\n  command = [\"/bin/cat\"]\n}\n", []string{`a.hcl:2:12: service "a": listen: must hold at least one address`}},
		{"listen element", "service \"a\" {\n  listen = [\"127.0.0.1:1\", \"localhost:79\", 79]\n  command = [\"/bin/cat\"]\n}\n", []string{
			`a.hcl:2:28: service "a": listen[1]: parse tcp address "localhost:79"`,
			`a.hcl:2:44: service "a": listen[2]: must be a string, not number`}},
		{"listen not a list", "service \"a\" {\n  listen = \":79\"\n  command = [\"/bin/cat\"]\n}\n", []string{`a.hcl:2:12: service "a": listen: must be a list, not string`}},
		{"unix listen relative", "service \"a\" {\n  protocol = \"unix\"\n  listen = [\"x.sock\"]\n  command = [\"/bin/cat\"]\n}\n", []string{`a.hcl:3:13: service "a": listen[0]: parse unix address "x.sock"`}},
		{"tcp listen path", "service \"a\" {\n  listen = [\"/run/x.sock\"]\n  command = [\"/bin/cat\"]\n}\n", []string{`a.hcl:2:13: service "a": listen[0]: parse tcp address`}},
		{"env name and value", svc("  env = { \"A=B\" = \"c\", C = 5 }\n"), []string{
			`a.hcl:4:11: service "a": env: invalid variable name "A=B"`,
			`a.hcl:4:28: service "a": env["C"]: must be a string, not number`}},
		{"source_prefix both", svc("  limits {\n    source_prefix = [33, 129]\n  }\n"), []string{
			`a.hcl:5:22: service "a": limits.source_prefix[0]: must be an IPv4 prefix length from 1 to 32, not 33`,
			`a.hcl:5:26: service "a": limits.source_prefix[1]: must be an IPv6 prefix length from 1 to 128, not 129`}},
		{"mode", svc("  mode = \"forever\"\n"), []string{`a.hcl:4:10: service "a": mode: must be "nowait" or "wait", not "forever"`}},
		{"pass", svc("  pass = \"fd3\"\n"), []string{`a.hcl:4:10: service "a": pass: must be "stdio" or "fd", not "fd3"`}},
		{"command and builtin", svc("  builtin = \"echo\"\n"), []string{`a.hcl:4:13: service "a": builtin: cannot be used with command`}},
		{"neither command nor builtin", "service \"a\" {\n  listen = [\":7001\"]\n}\n", []string{`a.hcl:1:9: service "a": command: one of command or builtin is required`}},
		{"command empty", "service \"a\" {\n  listen = [\":7001\"]\n  command = []\n}\n", []string{`a.hcl:3:13: service "a": command: must not be empty`}},
		{"command relative", "service \"a\" {\n  listen = [\":7001\"]\n  command = [\"cat\", \"-u\"]\n}\n", []string{`a.hcl:3:14: service "a": command[0]: must be an absolute path, not "cat"`}},
		{"command missing", "service \"a\" {\n  listen = [\":7001\"]\n  command = [\"/nonexistent/x\"]\n}\n", []string{`a.hcl:3:14: service "a": command[0]: lstat /nonexistent: no such file or directory`}},
		{"command not executable", "service \"a\" {\n  listen = [\":7001\"]\n  command = [\"/etc/passwd\"]\n}\n", []string{`a.hcl:3:14: service "a": command[0]: /etc/passwd: mode 0644: not executable by uid`}},
		{"command a directory", "service \"a\" {\n  listen = [\":7001\"]\n  command = [\"/usr/bin\"]\n}\n", []string{`a.hcl:3:14: service "a": command[0]: /usr/bin: not a regular file`}},
		{"command NUL", "service \"a\" {\n  listen = [\":7001\"]\n  command = [\"/bin/cat\", \"a\\u0000b\"]\n}\n", []string{`a.hcl:3:26: service "a": command[1]: must not contain a NUL byte`}},
		{"argv0 empty", svc("  argv0 = \"\"\n"), []string{`a.hcl:4:11: service "a": argv0: must not be empty`}},
		{"builtin unknown", builtinSvc("  builtin = \"qotd\"\n"), []string{`a.hcl:4:3: Attribute redefined`}},
		{"builtin name", "service \"a\" {\n  listen = [\":7001\"]\n  builtin = \"qotd\"\n}\n", []string{`a.hcl:3:13: service "a": builtin: must be "echo", "discard", "daytime", "time" or "chargen", not "qotd"`}},
		{"builtin forbidden", builtinSvc("  user = \"nobody\"\n  group = \"nogroup\"\n  pass = \"fd\"\n  stderr = \"null\"\n  workdir = \"/\"\n  env = {}\n  pass_env = []\n  umask = \"022\"\n  nice = 0\n  argv0 = \"x\"\n  groups = false\n  limits {\n    memory = \"1MiB\"\n    cpu = \"1s\"\n    files = 10\n    processes = 1\n    timeout = \"1s\"\n  }\n"), []string{
			`a.hcl:4:10: service "a": user: is not allowed with builtin`,
			`a.hcl:5:11: service "a": group: is not allowed with builtin`,
			`a.hcl:6:10: service "a": pass: is not allowed with builtin`,
			`a.hcl:7:12: service "a": stderr: is not allowed with builtin`,
			`a.hcl:8:13: service "a": workdir: is not allowed with builtin`,
			`a.hcl:9:9: service "a": env: is not allowed with builtin`,
			`a.hcl:10:14: service "a": pass_env: is not allowed with builtin`,
			`a.hcl:11:11: service "a": umask: is not allowed with builtin`,
			`a.hcl:12:10: service "a": nice: is not allowed with builtin`,
			`a.hcl:13:11: service "a": argv0: is not allowed with builtin`,
			`a.hcl:14:12: service "a": groups: is not allowed with builtin`,
			`a.hcl:16:14: service "a": limits.memory: is not allowed with builtin`,
			`a.hcl:17:11: service "a": limits.cpu: is not allowed with builtin`,
			`a.hcl:18:13: service "a": limits.files: is not allowed with builtin`,
			`a.hcl:19:17: service "a": limits.processes: is not allowed with builtin`}},
		{"builtin wait", builtinSvc("  mode = \"wait\"\n"), []string{`a.hcl:4:10: service "a": mode: must be "nowait" for a builtin`}},
		{"stderr", svc("  stderr = \"syslog\"\n"), []string{`a.hcl:4:12: service "a": stderr: must be "log", "socket" or "null", not "syslog"`}},
		{"stderr socket udp", strings.Replace(svc("  stderr = \"socket\"\n"), "{\n", "{\n  protocol = \"udp\"\n", 1), []string{`a.hcl:5:12: service "a": stderr: "socket" is only allowed for nowait tcp and unix services`}},
		{"stderr socket wait", svc("  mode = \"wait\"\n  stderr = \"socket\"\n"), []string{`a.hcl:5:12: service "a": stderr: "socket" is only allowed`}},
		{"env name", svc("  env = { \"1X\" = \"a\", ok = \"b\" }\n"), []string{`a.hcl:4:11: service "a": env: invalid variable name "1X"`}},
		{"env reserved", svc("  env = {\n    LISTEN_FDS = \"1\"\n    NOTIFY_SOCKET = \"x\"\n    WATCHDOG_USEC = \"1\"\n    SUPERD_SERVICE = \"x\"\n    PROTO = \"x\"\n    REMOTE_ADDR = \"x\"\n    LOCAL_PORT = \"x\"\n    TCPREMOTEIP = \"x\"\n  }\n"), []string{
			`a.hcl:5:5: service "a": env: LISTEN_FDS is set by superd`,
			`a.hcl:6:5: service "a": env: NOTIFY_SOCKET is set by superd`,
			`a.hcl:7:5: service "a": env: WATCHDOG_USEC is set by superd`,
			`a.hcl:8:5: service "a": env: SUPERD_SERVICE is set by superd`,
			`a.hcl:9:5: service "a": env: PROTO is set by superd`,
			`a.hcl:10:5: service "a": env: REMOTE_ADDR is set by superd`,
			`a.hcl:11:5: service "a": env: LOCAL_PORT is set by superd`,
			`a.hcl:12:5: service "a": env: TCPREMOTEIP is set by superd`}},
		{"env value type", svc("  env = { A = 1 }\n"), []string{`a.hcl:4:15: service "a": env["A"]: must be a string, not number`}},
		{"env not an object", svc("  env = [\"A=1\"]\n"), []string{`a.hcl:4:9: service "a": env: must be an object`}},
		{"pass_env", svc("  pass_env = [\"TZ\", \"A B\", \"TCPLOCALIP\", \"TZ\"]\n"), []string{
			`a.hcl:4:21: service "a": pass_env[1]: invalid variable name "A B"`,
			`a.hcl:4:28: service "a": pass_env[2]: TCPLOCALIP is set by superd`}},
		{"pass_env twice", svc("  pass_env = [\"TZ\", \"TZ\"]\n"), []string{`a.hcl:4:21: service "a": pass_env: TZ is listed twice`}},
		{"umask number", svc("  umask = 022\n"), []string{`a.hcl:4:11: service "a": umask: must be a string, not number`}},
		{"umask", svc("  umask = \"0999\"\n"), []string{`a.hcl:4:11: service "a": umask: invalid mode "0999"`}},
		{"umask short", svc("  umask = \"22\"\n"), []string{`a.hcl:4:11: service "a": umask: invalid mode "22"`}},
		{"nice low", svc("  nice = -21\n"), []string{`a.hcl:4:10: service "a": nice: must be from -20 to 19, not -21`}},
		{"nice high", svc("  nice = 20\n"), []string{`a.hcl:4:10: service "a": nice: must be from -20 to 19, not 20`}},
		{"workdir relative", svc("  workdir = \"tmp\"\n"), []string{`a.hcl:4:13: service "a": workdir: must be an absolute path`}},
		{"disabled type", svc("  disabled = \"yes\"\n"), []string{`a.hcl:4:14: service "a": disabled: must be true or false, not string`}},
		{"groups type", svc("  groups = 1\n"), []string{`a.hcl:4:12: service "a": groups: must be true or false, not number`}},

		{"backlog", svc("  socket {\n    backlog = 0\n  }\n"), []string{`a.hcl:5:15: service "a": socket.backlog: must be from 1 to`}},
		{"socket mode on tcp", svc("  socket {\n    mode = \"0600\"\n    owner = \"root\"\n    group = \"root\"\n  }\n"), []string{
			`a.hcl:5:12: service "a": socket.mode: only applies to unix sockets`,
			`a.hcl:6:13: service "a": socket.owner: only applies to unix sockets`,
			`a.hcl:7:13: service "a": socket.group: only applies to unix sockets`}},
		{"socket mode", "service \"a\" {\n  protocol = \"unix\"\n  listen = [\"/tmp/x.sock\"]\n  command = [\"/bin/cat\"]\n  disabled = true\n  socket {\n    mode = \"rw\"\n  }\n}\n", []string{`a.hcl:7:12: service "a": socket.mode: invalid mode "rw"`}},
		{"keepalive type", svc("  socket {\n    keepalive = 1\n  }\n"), []string{`a.hcl:5:17: service "a": socket.keepalive: must be true or false`}},

		{"allow", svc("  access {\n    allow = [\"10.0.0.0/8\", \"example.com\", \"::ffff:1.2.3.4\"]\n  }\n"), []string{
			`a.hcl:5:28: service "a": access.allow[1]: parse address "example.com": host names are not allowed`,
			`a.hcl:5:43: service "a": access.allow[2]: parse address "::ffff:1.2.3.4": IPv4-mapped`}},
		{"deny", svc("  access {\n    deny = [\"10.0.0.0/33\"]\n  }\n"), []string{`a.hcl:5:13: service "a": access.deny[0]: parse address "10.0.0.0/33"`}},
		{"times", svc("  access {\n    times = [\"08:00-08:00\", \"8-9\"]\n  }\n"), []string{
			`a.hcl:5:14: service "a": access.times[0]: parse time window "08:00-08:00": start equals end`,
			`a.hcl:5:29: service "a": access.times[1]: parse time window "8-9"`}},
		{"deny_message", svc("  access {\n    deny_message = \"" + strings.Repeat("x", 513) + "\"\n  }\n"), []string{`a.hcl:5:20: service "a": access.deny_message: is 513 bytes long, at most 512 are allowed`}},

		{"instances", svc("  limits {\n    instances = -1\n  }\n"), []string{`a.hcl:5:17: service "a": limits.instances: must be from 0 to`}},
		{"per_source", svc("  limits {\n    per_source = 1.5\n  }\n"), []string{`a.hcl:5:18: service "a": limits.per_source: must be a whole number`}},
		{"source_prefix length", svc("  limits {\n    source_prefix = [32]\n  }\n"), []string{`a.hcl:5:21: service "a": limits.source_prefix: must be [IPv4 bits, IPv6 bits]`}},
		{"source_prefix v4", svc("  limits {\n    source_prefix = [33, 64]\n  }\n"), []string{`a.hcl:5:22: service "a": limits.source_prefix[0]: must be an IPv4 prefix length from 1 to 32, not 33`}},
		{"source_prefix v4 zero", svc("  limits {\n    source_prefix = [0, 64]\n  }\n"), []string{`a.hcl:5:22: service "a": limits.source_prefix[0]: must be an IPv4 prefix length from 1 to 32, not 0`}},
		{"source_prefix v6", svc("  limits {\n    source_prefix = [24, 129]\n  }\n"), []string{`a.hcl:5:26: service "a": limits.source_prefix[1]: must be an IPv6 prefix length from 1 to 128, not 129`}},
		{"rate", svc("  limits {\n    rate = \"5/h\"\n    per_source_rate = \"0/s\"\n  }\n"), []string{
			`a.hcl:5:12: service "a": limits.rate: parse rate "5/h"`,
			`a.hcl:6:23: service "a": limits.per_source_rate: parse rate "0/s"`}},
		{"max_load", svc("  limits {\n    max_load = -1\n  }\n"), []string{`a.hcl:5:16: service "a": limits.max_load: must be a finite number >= 0`}},
		{"timeout", svc("  limits {\n    timeout = \"10 minutes\"\n  }\n"), []string{`a.hcl:5:15: service "a": limits.timeout: invalid duration "10 minutes"`}},
		{"timeout negative", svc("  limits {\n    timeout = \"-1s\"\n  }\n"), []string{`a.hcl:5:15: service "a": limits.timeout: duration "-1s" must not be negative`}},
		{"memory", svc("  limits {\n    memory = \"512MB\"\n  }\n"), []string{`a.hcl:5:14: service "a": limits.memory: invalid size "512MB"`}},
		{"memory zero", svc("  limits {\n    memory = 0\n  }\n"), []string{`a.hcl:5:14: service "a": limits.memory: must be from 1 to`}},
		{"memory overflow", svc("  limits {\n    memory = \"99999999999999GiB\"\n  }\n"), []string{`a.hcl:5:14: service "a": limits.memory: invalid size`}},
		{"cpu", svc("  limits {\n    cpu = 60\n  }\n"), []string{`a.hcl:5:11: service "a": limits.cpu: must be a string, not number`}},
		{"cpu zero", svc("  limits {\n    cpu = \"0s\"\n  }\n"), []string{`a.hcl:5:11: service "a": limits.cpu: duration "0s" must be at least 1ns`}},
		{"files", svc("  limits {\n    files = 0\n    processes = 0\n  }\n"), []string{
			`a.hcl:5:13: service "a": limits.files: must be from 1 to`,
			`a.hcl:6:17: service "a": limits.processes: must be from 1 to`}},

		{"wait tcp access and limits", svc("  mode = \"wait\"\n  access {\n    allow = [\"127.0.0.1\"]\n    times = [\"08:00-09:00\"]\n  }\n  limits {\n    instances = 1\n    per_source = 1\n    rate = \"1/s\"\n    per_source_rate = \"1/s\"\n    timeout = \"1s\"\n    max_load = 4\n  }\n"), []string{
			`a.hcl:6:13: service "a": access.allow: cannot be enforced on a wait-mode tcp service`,
			`a.hcl:7:13: service "a": access.times: cannot be enforced`,
			`a.hcl:10:17: service "a": limits.instances: cannot be enforced`,
			`a.hcl:11:18: service "a": limits.per_source: cannot be enforced`,
			`a.hcl:12:12: service "a": limits.rate: cannot be enforced`,
			`a.hcl:13:23: service "a": limits.per_source_rate: cannot be enforced`}},
		{"wait unix deny_message", "service \"a\" {\n  protocol = \"unix\"\n  mode = \"wait\"\n  listen = [\"/nonexistent-dir/x.sock\"]\n  command = [\"/bin/cat\"]\n  disabled = true\n  access {\n    deny_message = \"no\"\n  }\n}\n", []string{
			`a.hcl:8:20: service "a": access.deny_message: cannot be enforced on a wait-mode unix service`}},

		{"daemon", "daemon {\n  metrics_listen = \"localhost:9637\"\n  log_format = \"xml\"\n  log_level = \"trace\"\n  shutdown_grace = \"-1s\"\n  kill_delay = \"0s\"\n  foo = 1\n}\n", []string{
			`a.hcl:2:20: daemon: metrics_listen: parse tcp address "localhost:9637"`,
			`a.hcl:3:16: daemon: log_format: must be "text" or "json", not "xml"`,
			`a.hcl:4:15: daemon: log_level: must be "debug", "info", "warn" or "error", not "trace"`,
			`a.hcl:5:20: daemon: shutdown_grace: duration "-1s" must not be negative`,
			`a.hcl:6:16: daemon: kill_delay: duration "0s" must be at least 1ms`,
			`a.hcl:7:3: daemon: unknown attribute "foo"`}},
		{"defaults forbidden", "defaults {\n  protocol = \"tcp\"\n  listen = []\n  command = []\n  builtin = \"echo\"\n}\n", []string{
			`a.hcl:2:3: defaults: protocol is not allowed here`,
			`a.hcl:3:3: defaults: listen is not allowed here`,
			`a.hcl:4:3: defaults: command is not allowed here`,
			`a.hcl:5:3: defaults: builtin is not allowed here`}},
		{"defaults bad value", "defaults {\n  nice = 30\n}\n", []string{`a.hcl:2:10: defaults: nice: must be from -20 to 19, not 30`}},
		{"clash", svc("") + "service \"b\" {\n  listen = [\":7001\"]\n  builtin = \"echo\"\n}\n", []string{
			`a.hcl:6:13: service "b": listen ":7001" clashes with "127.0.0.1:7001" of service "a" at a.hcl:2:14`}},
		{"clash within a service", "service \"a\" {\n  listen = [\"[::1]:7001\", \"[::1]:7001\"]\n  builtin = \"echo\"\n}\n", []string{
			`a.hcl:2:27: service "a": listen "[::1]:7001" clashes with "[::1]:7001" of service "a" at a.hcl:2:13`}},
		{"clash metrics", "daemon {\n  metrics_listen = \"127.0.0.1:7001\"\n}\n" + strings.Replace(svc(""), "127.0.0.1:7001", ":7001", 1), []string{
			`a.hcl:2:20: daemon: metrics_listen "127.0.0.1:7001" clashes with ":7001" of service "a" at a.hcl:5:14`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := loadOne(t, tt.src, userOpts())
			checkLines(t, got, tt.want)
		})
	}
}

// TestNoClash checks what does not clash: other protocols, disabled
// services, different ports.
func TestNoClash(t *testing.T) {
	src := svc("") +
		"service \"b\" {\n  protocol = \"udp\"\n  listen = [\":7001\"]\n  builtin = \"echo\"\n}\n" +
		"service \"c\" {\n  listen = [\":7001\"]\n  builtin = \"echo\"\n  disabled = true\n}\n" +
		"service \"d\" {\n  listen = [\"127.0.0.1:7002\", \"127.0.0.1:0\", \"[::1]:0\"]\n  builtin = \"echo\"\n}\n" +
		"service \"e\" {\n  listen = [\"127.0.0.2:0\"]\n  builtin = \"echo\"\n}\n"
	cfg := mustLoad(t, src, userOpts())
	if got := len(cfg.Enabled()); got != 4 {
		t.Errorf("len(Enabled()) = %d, want 4", got)
	}
}
