package samtemplate

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ParseParameterOverrides parses SAM CLI's --parameter-overrides value:
// space-separated Key=Value pairs, or the CloudFormation form
// ParameterKey=Key,ParameterValue=Value, in any mix. A value may be quoted
// with double or single quotes (to hold spaces); a backslash escapes the
// next character, inside double quotes or out.
func ParseParameterOverrides(s string) (map[string]string, error) {
	words, err := splitWords(s)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(words))
	for _, w := range words {
		key, value, err := parseOverride(w)
		if err != nil {
			return nil, err
		}
		out[key] = value
	}
	return out, nil
}

// word is one space-separated override, with its quoting removed; raw marks
// the bytes that came from outside quotes (where ',' and '=' separate).
type word struct {
	text []rune
	raw  []bool
}

func splitWords(s string) ([]word, error) {
	var words []word
	var cur word
	inWord := false
	var quote rune
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != '\'' && r == '\\':
			if i+1 >= len(rs) {
				return nil, errors.New("parameter overrides: trailing backslash")
			}
			i++
			cur.text = append(cur.text, rs[i])
			cur.raw = append(cur.raw, false)
			inWord = true
		case quote != 0:
			cur.text = append(cur.text, r)
			cur.raw = append(cur.raw, false)
		case r == '"' || r == '\'':
			quote = r
			inWord = true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inWord {
				words = append(words, cur)
				cur, inWord = word{}, false
			}
		default:
			cur.text = append(cur.text, r)
			cur.raw = append(cur.raw, true)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("parameter overrides: unterminated %c quote", quote)
	}
	if inWord {
		words = append(words, cur)
	}
	return words, nil
}

// index finds sep outside quotes in w from start.
func (w word) index(sep rune, start int) int {
	for i := start; i < len(w.text); i++ {
		if w.raw[i] && w.text[i] == sep {
			return i
		}
	}
	return -1
}

func parseOverride(w word) (key, value string, err error) {
	s := string(w.text)
	eq := w.index('=', 0)
	if eq <= 0 {
		return "", "", fmt.Errorf("parameter override %q: want Key=Value", s)
	}
	key = string(w.text[:eq])
	if key != "ParameterKey" {
		if !validParamName(key) {
			return "", "", fmt.Errorf("parameter override %q: %q is not a parameter name", s, key)
		}
		return key, string(w.text[eq+1:]), nil
	}
	// ParameterKey=K,ParameterValue=V
	comma := w.index(',', eq+1)
	if comma < 0 {
		return "", "", fmt.Errorf("parameter override %q: want ParameterKey=Key,ParameterValue=Value", s)
	}
	key = string(w.text[eq+1 : comma])
	const pv = "ParameterValue="
	rest := string(w.text[comma+1:])
	if !strings.HasPrefix(rest, pv) || !validParamName(key) {
		return "", "", fmt.Errorf("parameter override %q: want ParameterKey=Key,ParameterValue=Value", s)
	}
	return key, rest[len(pv):], nil
}

func validParamName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// readParams gives each parameter its value: the override, else Default.
func readParams(section any, overrides map[string]string) (map[string]*param, []error) {
	var errs []error
	params := map[string]*param{}
	m, ok := section.(map[string]any)
	if section != nil && !ok {
		return params, []error{errors.New("Parameters is not a mapping")}
	}
	for name, def := range m {
		dm, ok := def.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("parameter %s is not a mapping", name))
			continue
		}
		p := &param{}
		p.Type, _ = dm["Type"].(string)
		if d, ok := dm["Default"]; ok {
			s, err := paramString(d)
			if err != nil {
				errs = append(errs, fmt.Errorf("parameter %s: Default: %w", name, err))
				continue
			}
			p.Value, p.HasVal = s, true
		}
		if av, ok := dm["AllowedValues"].([]any); ok {
			for _, a := range av {
				if s, err := scalarString(a); err == nil {
					p.Allowed = append(p.Allowed, s)
				}
			}
		}
		if strings.HasPrefix(p.Type, "AWS::SSM::Parameter::Value") {
			// Its Default names an SSM parameter, not a value: only an
			// override can give the value locally.
			p.HasVal = false
		}
		params[name] = p
	}
	for name, v := range overrides {
		p, ok := params[name]
		if !ok {
			// SAM CLI ignores overrides the template does not declare.
			continue
		}
		p.Value, p.HasVal = v, true
	}
	for _, name := range slices.Sorted(maps.Keys(params)) {
		p := params[name]
		if p.HasVal && len(p.Allowed) > 0 && !slices.Contains(p.Allowed, p.Value) {
			errs = append(errs, fmt.Errorf("parameter %s: %q is not one of its AllowedValues %v", name, p.Value, p.Allowed))
		}
	}
	return params, errs
}

// paramString reads a Default: a list default of a list type is joined.
func paramString(v any) (string, error) {
	if l, ok := v.([]any); ok {
		parts := make([]string, len(l))
		for i, e := range l {
			s, err := scalarString(e)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	}
	return scalarString(v)
}
