package gateway

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// routeSelection is a parsed route selection expression: literal text and
// $request.body.<path> variables, evaluated once against a message body.
// API Gateway's rules: a variable starts with "$", braces may bound it
// ("${request.body.version}-beta"), several variables are allowed, and
// "\$" is a literal dollar sign.
type routeSelection []selectionPart

// selectionPart is literal text, or (path != nil) a body variable.
type selectionPart struct {
	text string
	path []string
}

var (
	bracedVariable = regexp.MustCompile(`^\$\{request\.body\.([A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*)\}`)
	bareVariable   = regexp.MustCompile(`^\$request\.body\.([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)`)
)

// ParseRouteSelection parses a WebSocket API's route selection expression:
// $request.body.action, ${request.body.meta.kind}, or several variables
// with text between them, ${request.body.service}/${request.body.action}.
// Variables other than request.body ones are an error.
func ParseRouteSelection(expr string) (routeSelection, error) {
	var out routeSelection
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			out = append(out, selectionPart{text: text.String()})
			text.Reset()
		}
	}
	for rest := expr; rest != ""; {
		switch {
		case strings.HasPrefix(rest, `\$`):
			text.WriteByte('$')
			rest = rest[2:]
		case rest[0] == '$':
			m := bracedVariable.FindStringSubmatch(rest)
			if m == nil {
				m = bareVariable.FindStringSubmatch(rest)
			}
			if m == nil {
				return nil, fmt.Errorf("route selection expression %q: want $request.body.<path> variables, at %q", expr, rest)
			}
			flush()
			out = append(out, selectionPart{path: strings.Split(m[1], ".")})
			rest = rest[len(m[0]):]
		default:
			text.WriteByte(rest[0])
			rest = rest[1:]
		}
	}
	flush()
	hasVariable := false
	for _, p := range out {
		hasVariable = hasVariable || p.path != nil
	}
	if !hasVariable {
		return nil, fmt.Errorf("route selection expression %q has no $request.body variable", expr)
	}
	return out, nil
}

// key evaluates the expression against a message body: the route key, or
// false when the body is not JSON or a variable selects no string.
func (s routeSelection) key(body []byte) (string, bool) {
	var b strings.Builder
	for _, p := range s {
		if p.path == nil {
			b.WriteString(p.text)
			continue
		}
		v, ok := selectionOf(body, p.path)
		if !ok {
			return "", false
		}
		b.WriteString(v)
	}
	return b.String(), true
}

// selectRoute evaluates the route selection expression against the routes:
// the route key to call, or "" if none matches and there is no $default.
func (g *Gateway) selectRoute(body []byte) string {
	if key, ok := g.selection.key(body); ok && key != RouteConnect && key != RouteDisconnect {
		if _, ok := g.routes[key]; ok {
			return key
		}
	}
	if _, ok := g.routes[RouteDefault]; ok {
		return RouteDefault
	}
	return ""
}

// selectionOf returns the string value at path in the body (["action"]
// for $request.body.action, ["meta", "kind"] for $request.body.meta.kind),
// its members matched exactly: API Gateway's selection is case-sensitive,
// where encoding/json would take "ACTION" or "Action" into a struct field
// tagged "action".
func selectionOf(body []byte, path []string) (string, bool) {
	raw := json.RawMessage(body)
	for _, member := range path {
		var doc map[string]json.RawMessage
		if json.Unmarshal(raw, &doc) != nil {
			return "", false
		}
		var ok bool
		if raw, ok = doc[member]; !ok {
			return "", false
		}
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var value string
	if json.Unmarshal(raw, &value) != nil {
		return "", false
	}
	return value, true
}
