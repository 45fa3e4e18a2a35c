package convert

import (
	"errors"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// xentry is one `defaults` or `service` section of an xinetd file.
type xentry struct {
	defaults bool
	name     string // service name
	file     string
	line     int
	attrs    []xattr
}

// xattr is one attribute line: name op values.
type xattr struct {
	name   string
	op     string // "=", "+=" or "-="
	values []string
	file   string
	line   int
}

// maxIncludeDepth bounds include/includedir nesting (loops are also
// stopped by remembering the files read).
const maxIncludeDepth = 8

// xparser reads xinetd files, following include and includedir.
type xparser struct {
	c       *conv
	seen    map[string]bool // files read, by cleaned name
	entries []xentry
}

// cleanName returns the name under which a file counts as read.
func cleanName(name string) string {
	if strings.HasPrefix(name, "/") {
		return path.Clean(name)
	}
	return name
}

// parseFile parses one file's text (once per name).
func (p *xparser) parseFile(name string, data []byte, depth int) {
	key := cleanName(name)
	if p.seen[key] {
		return
	}
	p.seen[key] = true

	var cur *xentry // open section
	expectBrace := false
	lines := strings.Split(string(data), "\n")
	for i, raw := range lines {
		ln := i + 1
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if expectBrace {
			expectBrace = false
			if line == "{" {
				continue
			}
			p.c.parseLoss(name, ln, "expected \"{\" after %s on line %d; section left out", sectionName(cur), cur.line)
			cur = nil
		}
		if cur != nil {
			if line == "}" {
				p.entries = append(p.entries, *cur)
				cur = nil
				continue
			}
			a, ok := parseXattr(line)
			if !ok {
				p.c.parseLoss(name, ln, "cannot parse %q in %s", line, sectionName(cur))
				continue
			}
			a.file, a.line = name, ln
			cur.attrs = append(cur.attrs, a)
			continue
		}
		f := strings.Fields(line)
		switch f[0] {
		case "service", "defaults":
			e := &xentry{defaults: f[0] == "defaults", file: name, line: ln, attrs: []xattr{}}
			rest := f[1:]
			if !e.defaults {
				if len(rest) == 0 || rest[0] == "{" {
					p.c.parseLoss(name, ln, "service without a name left out")
					e.name = ""
				} else {
					e.name, rest = rest[0], rest[1:]
				}
			}
			switch {
			case len(rest) == 0:
				expectBrace = true
			case len(rest) == 1 && rest[0] == "{":
			default:
				p.c.parseLoss(name, ln, "unexpected %q after %s", strings.Join(rest, " "), f[0])
				if rest[len(rest)-1] != "{" {
					expectBrace = true
				}
			}
			cur = e
		case "includedir", "include":
			if len(f) != 2 {
				p.c.parseLoss(name, ln, "%s needs one path", f[0])
				continue
			}
			if f[0] == "include" {
				p.include(name, ln, f[1], depth)
			} else {
				p.includeDir(name, ln, f[1], depth)
			}
		default:
			p.c.parseLoss(name, ln, "unknown line %q left out", line)
		}
	}
	if cur != nil {
		p.c.parseLoss(name, cur.line, "%s is not closed by \"}\"; left out", sectionName(cur))
	}
}

func sectionName(e *xentry) string {
	if e.defaults {
		return "defaults"
	}
	return "service " + e.name
}

// parseXattr splits "name op value value...".
func parseXattr(line string) (xattr, bool) {
	i := strings.IndexByte(line, '=')
	if i <= 0 {
		return xattr{}, false
	}
	op := "="
	nameEnd := i
	if c := line[i-1]; c == '+' || c == '-' {
		op = string(c) + "="
		nameEnd = i - 1
	}
	name := strings.TrimSpace(line[:nameEnd])
	if name == "" || strings.ContainsAny(name, " \t") {
		return xattr{}, false
	}
	return xattr{name: name, op: op, values: strings.Fields(line[i+1:])}, true
}

// fsPath maps a configuration path to the Options.FS name.
func fsPath(p string) string {
	p = path.Clean(p)
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return "."
	}
	return p
}

// fsErr gives an error from Options.FS the configuration's own path
// back: the FS names files without the leading "/".
func fsErr(file string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: file, Err: pe.Err}
	}
	return err
}

func (p *xparser) include(from string, line int, file string, depth int) {
	if depth >= maxIncludeDepth {
		p.c.parseLoss(from, line, "include %s: nested too deep; left out", file)
		return
	}
	if p.c.opts.FS == nil {
		p.c.parseLoss(from, line, "include %s: no file system to read it from; left out", file)
		return
	}
	data, err := fs.ReadFile(p.c.opts.FS, fsPath(file))
	if err != nil {
		p.c.parseLoss(from, line, "include %s: %v; left out", file, fsErr(file, err))
		return
	}
	p.parseFile(file, data, depth+1)
}

// includeDir reads every file of dir whose name has no "." and does not
// end in "~", in bytewise order, as xinetd does.
func (p *xparser) includeDir(from string, line int, dir string, depth int) {
	if depth >= maxIncludeDepth {
		p.c.parseLoss(from, line, "includedir %s: nested too deep; left out", dir)
		return
	}
	if p.c.opts.FS == nil {
		p.c.parseLoss(from, line, "includedir %s: no file system to read it from; left out", dir)
		return
	}
	ents, err := fs.ReadDir(p.c.opts.FS, fsPath(dir))
	if err != nil {
		p.c.parseLoss(from, line, "includedir %s: %v; left out", dir, fsErr(dir, err))
		return
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		n := e.Name()
		if strings.Contains(n, ".") || strings.HasSuffix(n, "~") || e.IsDir() {
			continue
		}
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		file := path.Join(dir, n)
		if p.seen[cleanName(file)] {
			continue
		}
		data, err := fs.ReadFile(p.c.opts.FS, fsPath(file))
		if err != nil {
			p.c.parseLoss(from, line, "includedir %s: %v; left out", file, fsErr(file, err))
			continue
		}
		p.parseFile(file, data, depth+1)
	}
}
