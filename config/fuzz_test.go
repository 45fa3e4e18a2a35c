package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad writes the input as a configuration file and loads it: Load
// must never panic or hang, and must return exactly one of a Config and
// errors.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(exampleConfig("/bin/cat", "")))
	f.Add([]byte(svc("")))
	f.Add([]byte(builtinSvc("  limits {\n    rate = \"5/s\"\n  }\n")))
	f.Add([]byte("defaults {\n  limits { instances = 64 }\n}\n"))
	f.Add([]byte("service \"u\" {\n  protocol = \"udp\"\n  mode = \"wait\"\n  listen = [\"[::1]:0\"]\n  command = [\"/bin/cat\"]\n  env = { for k in [\"A\"]: k => k }\n}\n"))
	f.Add([]byte("service \"x\" { listen = [\"${1}\"] }"))
	f.Add([]byte("daemon { metrics_listen = \"\" }\n"))
	if files, _ := filepath.Glob("../conf.d/*.hcl"); len(files) > 0 {
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "a.hcl"), src, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, diags := Load(dir, userOpts())
		if (cfg == nil) != diags.HasErrors() {
			t.Fatalf("Load = %v config, %d errors", cfg != nil, len(diags))
		}
		for _, d := range diags {
			_ = FormatDiagnostic(d)
		}
	})
}
