package samtemplate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// A decoded template is plain Go values: map[string]any, []any, string,
// bool, int, float64 and nil. YAML short tags become their long form
// ({"Ref": x}, {"Fn::Sub": x}, ...), so the evaluator sees one syntax.

// maxDepth bounds nesting (and alias expansion) so that a hostile template
// cannot exhaust the stack.
const maxDepth = 100

// maxNodes bounds the values an aliased ("billion laughs") document expands to.
const maxNodes = 1_000_000

// decode reads a YAML or JSON template into plain values.
func decode(data []byte) (map[string]any, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("empty template")
	}
	var v any
	if trimmed[0] == '{' {
		// JSON: decoded as JSON, since YAML rejects some valid JSON
		// (tabs as indentation, for one).
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.UseNumber()
		var raw any
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("parse JSON: %w", err)
		}
		v = fromJSON(raw)
	} else {
		var root yaml.Node
		if err := yaml.Unmarshal(data, &root); err != nil {
			return nil, fmt.Errorf("parse YAML: %w", err)
		}
		c := &converter{}
		var err error
		if v, err = c.value(&root, 0); err != nil {
			return nil, fmt.Errorf("parse YAML: %w", err)
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("template is not a mapping")
	}
	return m, nil
}

// fromJSON turns json.Number into int or float64, like the YAML side.
func fromJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = fromJSON(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = fromJSON(e)
		}
		return v
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return int(i)
		}
		if f, err := v.Float64(); err == nil {
			return f
		}
		return v.String()
	}
	return v
}

type converter struct{ nodes int }

func (c *converter) value(n *yaml.Node, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("template nested too deeply")
	}
	if c.nodes++; c.nodes > maxNodes {
		return nil, errors.New("template too large (aliases expand to too many values)")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, errors.New("empty document")
		}
		return c.value(n.Content[0], depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, fmt.Errorf("line %d: unknown alias", n.Line)
		}
		return c.value(n.Alias, depth+1)
	}
	plain, err := c.untagged(n, depth)
	if err != nil {
		return nil, err
	}
	tag := n.Tag
	if !strings.HasPrefix(tag, "!") || strings.HasPrefix(tag, "!!") {
		return plain, nil
	}
	// A short-form intrinsic: the value of a tagged scalar is its text.
	if n.Kind == yaml.ScalarNode {
		plain = n.Value
	}
	name := tag[1:]
	switch name {
	case "Ref", "Condition":
		return map[string]any{name: plain}, nil
	case "GetAtt":
		// !GetAtt Res.Attr is the string form of [Res, Attr].
		if s, ok := plain.(string); ok {
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q is not Resource.Attribute", n.Line, s)
			}
			plain = []any{res, attr}
		}
		return map[string]any{"Fn::GetAtt": plain}, nil
	case "Sub", "If", "Equals", "Not", "And", "Or", "Join", "Select", "Split",
		"FindInMap", "ImportValue", "Base64", "GetAZs", "Cidr", "Length", "ToJsonString", "Transform":
		return map[string]any{"Fn::" + name: plain}, nil
	}
	return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, tag)
}

func (c *converter) untagged(n *yaml.Node, depth int) (any, error) {
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			if kn.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping key is not a string", kn.Line)
			}
			if kn.Value == "<<" && kn.Tag == "!!merge" {
				return nil, fmt.Errorf("line %d: YAML merge keys (<<) are not supported", kn.Line)
			}
			if _, dup := m[kn.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", kn.Line, kn.Value)
			}
			v, err := c.value(vn, depth+1)
			if err != nil {
				return nil, err
			}
			m[kn.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := c.value(e, depth+1)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
			return n.Value, nil
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}
