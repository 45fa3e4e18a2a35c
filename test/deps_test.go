package test

import (
	"os/exec"
	"strings"
	"testing"
)

const modulePath = "github.com/superd-dev/superd"

// goList runs "go list" in the module root and returns its output lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = moduleRoot
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list %q: %v\n%s", args, err, stderr)
	}
	return strings.Fields(string(out))
}

// TestDependencyRules checks DESIGN.md's layering: the leaves import no
// other superd package, config only listener and acl, and only metrics
// and cmd/superd import Prometheus.
func TestDependencyRules(t *testing.T) {
	t.Parallel()
	allowed := map[string][]string{
		"listener": nil,
		"acl":      nil,
		"spawner":  nil,
		"builtin":  nil,
		"convert":  nil,
		"config":   {"listener", "acl"},
	}
	for pkg, ok := range allowed {
		t.Run(pkg, func(t *testing.T) {
			t.Parallel()
			self := modulePath + "/" + pkg
			okSet := map[string]bool{self: true}
			for _, o := range ok {
				okSet[modulePath+"/"+o] = true
			}
			for _, dep := range goList(t, "-deps", "./"+pkg) {
				if strings.HasPrefix(dep, modulePath+"/") && !okSet[dep] {
					t.Errorf("%s depends on %s", self, dep)
				}
				if pkg != "config" && strings.HasPrefix(dep, "github.com/prometheus/") {
					t.Errorf("%s depends on %s", self, dep)
				}
			}
		})
	}
	t.Run("prometheus", func(t *testing.T) {
		t.Parallel()
		lines := goList(t, "-f", `{{.ImportPath}}{{range .Imports}},{{.}}{{end}}`, "./...")
		seen := 0
		for _, line := range lines {
			f := strings.Split(line, ",")
			pkg := f[0]
			if pkg == modulePath+"/metrics" || pkg == modulePath+"/cmd/superd" {
				continue
			}
			seen++
			for _, imp := range f[1:] {
				if strings.HasPrefix(imp, "github.com/prometheus/") {
					t.Errorf("%s imports %s; only metrics and cmd/superd may", pkg, imp)
				}
			}
		}
		if seen == 0 {
			t.Errorf("go list ./... found no packages")
		}
	})
}
