package samtemplate

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// AccountID is the account the pseudo parameter AWS::AccountId names
// locally (SAM CLI's choice too).
const AccountID = "123456789012"

// noValue is what AWS::NoValue evaluates to: the property (or list
// element) holding it is removed.
type noValue struct{}

// resource is one entry of Resources.
type resource struct {
	ID        string
	Type      string
	Props     map[string]any
	Metadata  map[string]any
	Condition string
	// From is the SAM resource this one was generated from, if any.
	From string
}

// param is a template parameter with the value it takes.
type param struct {
	Type    string
	Value   string
	HasVal  bool
	Allowed []string
}

// doc is a decoded template being evaluated.
type doc struct {
	opts       Options
	top        map[string]any
	params     map[string]*param
	mappings   map[string]any
	conditions map[string]any
	condValue  map[string]bool
	condBusy   map[string]bool
	resources  map[string]*resource
	expanded   int64 // bytes intrinsic functions produced (limits.go)
}

// tracker collects the resources an evaluation referred to (by Ref,
// Fn::GetAtt or ${} in Fn::Sub): how an IntegrationUri is known to name a
// function whatever string the Resource hook made of its ARN.
type tracker struct{ ids []string }

func (t *tracker) add(id string) {
	if t != nil && !slices.Contains(t.ids, id) {
		t.ids = append(t.ids, id)
	}
}

// eval evaluates every intrinsic function in v.
func (d *doc) eval(v any, t *tracker) (any, error) {
	return d.evalDepth(v, t, 0)
}

func (d *doc) evalDepth(v any, t *tracker, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("intrinsic functions nested too deeply")
	}
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 1 {
			for k, arg := range v {
				// {Condition: {...}} is an IAM statement's, not a
				// condition reference.
				_, named := arg.(string)
				if k == "Ref" || k == "Condition" && named || strings.HasPrefix(k, "Fn::") {
					return d.fn(k, arg, t, depth+1)
				}
			}
		}
		out := make(map[string]any, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			e, err := d.evalDepth(v[k], t, depth+1)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if _, drop := e.(noValue); !drop {
				out[k] = e
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(v))
		for i, e := range v {
			r, err := d.evalDepth(e, t, depth+1)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			if _, drop := r.(noValue); !drop {
				out = append(out, r)
			}
		}
		return out, nil
	}
	return v, nil
}

// args evaluates an intrinsic's argument list and checks its length.
func (d *doc) args(name string, arg any, t *tracker, depth int, minN, maxN int) ([]any, error) {
	list, ok := arg.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a list of arguments", name)
	}
	if len(list) < minN || len(list) > maxN {
		return nil, fmt.Errorf("%s: want %d to %d arguments, got %d", name, minN, maxN, len(list))
	}
	out := make([]any, len(list))
	for i, e := range list {
		r, err := d.evalDepth(e, t, depth)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[i] = r
	}
	return out, nil
}

