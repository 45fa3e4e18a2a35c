package config

import (
	"fmt"
	"math"
	"math/big"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// The schema: the attributes and blocks each block may hold.
var (
	daemonAttrs = []string{"metrics_listen", "log_format", "log_level", "shutdown_grace", "kill_delay"}

	serviceAttrs = []string{
		"protocol", "listen", "mode", "pass", "command", "argv0", "builtin",
		"user", "group", "groups", "workdir", "env", "pass_env", "umask", "nice",
		"stderr", "disabled",
	}
	serviceBlocks = []string{"socket", "access", "limits"}

	// notInDefaults are the service attributes a defaults {} block may not hold.
	notInDefaults = []string{"protocol", "listen", "command", "builtin"}

	socketAttrs = []string{"backlog", "keepalive", "nodelay", "freebind", "mode", "owner", "group"}
	accessAttrs = []string{"allow", "deny", "times", "deny_message"}
	limitsAttrs = []string{
		"instances", "per_source", "source_prefix", "rate", "per_source_rate", "max_load",
		"timeout", "memory", "cpu", "files", "processes",
	}
)

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// opt is one attribute as decoded from a block.
type opt[T any] struct {
	V   T
	Set bool      // present in the block, even if invalid
	OK  bool      // present and valid
	Rng hcl.Range // the value's expression
	Def bool      // taken from the defaults {} block
}

// valid reports whether o was set to a valid value.
func (o opt[T]) valid() bool { return o.Set && o.OK }

// item is one element of a list attribute, with its position.
type item[T any] struct {
	V   T
	Rng hcl.Range
}

// decoder reads attribute values of one block, reporting problems as
// "WHAT: NAME: message" at the value's position.
type decoder struct {
	diags *diagList
	what  string // `service "finger"`, "defaults", "daemon"
}

func (d *decoder) errf(rng hcl.Range, name, format string, args ...any) {
	d.diags.errorf(rng, "%s: %s: %s", d.what, name, fmt.Sprintf(format, args...))
}

// body checks the attributes and blocks of b against the schema and
// returns them by name. Nested blocks have no labels and appear at most
// once.
func (d *decoder) body(b *hclsyntax.Body, prefix string, attrNames, blockNames, forbidden []string) (map[string]*hclsyntax.Attribute, map[string]*hclsyntax.Block) {
	attrs := make(map[string]*hclsyntax.Attribute)
	for name, a := range b.Attributes {
		switch {
		case contains(forbidden, name):
			d.diags.errorf(a.NameRange, "%s: %s%s is not allowed here", d.what, prefix, name)
		case !contains(attrNames, name):
			d.diags.errorf(a.NameRange, "%s: unknown attribute %q", d.what, prefix+name)
		default:
			attrs[name] = a
		}
	}
	blocks := make(map[string]*hclsyntax.Block)
	for _, blk := range b.Blocks {
		name := blk.Type
		switch {
		case contains(attrNames, name):
			d.diags.errorf(blk.TypeRange, "%s: %s%s is an attribute: write %s = ...", d.what, prefix, name, name)
			continue
		case !contains(blockNames, name):
			d.diags.errorf(blk.TypeRange, "%s: unknown block %q", d.what, prefix+name)
			continue
		case len(blk.Labels) > 0:
			d.diags.errorf(blk.LabelRanges[0], "%s: block %s takes no label", d.what, prefix+name)
		}
		if prev, ok := blocks[name]; ok {
			d.diags.errorf(blk.TypeRange, "%s: duplicate %s block (the first is at %s)", d.what, prefix+name, posString(prev.TypeRange))
			continue
		}
		blocks[name] = blk
	}
	return attrs, blocks
}

// value evaluates a constant expression.
func (d *decoder) value(e hclsyntax.Expression, name string) (cty.Value, bool) {
	v, ds := e.Value(nil)
	d.diags.add(ds)
	if ds.HasErrors() {
		return cty.NilVal, false
	}
	if !v.IsWhollyKnown() {
		d.errf(e.Range(), name, "must be a constant")
		return cty.NilVal, false
	}
	if v.IsNull() {
		d.errf(e.Range(), name, "must not be null")
		return cty.NilVal, false
	}
	v, _ = v.Unmark()
	return v, true
}

// start returns an opt for attribute a (nil: unset) and a's value.
func start[T any](d *decoder, a *hclsyntax.Attribute, name string) (opt[T], cty.Value, bool) {
	if a == nil {
		return opt[T]{}, cty.NilVal, false
	}
	o := opt[T]{Set: true, Rng: a.Expr.Range()}
	v, ok := d.value(a.Expr, name)
	return o, v, ok
}

func typeName(v cty.Value) string { return v.Type().FriendlyName() }

// asString converts a string value; NUL bytes are refused unless allowNUL.
func (d *decoder) asString(v cty.Value, rng hcl.Range, name string, allowNUL bool) (string, bool) {
	if v.IsNull() {
		d.errf(rng, name, "must not be null")
		return "", false
	}
	if v.Type() != cty.String {
		d.errf(rng, name, "must be a string, not %s", typeName(v))
		return "", false
	}
	s := v.AsString()
	if !allowNUL && strings.IndexByte(s, 0) >= 0 {
		d.errf(rng, name, "must not contain a NUL byte")
		return "", false
	}
	return s, true
}

// asInt converts a whole number within [lo, hi].
func (d *decoder) asInt(v cty.Value, rng hcl.Range, name string, lo, hi int64) (int64, bool) {
	if v.IsNull() {
		d.errf(rng, name, "must not be null")
		return 0, false
	}
	if v.Type() != cty.Number {
		d.errf(rng, name, "must be a number, not %s", typeName(v))
		return 0, false
	}
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		d.errf(rng, name, "must be a whole number, not %s", bf.Text('g', 10))
		return 0, false
	}
	n, acc := bf.Int64()
	if acc != big.Exact || n < lo || n > hi {
		d.errf(rng, name, "must be from %d to %d, not %s", lo, hi, bf.Text('g', 20))
		return 0, false
	}
	return n, true
}

