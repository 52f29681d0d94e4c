package samtemplate

import (
	"maps"
	"slices"
	"strings"
)

// applyGlobals merges Globals.Function and Globals.WebSocketApi into their
// resources the way the SAM translator does: mappings merge key by key,
// lists are the global items then the local ones, and anything else
// (intrinsic functions included) is the local value when there is one.
func (d *doc) applyGlobals(rp *report, g any) {
	if g == nil {
		return
	}
	gm, ok := g.(map[string]any)
	if !ok {
		rp.fail("Globals is not a mapping")
		return
	}
	for section, typ := range map[string]string{"Function": typeSAMFunction, "WebSocketApi": typeSAMWebSocketAPI} {
		sv, ok := gm[section]
		if !ok {
			continue
		}
		globals, ok := sv.(map[string]any)
		if !ok {
			rp.fail("Globals.%s is not a mapping", section)
			continue
		}
		for _, r := range d.byType(typ) {
			r.Props = mergeGlobal(globals, r.Props).(map[string]any)
		}
	}
}

func isIntrinsic(v any) bool {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::")
	}
	return false
}

func mergeGlobal(global, local any) any {
	gm, gok := global.(map[string]any)
	lm, lok := local.(map[string]any)
	if gok && lok && !isIntrinsic(gm) && !isIntrinsic(lm) {
		out := maps.Clone(gm)
		for k, lv := range lm {
			if gv, ok := out[k]; ok {
				out[k] = mergeGlobal(gv, lv)
			} else {
				out[k] = lv
			}
		}
		return out
	}
	gl, gok := global.([]any)
	ll, lok := local.([]any)
	if gok && lok {
		return append(slices.Clone(gl), ll...)
	}
	return local
}

// SAM WebSocketApi properties: read, without effect locally, or (absent)
// not supported.
var samWebSocketProps = map[string]bool{
	"Routes": use, "RouteSelectionExpression": use, "StageName": use, "StageVariables": use,
	"DefaultRouteSettings": use, "RouteSettings": use, "Auth": use, "Domain": use,
	"Name": ignore, "Description": ignore, "Tags": ignore, "PropagateTags": ignore,
	"DisableExecuteApiEndpoint": ignore, "DisableSchemaValidation": ignore,
	"IpAddressType": ignore, "FailOnWarnings": ignore, "AccessLogSettings": ignore,
}

var samRouteProps = map[string]bool{
	"FunctionArn": use, "IntegrationTimeout": use, "RouteResponseSelectionExpression": use,
	"ApiKeyRequired": use, "OperationName": ignore,
}

var samAuthProps = map[string]bool{
	"AuthType": use, "AuthArn": use, "IdentitySource": use, "Name": use, "InvokeRole": ignore,
}

// expandWebSocketAPIs replaces each AWS::Serverless::WebSocketApi with the
// resources the SAM translator (samtranslator's WebSocketApiGenerator)
// makes of it, under the same logical IDs, so that the template's other
// resources can refer to them (a RouteResponse on a generated route, say).
// What the emulator cannot honour is reported against the SAM resource.
func (d *doc) expandWebSocketAPIs(rp *report) {
	for _, r := range d.byType(typeSAMWebSocketAPI) {
		d.expandWebSocketAPI(rp, r)
	}
}