func (d *doc) fn(name string, arg any, t *tracker, depth int) (any, error) {
	// Every call counts, so that aliases repeating calls are bounded too.
	if err := d.charge(0); err != nil {
		return nil, err
	}
	switch name {
	case "Ref":
		s, ok := arg.(string)
		if !ok {
			return nil, errors.New("Ref: want a name")
		}
		return d.ref(s, t)
	case "Condition":
		s, ok := arg.(string)
		if !ok {
			return nil, errors.New("Condition: want a condition name")
		}
		return d.condition(s)
	case "Fn::GetAtt":
		a := arg
		if s, ok := arg.(string); ok {
			res, attr, _ := strings.Cut(s, ".")
			a = []any{res, attr}
		}
		args, err := d.args(name, a, t, depth, 2, 2)
		if err != nil {
			return nil, err
		}
		res, ok1 := args[0].(string)
		attr, ok2 := args[1].(string)
		if !ok1 || !ok2 {
			return nil, errors.New("Fn::GetAtt: want [Resource, Attribute]")
		}
		return d.getAtt(res, attr, t)
	case "Fn::Sub":
		return d.charged(d.sub(arg, t, depth))
	case "Fn::If":
		list, ok := arg.([]any)
		if !ok || len(list) != 3 {
			return nil, errors.New("Fn::If: want [Condition, ValueIfTrue, ValueIfFalse]")
		}
		c, ok := list[0].(string)
		if !ok {
			return nil, errors.New("Fn::If: condition must be a name")
		}
		b, err := d.condition(c)
		if err != nil {
			return nil, fmt.Errorf("Fn::If: %w", err)
		}
		// Only the chosen branch is evaluated, as CloudFormation does.
		if b {
			return d.evalDepth(list[1], t, depth)
		}
		return d.evalDepth(list[2], t, depth)
	case "Fn::Equals":
		args, err := d.args(name, arg, t, depth, 2, 2)
		if err != nil {
			return nil, err
		}
		a, err1 := scalarString(args[0])
		b, err2 := scalarString(args[1])
		if err1 != nil || err2 != nil {
			return nil, errors.New("Fn::Equals: want two strings")
		}
		return a == b, nil
	case "Fn::Not":
		args, err := d.args(name, arg, t, depth, 1, 1)
		if err != nil {
			return nil, err
		}
		b, ok := args[0].(bool)
		if !ok {
			return nil, errors.New("Fn::Not: want a condition")
		}
		return !b, nil
	case "Fn::And", "Fn::Or":
		args, err := d.args(name, arg, t, depth, 2, 10)
		if err != nil {
			return nil, err
		}
		and := name == "Fn::And"
		res := and
		for _, a := range args {
			b, ok := a.(bool)
			if !ok {
				return nil, fmt.Errorf("%s: want conditions", name)
			}
			if and {
				res = res && b
			} else {
				res = res || b
			}
		}
		return res, nil
	case "Fn::Join":
		args, err := d.args(name, arg, t, depth, 2, 2)
		if err != nil {
			return nil, err
		}
		delim, ok := args[0].(string)
		list, ok2 := args[1].([]any)
		if !ok || !ok2 {
			return nil, errors.New("Fn::Join: want [delimiter, [values]]")
		}
		parts := make([]string, len(list))
		n := 0
		for i, e := range list {
			if parts[i], err = scalarString(e); err != nil {
				return nil, fmt.Errorf("Fn::Join: %w", err)
			}
			if n += len(parts[i]) + len(delim); n > maxExpandedString {
				return nil, d.charge(n)
			}
		}
		return d.charged(strings.Join(parts, delim), nil)
	case "Fn::Select":
		args, err := d.args(name, arg, t, depth, 2, 2)
		if err != nil {
			return nil, err
		}
		is, err := scalarString(args[0])
		if err != nil {
			return nil, fmt.Errorf("Fn::Select: %w", err)
		}
		i, err := strconv.Atoi(is)
		list, ok := args[1].([]any)
		if err != nil || !ok {
			return nil, errors.New("Fn::Select: want [index, [values]]")
		}
		if i < 0 || i >= len(list) {
			return nil, fmt.Errorf("Fn::Select: index %d out of range (%d values)", i, len(list))
		}
		return list[i], nil
	case "Fn::Split":
		args, err := d.args(name, arg, t, depth, 2, 2)
		if err != nil {
			return nil, err
		}
		delim, ok := args[0].(string)
		s, ok2 := args[1].(string)
		if !ok || !ok2 || delim == "" {
			return nil, errors.New("Fn::Split: want [delimiter, string]")
		}
		// A list of n strings costs their bytes and n slots.
		if err := d.charge(len(s) + 16*strings.Count(s, delim)); err != nil {
			return nil, err
		}
		return toList(strings.Split(s, delim)), nil
	case "Fn::FindInMap":
		args, err := d.args(name, arg, t, depth, 3, 4)
		if err != nil {
			return nil, err
		}
		return d.findInMap(args)
	case "Fn::Base64":
		s, err := d.evalDepth(arg, t, depth)
		if err != nil {
			return nil, err
		}
		str, err := scalarString(s)
		if err != nil {
			return nil, fmt.Errorf("Fn::Base64: %w", err)
		}
		return d.charged(base64.StdEncoding.EncodeToString([]byte(str)), nil)
	case "Fn::GetAZs":
		r := d.opts.Region
		return []any{r + "a", r + "b", r + "c"}, nil
	case "Fn::ImportValue":
		v, err := d.evalDepth(arg, t, depth)
		if err != nil {
			return nil, err
		}
		exp, err := scalarString(v)
		if err != nil {
			return nil, fmt.Errorf("Fn::ImportValue: %w", err)
		}
		// Another stack's export: only the caller can know it.
		if d.opts.Resource != nil {
			if val, ok := d.opts.Resource(exp, "Fn::ImportValue", ""); ok {
				return val, nil
			}
		}
		return nil, fmt.Errorf("Fn::ImportValue %q cannot be resolved locally (Options.Resource gave no value)", exp)
	}
	return nil, fmt.Errorf("%s is not supported", name)
}