func (d *decoder) str(a *hclsyntax.Attribute, name string) opt[string] {
	o, v, ok := start[string](d, a, name)
	if ok {
		o.V, o.OK = d.asString(v, o.Rng, name, false)
	}
	return o
}

// rawStr is str that allows NUL bytes (deny_message).
func (d *decoder) rawStr(a *hclsyntax.Attribute, name string) opt[string] {
	o, v, ok := start[string](d, a, name)
	if ok {
		o.V, o.OK = d.asString(v, o.Rng, name, true)
	}
	return o
}

// enum is a string out of allowed.
func (d *decoder) enum(a *hclsyntax.Attribute, name string, allowed ...string) opt[string] {
	o := d.str(a, name)
	if o.OK && !contains(allowed, o.V) {
		d.errf(o.Rng, name, "must be %s, not %q", orList(allowed), o.V)
		o.OK = false
	}
	return o
}

func orList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

func (d *decoder) integer(a *hclsyntax.Attribute, name string, lo, hi int64) opt[int] {
	o, v, ok := start[int](d, a, name)
	if ok {
		n, ok := d.asInt(v, o.Rng, name, lo, hi)
		o.V, o.OK = int(n), ok
	}
	return o
}

func (d *decoder) float(a *hclsyntax.Attribute, name string, lo float64) opt[float64] {
	o, v, ok := start[float64](d, a, name)
	if !ok {
		return o
	}
	if v.Type() != cty.Number {
		d.errf(o.Rng, name, "must be a number, not %s", typeName(v))
		return o
	}
	f, _ := v.AsBigFloat().Float64()
	if math.IsInf(f, 0) || math.IsNaN(f) || f < lo {
		d.errf(o.Rng, name, "must be a finite number >= %g", lo)
		return o
	}
	o.V, o.OK = f, true
	return o
}

func (d *decoder) boolean(a *hclsyntax.Attribute, name string) opt[bool] {
	o, v, ok := start[bool](d, a, name)
	if !ok {
		return o
	}
	if v.Type() != cty.Bool {
		d.errf(o.Rng, name, "must be true or false, not %s", typeName(v))
		return o
	}
	o.V, o.OK = v.True(), true
	return o
}

// idName is a user or group: a name, or a number written either way.
func (d *decoder) idName(a *hclsyntax.Attribute, name string) opt[string] {
	o, v, ok := start[string](d, a, name)
	if !ok {
		return o
	}
	if v.Type() == cty.Number {
		n, ok := d.asInt(v, o.Rng, name, 0, math.MaxUint32-1)
		o.V, o.OK = fmt.Sprint(n), ok
		return o
	}
	s, ok := d.asString(v, o.Rng, name, false)
	if ok && s == "" {
		d.errf(o.Rng, name, "must not be empty")
		ok = false
	}
	o.V, o.OK = s, ok
	return o
}

