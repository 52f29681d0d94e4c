package samtemplate

import (
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Whether a known property is read or has no effect locally. A property a
// table does not list is reported as not supported.
const (
	use    = true
	ignore = false
)

// props are a resource's properties, evaluated one at a time so that a
// property the emulator ignores cannot fail the load.
type props struct {
	r    *resource
	vals map[string]any
	refs map[string]*tracker
}

// readProps evaluates r's properties, reporting those known does not list
// (unless they evaluate to AWS::NoValue) and those that fail to evaluate.
func (d *doc) readProps(rp *report, r *resource, known map[string]bool) *props {
	p := &props{r: r, vals: map[string]any{}, refs: map[string]*tracker{}}
	for _, k := range slices.Sorted(maps.Keys(r.Props)) {
		used, isKnown := known[k]
		if isKnown && !used {
			continue
		}
		t := &tracker{}
		v, err := d.eval(r.Props[k], t)
		if _, absent := v.(noValue); err == nil && absent {
			continue
		}
		switch {
		case !isKnown:
			rp.unsupported(r, k)
		case err != nil:
			rp.errorf(r, "property %s: %v", k, err)
		default:
			p.vals[k] = v
			p.refs[k] = t
		}
	}
	return p
}

func (p *props) has(name string) bool {
	_, ok := p.vals[name]
	return ok
}

// str reads a string property ("" and false when absent); a non-string is
// reported.
func (p *props) str(rp *report, name string) (string, bool) {
	v, ok := p.vals[name]
	if !ok {
		return "", false
	}
	s, err := scalarString(v)
	if err != nil {
		rp.errorf(p.r, "property %s: %v", name, err)
		return "", false
	}
	return s, true
}

// number reads a numeric property (numbers may come as strings, from
// parameters).
func (p *props) number(rp *report, name string) (float64, bool) {
	s, ok := p.str(rp, name)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		rp.errorf(p.r, "property %s: %q is not a number", name, s)
		return 0, false
	}
	return f, true
}

func (p *props) boolean(rp *report, name string) bool {
	s, ok := p.str(rp, name)
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		rp.errorf(p.r, "property %s: %q is not a boolean", name, s)
	}
	return b
}

// refTo is the logical ID of the resource of one of types that property
// name refers to: by Ref or Fn::GetAtt, or by being that ID (which is what
// a Ref evaluates to by default). "" if none.
func (d *doc) refTo(p *props, name string, types ...string) string {
	if t := p.refs[name]; t != nil {
		for _, id := range t.ids {
			if r, ok := d.resources[id]; ok && slices.Contains(types, r.Type) {
				return id
			}
		}
	}
	if s, ok := p.vals[name].(string); ok {
		if r, ok := d.resources[s]; ok && slices.Contains(types, r.Type) {
			return s
		}
	}
	return ""
}

// stringMap reads a property that maps names to strings.
func (p *props) stringMap(rp *report, name string) map[string]string {
	v, ok := p.vals[name]
	if !ok {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		rp.errorf(p.r, "property %s: a %s, not a mapping", name, kind(v))
		return nil
	}
	out := make(map[string]string, len(m))
	for k, e := range m {
		s, err := scalarString(e)
		if err != nil {
			rp.errorf(p.r, "property %s.%s: %v", name, k, err)
			continue
		}
		out[k] = s
	}
	return out
}

// stringList reads a list of strings (a lone string is a list of one).
func (p *props) stringList(rp *report, name string) []string {
	v, ok := p.vals[name]
	if !ok {
		return nil
	}
	if s, ok := v.(string); ok {
		return []string{s}
	}
	l, ok := v.([]any)
	if !ok {
		rp.errorf(p.r, "property %s: a %s, not a list", name, kind(v))
		return nil
	}
	out := make([]string, 0, len(l))
	for i, e := range l {
		s, err := scalarString(e)
		if err != nil {
			rp.errorf(p.r, "property %s[%d]: %v", name, i, err)
			continue
		}
		out = append(out, s)
	}
	return out
}
