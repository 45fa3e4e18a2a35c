package convert

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// readServices loads the tests' services(5) file.
func readServices(t testing.TB) *Services {
	t.Helper()
	data, err := os.ReadFile("testdata/services")
	if err != nil {
		t.Fatal(err)
	}
	return ParseServices(data)
}

func source(t testing.TB, name, file string) Source {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return Source{Name: name, Data: data}
}

// warningsText renders a Result's warnings and completeness for a golden file.
func warningsText(r Result) string {
	var b strings.Builder
	if r.Complete {
		b.WriteString("complete\n")
	} else {
		b.WriteString("incomplete\n")
	}
	for _, w := range r.Warnings {
		b.WriteString(w.String() + "\n")
	}
	return b.String()
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test -update and review the diff):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestGolden(t *testing.T) {
	svcs := readServices(t)
	for _, tc := range []struct {
		name string
		run  func(t *testing.T) Result
	}{
		{"debian", func(t *testing.T) Result {
			return Xinetd([]Source{source(t, "/etc/xinetd.conf", "testdata/debian/etc/xinetd.conf")},
				Options{Services: svcs, FS: os.DirFS("testdata/debian")})
		}},
		{"debian-files", func(t *testing.T) Result {
			// The files given one by one, xinetd.conf last: nothing is read twice.
			var srcs []Source
			for _, n := range []string{"echo", "time"} {
				srcs = append(srcs, source(t, "/etc/xinetd.d/"+n, "testdata/debian/etc/xinetd.d/"+n))
			}
			srcs = append(srcs, source(t, "/etc/xinetd.conf", "testdata/debian/etc/xinetd.conf"))
			return Xinetd(srcs, Options{Services: svcs, FS: os.DirFS("testdata/debian")})
		}},
		{"manpage", func(t *testing.T) Result {
			return Xinetd([]Source{source(t, "xinetd.conf", "testdata/manpage.conf")}, Options{Services: svcs})
		}},
		{"features", func(t *testing.T) Result {
			return Xinetd([]Source{source(t, "/etc/xinetd.conf", "testdata/features/etc/xinetd.conf")},
				Options{Services: svcs, FS: os.DirFS("testdata/features")})
		}},
		{"features-nofs", func(t *testing.T) Result {
			return Xinetd([]Source{source(t, "/etc/xinetd.conf", "testdata/features/etc/xinetd.conf")}, Options{})
		}},
		{"inetd", func(t *testing.T) Result {
			return Inetd(source(t, "/etc/inetd.conf", "testdata/inetd.conf"), Options{Services: svcs})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.run(t)
			checkHCL(t, r.HCL)
			golden(t, tc.name+".hcl.golden", string(r.HCL))
			golden(t, tc.name+".warnings.golden", warningsText(r))
			if r.Complete != (len(r.Warnings) == 0) {
				t.Errorf("Complete = %v with %d warnings", r.Complete, len(r.Warnings))
			}
		})
	}
}