// elements evaluates a list attribute element by element, so that each
// has its own position when the list is written out.
func (d *decoder) elements(a *hclsyntax.Attribute, name string) (opt[[]item[cty.Value]], bool) {
	o := opt[[]item[cty.Value]]{Set: true, Rng: a.Expr.Range()}
	if tup, ok := a.Expr.(*hclsyntax.TupleConsExpr); ok {
		good := true
		o.V = make([]item[cty.Value], 0, len(tup.Exprs))
		for i, e := range tup.Exprs {
			v, ok := d.value(e, fmt.Sprintf("%s[%d]", name, i))
			good = good && ok
			o.V = append(o.V, item[cty.Value]{V: v, Rng: e.Range()})
		}
		return o, good
	}
	v, ok := d.value(a.Expr, name)
	if !ok {
		return o, false
	}
	if !v.Type().IsTupleType() && !v.Type().IsListType() && !v.Type().IsSetType() {
		d.errf(o.Rng, name, "must be a list, not %s", typeName(v))
		return o, false
	}
	for it := v.ElementIterator(); it.Next(); {
		_, ev := it.Element()
		if ev.IsNull() {
			d.errf(o.Rng, name, "must not hold null")
			return o, false
		}
		o.V = append(o.V, item[cty.Value]{V: ev, Rng: o.Rng})
	}
	return o, true
}

// strList is a list of strings, each with its position; conv, if not
// nil, checks and converts each element.
func strList[T any](d *decoder, a *hclsyntax.Attribute, name string, conv func(string) (T, error)) opt[[]item[T]] {
	if a == nil {
		return opt[[]item[T]]{}
	}
	els, ok := d.elements(a, name)
	o := opt[[]item[T]]{Set: true, Rng: els.Rng, V: make([]item[T], 0, len(els.V))}
	if !ok {
		return o
	}
	good := true
	for i, el := range els.V {
		ename := fmt.Sprintf("%s[%d]", name, i)
		s, ok := d.asString(el.V, el.Rng, ename, false)
		if !ok {
			good = false
			continue
		}
		var t T
		if conv != nil {
			var err error
			if t, err = conv(s); err != nil {
				d.errf(el.Rng, ename, "%v", err)
				good = false
				continue
			}
		} else if st, ok := any(s).(T); ok {
			t = st
		}
		o.V = append(o.V, item[T]{V: t, Rng: el.Rng})
	}
	o.OK = good
	return o
}

// intList is a list of whole numbers.
func (d *decoder) intList(a *hclsyntax.Attribute, name string) opt[[]item[int64]] {
	if a == nil {
		return opt[[]item[int64]]{}
	}
	els, ok := d.elements(a, name)
	o := opt[[]item[int64]]{Set: true, Rng: els.Rng}
	if !ok {
		return o
	}
	good := true
	for i, el := range els.V {
		n, ok := d.asInt(el.V, el.Rng, fmt.Sprintf("%s[%d]", name, i), math.MinInt32, math.MaxInt32)
		good = good && ok
		o.V = append(o.V, item[int64]{V: n, Rng: el.Rng})
	}
	o.OK = good
	return o
}

// envVar is one env = {...} entry.
type envVar struct {
	Name, Value string
	Rng         hcl.Range // the name
}

// strMap is an object of strings, each entry with the position of its key.
func (d *decoder) strMap(a *hclsyntax.Attribute, name string) opt[[]envVar] {
	if a == nil {
		return opt[[]envVar]{}
	}
	o := opt[[]envVar]{Set: true, Rng: a.Expr.Range(), V: []envVar{}}
	good := true
	if obj, ok := a.Expr.(*hclsyntax.ObjectConsExpr); ok {
		for _, it := range obj.Items {
			kv, ok := d.value(it.KeyExpr, name)
			if !ok {
				good = false
				continue
			}
			k, ok := d.asString(kv, it.KeyExpr.Range(), name+" key", false)
			if !ok {
				good = false
				continue
			}
			ename := fmt.Sprintf("%s[%q]", name, k)
			vv, ok := d.value(it.ValueExpr, ename)
			if !ok {
				good = false
				continue
			}
			s, ok := d.asString(vv, it.ValueExpr.Range(), ename, false)
			if !ok {
				good = false
				continue
			}
			o.V = append(o.V, envVar{Name: k, Value: s, Rng: it.KeyExpr.Range()})
		}
		o.OK = good
		return o
	}
	v, ok := d.value(a.Expr, name)
	if !ok {
		return o
	}
	if !v.Type().IsObjectType() && !v.Type().IsMapType() {
		d.errf(o.Rng, name, "must be an object such as { LANG = \"C\" }, not %s", typeName(v))
		return o
	}
	for it := v.ElementIterator(); it.Next(); {
		kv, vv := it.Element()
		k := kv.AsString()
		s, ok := d.asString(vv, o.Rng, fmt.Sprintf("%s[%q]", name, k), false)
		if !ok {
			good = false
			continue
		}
		o.V = append(o.V, envVar{Name: k, Value: s, Rng: o.Rng})
	}
	o.OK = good
	return o
}