// ref evaluates Ref name.
func (d *doc) ref(name string, t *tracker) (any, error) {
	switch name {
	case "AWS::Region":
		return d.opts.Region, nil
	case "AWS::AccountId":
		return AccountID, nil
	case "AWS::StackName":
		return d.opts.StackName, nil
	case "AWS::StackId":
		return "arn:aws:cloudformation:" + d.opts.Region + ":" + AccountID + ":stack/" +
			d.opts.StackName + "/00000000-0000-0000-0000-000000000000", nil
	case "AWS::Partition":
		return "aws", nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	case "AWS::NoValue":
		return noValue{}, nil
	case "AWS::NotificationARNs":
		return []any{}, nil
	}
	if p, ok := d.params[name]; ok {
		if !p.HasVal {
			return nil, fmt.Errorf("parameter %s has no Default and no value was given", name)
		}
		if p.Type == "CommaDelimitedList" || strings.HasPrefix(p.Type, "List<") {
			return toList(strings.Split(p.Value, ",")), nil
		}
		return p.Value, nil
	}
	r, ok := d.resources[name]
	if !ok {
		return nil, fmt.Errorf("Ref to unknown name %s", name)
	}
	t.add(name)
	if d.opts.Resource != nil {
		if v, ok := d.opts.Resource(name, r.Type, ""); ok {
			return v, nil
		}
	}
	if isTable(r.Type) {
		return d.tableName(r), nil
	}
	// A physical name locally is the logical ID.
	return name, nil
}

// getAtt evaluates Fn::GetAtt [res, attr].
func (d *doc) getAtt(res, attr string, t *tracker) (any, error) {
	r, ok := d.resources[res]
	if !ok {
		return nil, fmt.Errorf("Fn::GetAtt to unknown resource %s", res)
	}
	t.add(res)
	if d.opts.Resource != nil {
		if v, ok := d.opts.Resource(res, r.Type, attr); ok {
			return v, nil
		}
	}
	switch {
	case isFunction(r.Type) && attr == "Arn":
		return d.functionARN(res), nil
	case isTable(r.Type) && attr == "Arn":
		name, err := d.ref(res, t)
		if err != nil {
			return nil, err
		}
		return d.tableARN(fmt.Sprint(name)), nil
	case r.Type == typeAPI && attr == "ApiId":
		return res, nil
	case r.Type == typeAPI && attr == "ApiEndpoint":
		return "wss://" + res + ".execute-api." + d.opts.Region + ".amazonaws.com", nil
	}
	return nil, fmt.Errorf("Fn::GetAtt %s.%s cannot be resolved locally (Options.Resource gave no value)", res, attr)
}

// functionARN is the ARN a function's logical ID stands for locally.
func (d *doc) functionARN(id string) string {
	return "arn:aws:lambda:" + d.opts.Region + ":" + AccountID + ":function:" + id
}

