package convert

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"golang.org/x/text/unicode/norm"
)

// seeds adds the testdata files to a fuzz corpus.
func seeds(f *testing.F, files ...string) {
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// fuzzFS gives includes and banners something to find.
func fuzzFS(data []byte) fstest.MapFS {
	return fstest.MapFS{
		"etc/xinetd.d/a":   {Data: data},
		"etc/xinetd.d/b":   {Data: []byte("service echo\n{\ntype = INTERNAL\nsocket_type = dgram\n}\n")},
		"etc/banners/deny": {Data: data},
	}
}

func FuzzXinetd(f *testing.F) {
	seeds(f, "testdata/debian/etc/xinetd.conf", "testdata/debian/etc/xinetd.d/echo", "testdata/manpage.conf",
		"testdata/features/etc/xinetd.conf", "testdata/features/etc/xinetd.d/finger",
		"testdata/features/etc/xinetd.d/swat", "testdata/features/etc/xinetd.d/rsync")
	f.Add([]byte("service x {\nenv = A=${b}%{c}\"\\\nserver_args = \x00\x7f\xff\nserver = /\xff\n}\n"))
	svcs := readServices(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := Xinetd([]Source{{Name: "/etc/xinetd.conf", Data: data}}, Options{Services: svcs, FS: fuzzFS(data)})
		if _, diags := hclsyntax.ParseConfig(r.HCL, "out.hcl", hcl.InitialPos); diags.HasErrors() {
			t.Fatalf("output does not parse: %v\n%s", diags, r.HCL)
		}
		checkHCL(t, r.HCL)
		if r.Complete != (len(r.Warnings) == 0) {
			t.Fatalf("Complete = %v with %d warnings", r.Complete, len(r.Warnings))
		}
	})
}

func FuzzInetd(f *testing.F) {
	seeds(f, "testdata/inetd.conf")
	f.Add([]byte("echo stream tcp nowait root internal\n[::1]:finger stream tcp6 nowait.5 a:b /x ${y} %{z}\n"))
	f.Add([]byte("::1:7 dgram udp46 wait/1/2/3 r internal\n\xff: \n"))
	svcs := readServices(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := Inetd(Source{Name: "/etc/inetd.conf", Data: data}, Options{Services: svcs})
		if _, diags := hclsyntax.ParseConfig(r.HCL, "out.hcl", hcl.InitialPos); diags.HasErrors() {
			t.Fatalf("output does not parse: %v\n%s", diags, r.HCL)
		}
		checkHCL(t, r.HCL)
		if r.Complete != (len(r.Warnings) == 0) {
			t.Fatalf("Complete = %v with %d warnings", r.Complete, len(r.Warnings))
		}
	})
}

// FuzzQuote checks that every string survives quoting: HCL reads back the
// same text (NFC-normalised, invalid UTF-8 replaced), never interpolating.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "${x}", "%{x}", "$${", "\x00\n\"\\", "\xff", "e\u0301"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := quote(s)
		e, diags := hclsyntax.ParseExpression([]byte(q), "x", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("quote(%q) = %s does not parse: %v", s, q, diags)
		}
		v, diags := e.Value(nil)
		if diags.HasErrors() {
			t.Fatalf("quote(%q) = %s does not evaluate: %v", s, q, diags)
		}
		if want := norm.NFC.String(strings.ToValidUTF8(s, "\uFFFD")); v.AsString() != want {
			t.Fatalf("quote(%q) = %s reads back as %q, want %q", s, q, v.AsString(), want)
		}
	})
}