func (d *doc) expandWebSocketAPI(rp *report, r *resource) {
	// Only unknown properties are evaluated here: the generated resources
	// keep the raw values, evaluated when they are read.
	for _, k := range slices.Sorted(maps.Keys(r.Props)) {
		if _, ok := samWebSocketProps[k]; !ok {
			if v, err := d.eval(r.Props[k], nil); err != nil || v != (noValue{}) {
				rp.unsupported(r, k)
			}
		}
	}
	if _, ok := r.Props["Domain"]; ok {
		rp.warnf(r, "Domain: custom domains are not emulated: clients connect to the emulator's address")
	}
	ref := func(id string) any { return map[string]any{"Ref": id} }
	gen := func(id, typ string, props map[string]any) *resource {
		for k, v := range props {
			if v == nil {
				delete(props, k)
			}
		}
		g := &resource{ID: id, Type: typ, Props: props, From: r.ID, Condition: r.Condition}
		if old, dup := d.resources[id]; dup && old != r {
			rp.errorf(r, "generates %s, which the template also defines", id)
		}
		d.resources[id] = g
		return g
	}
	api := r.ID
	gen(api, typeAPI, map[string]any{
		"ProtocolType":             "WEBSOCKET",
		"RouteSelectionExpression": r.Props["RouteSelectionExpression"],
	})

	// Routes and their values stay unevaluated: a FunctionArn evaluated
	// here would lose which function it names.
	rm, ok := r.Props["Routes"].(map[string]any)
	if !ok || len(rm) == 0 {
		rp.errorf(r, "property Routes: want a mapping of at least one route")
		return
	}
	authorizer := d.samAuthorizer(rp, r, rm, gen)
	for _, key := range slices.Sorted(maps.Keys(rm)) {
		spec, ok := rm[key].(map[string]any)
		if !ok {
			rp.errorf(r, "property Routes.%s is not a mapping", key)
			continue
		}
		clean, ok := sanitizeRouteKey(key)
		if !ok {
			rp.errorf(r, "property Routes.%s: the route key must be alphanumeric, or $connect, $disconnect, $default", key)
			continue
		}
		prefix := "Routes." + key + "."
		for _, k := range slices.Sorted(maps.Keys(spec)) {
			if _, known := samRouteProps[k]; !known {
				rp.unsupported(r, prefix+k)
			}
		}
		if akr, ok := spec["ApiKeyRequired"]; ok {
			v, err := d.eval(akr, nil)
			if s, err2 := scalarString(v); err != nil || err2 != nil || s != "false" {
				rp.errorf(r, "property %sApiKeyRequired true is not supported", prefix)
			}
		}
		fn, ok := spec["FunctionArn"]
		if !ok {
			rp.errorf(r, "property %sFunctionArn is missing", prefix)
			continue
		}
		routeID, integID, permID := api+clean+"Route", api+clean+"Integration", api+clean+"Permission"
		route := map[string]any{
			"ApiId":                            ref(api),
			"RouteKey":                         key,
			"Target":                           map[string]any{"Fn::Join": []any{"/", []any{"integrations", ref(integID)}}},
			"RouteResponseSelectionExpression": spec["RouteResponseSelectionExpression"],
		}
		if key == "$connect" && authorizer != "" {
			route["AuthorizationType"] = "CUSTOM"
			route["AuthorizerId"] = ref(authorizer)
		}
		gen(routeID, typeRoute, route)
		gen(integID, typeIntegration, map[string]any{
			"ApiId":           ref(api),
			"IntegrationType": AWSProxy,
			"IntegrationUri":  lambdaURI("FunctionArn", fn),
			"TimeoutInMillis": spec["IntegrationTimeout"],
		})
		gen(permID, typePermission, map[string]any{"FunctionName": fn})
	}

	stageName := r.Props["StageName"]
	stageID := api + "DefaultStage"
	if s, ok := stageName.(string); ok && s != "default" {
		stageID = api + s + "Stage"
	} else if stageName != nil && !ok {
		stageID = api + "Stage"
	}
	if stageName == nil {
		stageName = "default"
	}
	gen(stageID, typeStage, map[string]any{
		"ApiId":                ref(api),
		"StageName":            stageName,
		"StageVariables":       r.Props["StageVariables"],
		"DefaultRouteSettings": r.Props["DefaultRouteSettings"],
		"RouteSettings":        r.Props["RouteSettings"],
	})
}

// samAuthorizer generates the $connect authorizer of the API's Auth and
// returns its logical ID ("" for none).
func (d *doc) samAuthorizer(rp *report, r *resource, routes map[string]any,
	gen func(string, string, map[string]any) *resource) string {
	raw, ok := r.Props["Auth"]
	if !ok {
		return ""
	}
	am, ok := raw.(map[string]any)
	if !ok {
		rp.errorf(r, "property Auth is not a mapping")
		return ""
	}
	for _, k := range slices.Sorted(maps.Keys(am)) {
		if _, known := samAuthProps[k]; !known {
			rp.unsupported(r, "Auth."+k)
		}
	}
	if _, ok := routes["$connect"]; !ok {
		rp.errorf(r, "property Auth: authorization needs a $connect route")
		return ""
	}
	tv, err := d.eval(am["AuthType"], nil)
	if err != nil {
		rp.errorf(r, "property Auth.AuthType: %v", err)
		return ""
	}
	typ, _ := tv.(string)
	switch strings.ToUpper(typ) {
	case "NONE":
		return ""
	case "CUSTOM":
	default:
		rp.errorf(r, "property Auth.AuthType %q is not supported (only NONE and CUSTOM)", typ)
		return ""
	}
	authArn, ok := am["AuthArn"]
	if !ok {
		rp.errorf(r, "property Auth.AuthArn is missing (AuthType CUSTOM needs it)")
		return ""
	}
	id := r.ID + "ConnectAuthorizer"
	name := am["Name"]
	if name == nil {
		name = id
	}
	gen(id, typeAuthorizer, map[string]any{
		"ApiId":          map[string]any{"Ref": r.ID},
		"AuthorizerType": "REQUEST",
		"AuthorizerUri":  lambdaURI("AuthArn", authArn),
		"IdentitySource": am["IdentitySource"],
		"Name":           name,
	})
	return id
}

// lambdaURI is the integration URI of a function ARN, as SAM writes it.
func lambdaURI(varName string, arn any) any {
	return map[string]any{"Fn::Sub": []any{
		"arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${" + varName + "}/invocations",
		map[string]any{varName: arn},
	}}
}

// sanitizeRouteKey is the translator's logical ID part for a route key.
func sanitizeRouteKey(key string) (string, bool) {
	switch key {
	case "$connect", "$disconnect", "$default":
		return strings.ToUpper(key[1:2]) + key[2:], true
	}
	if key == "" {
		return "", false
	}
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return "", false
		}
	}
	// Python's str.capitalize: first upper, the rest lower.
	return strings.ToUpper(key[:1]) + strings.ToLower(key[1:]), true
}