// sub evaluates Fn::Sub, in its string and [string, {vars}] forms.
func (d *doc) sub(arg any, t *tracker, depth int) (any, error) {
	var format string
	vars := map[string]any{}
	switch a := arg.(type) {
	case string:
		format = a
	case []any:
		if len(a) != 2 {
			return nil, errors.New("Fn::Sub: want a string or [string, {variables}]")
		}
		s, ok := a[0].(string)
		m, ok2 := a[1].(map[string]any)
		if !ok || !ok2 {
			return nil, errors.New("Fn::Sub: want [string, {variables}]")
		}
		format = s
		for k, v := range m {
			r, err := d.evalDepth(v, t, depth)
			if err != nil {
				return nil, fmt.Errorf("Fn::Sub variable %s: %w", k, err)
			}
			vars[k] = r
		}
	default:
		return nil, errors.New("Fn::Sub: want a string or [string, {variables}]")
	}
	var b strings.Builder
	for {
		i := strings.Index(format, "${")
		if i < 0 {
			b.WriteString(format)
			return b.String(), nil
		}
		b.WriteString(format[:i])
		rest := format[i+2:]
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			return nil, fmt.Errorf("Fn::Sub: unterminated ${ in %q", format)
		}
		name := rest[:j]
		format = rest[j+1:]
		if strings.HasPrefix(name, "!") {
			// ${!Literal} writes ${Literal}.
			b.WriteString("${" + name[1:] + "}")
			continue
		}
		name = strings.TrimSpace(name)
		var v any
		var err error
		if val, ok := vars[name]; ok {
			v = val
		} else if res, attr, dotted := strings.Cut(name, "."); dotted && !strings.HasPrefix(name, "AWS::") {
			v, err = d.getAtt(res, attr, t)
		} else {
			v, err = d.ref(name, t)
		}
		if err != nil {
			return nil, fmt.Errorf("Fn::Sub ${%s}: %w", name, err)
		}
		s, err := scalarString(v)
		if err != nil {
			return nil, fmt.Errorf("Fn::Sub ${%s}: %w", name, err)
		}
		b.WriteString(s)
		if b.Len() > maxExpandedString {
			return nil, d.charge(b.Len())
		}
	}
}

func (d *doc) findInMap(args []any) (any, error) {
	keys := make([]string, 3)
	for i := range 3 {
		s, err := scalarString(args[i])
		if err != nil {
			return nil, fmt.Errorf("Fn::FindInMap: %w", err)
		}
		keys[i] = s
	}
	m, _ := d.mappings[keys[0]].(map[string]any)
	top, _ := m[keys[1]].(map[string]any)
	if v, ok := top[keys[2]]; ok {
		return v, nil
	}
	// The optional fourth argument: {DefaultValue: x}.
	if len(args) == 4 {
		if dm, ok := args[3].(map[string]any); ok {
			if v, ok := dm["DefaultValue"]; ok {
				return v, nil
			}
		}
	}
	return nil, fmt.Errorf("Fn::FindInMap: no %s/%s/%s in Mappings", keys[0], keys[1], keys[2])
}

// condition evaluates the named condition once, refusing cycles.
func (d *doc) condition(name string) (bool, error) {
	if v, ok := d.condValue[name]; ok {
		return v, nil
	}
	def, ok := d.conditions[name]
	if !ok {
		return false, fmt.Errorf("unknown condition %s", name)
	}
	if d.condBusy[name] {
		return false, fmt.Errorf("condition %s refers to itself", name)
	}
	d.condBusy[name] = true
	defer delete(d.condBusy, name)
	v, err := d.eval(def, nil)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("condition %s is not a condition function", name)
	}
	d.condValue[name] = b
	return b, nil
}

// scalarString is how a scalar reads where CloudFormation wants a string.
func scalarString(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case int:
		return strconv.Itoa(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case uint64:
		return strconv.FormatUint(v, 10), nil
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return strconv.FormatInt(int64(v), 10), nil
		}
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case nil:
		return "", errors.New("null where a string is wanted")
	case noValue:
		return "", errors.New("AWS::NoValue where a string is wanted")
	}
	return "", fmt.Errorf("a %s where a string is wanted", kind(v))
}

func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "mapping"
	case []any:
		return "list"
	}
	return fmt.Sprintf("%T", v)
}

func toList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
