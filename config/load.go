package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// loader holds the state of one Load.
type loader struct {
	o        Options
	dir      string // absolute
	diags    diagList
	warnings []warning
	perms    *pathChecker
	users    users

	files    []string
	daemon   *hclsyntax.Block
	defaults *hclsyntax.Block
	raws     []rawService
	names    map[string]hcl.Range // service label positions
}

// Load reads every *.hcl file of dir (names not starting with "." and
// ending in ".hcl", in bytewise order) and returns the validated
// configuration. On any problem it returns a nil Config and every problem
// found, sorted by file and position; format each with FormatDiagnostic.
// Warnings never fail a Load: they are in Config.Warnings.
func Load(dir string, o Options) (*Config, hcl.Diagnostics) {
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	l := &loader{o: o, perms: newPathChecker(o.UID), names: make(map[string]hcl.Range)}
	abs, err := filepath.Abs(dir)
	if err != nil {
		l.diags.pathErr(dir, err)
		return nil, l.diags.sorted()
	}
	l.dir = abs

	problems, err := l.perms.checkDir(abs)
	l.pathProblems(problems)
	if err != nil {
		l.diags.pathErr(abs, err)
		return nil, l.diags.sorted()
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		l.diags.pathErr(abs, err)
		return nil, l.diags.sorted()
	}
	for _, e := range entries { // sorted by name, bytewise
		name := e.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".hcl") {
			continue
		}
		l.readFile(filepath.Join(abs, name))
	}
	if len(l.files) == 0 && !l.diags.hasErrors() {
		l.warnings = append(l.warnings, warning{msg: abs + ": no *.hcl files: no services"})
	}

	cfg := &Config{Dir: abs, Files: l.files}
	var metrics metricsAddr
	cfg.Daemon, metrics = decodeDaemon(&l.diags, l.daemon)
	var defaults rawService
	if l.defaults != nil {
		defaults = decodeService(&l.diags, l.defaults, true)
	}
	var listens []listenAt
	for _, r := range l.raws {
		s, ls := l.service(mergeDefaults(r, defaults))
		cfg.Services = append(cfg.Services, s)
		if !s.Disabled {
			listens = append(listens, ls...)
		}
	}
	l.clashes(listens, metrics)
	cfg.Location = l.location()
	cfg.Warnings = sortedWarnings(l.warnings)
	if l.diags.hasErrors() {
		return nil, l.diags.sorted()
	}
	return cfg, nil
}

// pathProblems reports permission failures that have no position.
func (l *loader) pathProblems(problems []string) {
	for _, p := range problems {
		path, _, _ := strings.Cut(p, ": ")
		l.diags.pathError(path, p)
	}
}

// readFile reads, parses and sorts out the top-level blocks of one file.
func (l *loader) readFile(path string) {
	src, problems, err := l.perms.readFile(path)
	l.pathProblems(problems)
	if err != nil {
		l.diags.pathErr(path, err)
		return
	}
	l.files = append(l.files, path)
	if ds := checkShape(src, path); ds.HasErrors() {
		l.diags.add(ds)
		return
	}
	f, ds := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	l.diags.add(ds)
	if ds.HasErrors() {
		return // a partial body would only add confusing errors
	}
	body := f.Body.(*hclsyntax.Body)
	for _, a := range body.Attributes {
		l.diags.errorf(a.NameRange, "unknown attribute %q: the top level holds only daemon, defaults and service blocks", a.Name)
	}
	for _, b := range body.Blocks {
		switch b.Type {
		case "daemon", "defaults":
			if len(b.Labels) > 0 {
				l.diags.errorf(b.LabelRanges[0], "%s block takes no label", b.Type)
				continue
			}
			first := &l.daemon
			if b.Type == "defaults" {
				first = &l.defaults
			}
			if *first != nil {
				l.diags.errorf(b.TypeRange, "duplicate %s block (the first is at %s)", b.Type, posString((*first).TypeRange))
				continue
			}
			*first = b
		case "service":
			if len(b.Labels) != 1 {
				l.diags.errorf(b.TypeRange, `service block needs one label, its name: service "NAME" {...}`)
				continue
			}
			name, rng := b.Labels[0], b.LabelRanges[0]
			if !serviceName.MatchString(name) {
				l.diags.errorf(rng, "invalid service name %q: want [a-z0-9][a-z0-9_-]{0,63}", name)
			} else if prev, dup := l.names[name]; dup {
				l.diags.errorf(rng, "duplicate service %q (the first is at %s)", name, posString(prev))
			} else {
				l.names[name] = rng
			}
			l.raws = append(l.raws, decodeService(&l.diags, b, false))
		default:
			l.diags.errorf(b.TypeRange, "unknown block %q: the top level holds only daemon, defaults and service blocks", b.Type)
		}
	}
}

// location loads the local time zone afresh: TZ (as the C library reads
// it: "" is UTC, a leading ":" is dropped, an absolute path is a zoneinfo
// file), else /etc/localtime, else UTC.
func (l *loader) location() *time.Location {
	tz, ok := l.o.LookupEnv("TZ")
	if !ok {
		if data, err := os.ReadFile("/etc/localtime"); err == nil {
			if loc, err := time.LoadLocationFromTZData("Local", data); err == nil {
				return loc
			}
		}
		return time.UTC
	}
	tz = strings.TrimPrefix(tz, ":")
	if tz == "" || tz == "UTC" {
		return time.UTC
	}
	if filepath.IsAbs(tz) {
		if data, err := os.ReadFile(tz); err == nil {
			if loc, err := time.LoadLocationFromTZData(tz, data); err == nil {
				return loc
			}
		}
	} else if loc, err := time.LoadLocation(tz); err == nil && tz != "Local" {
		return loc
	}
	l.warnings = append(l.warnings, warning{msg: fmt.Sprintf("TZ=%q: unknown time zone: using UTC", tz)})
	return time.UTC
}
