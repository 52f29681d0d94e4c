package samtemplate

import (
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/serverless-chat/chat/internal/gateway"
)

// The properties of each resource type: read (use), without effect locally
// (ignore), and anything else not supported.
var (
	apiProps = map[string]bool{
		"ProtocolType": use, "RouteSelectionExpression": use,
		"Name": ignore, "Description": ignore, "Tags": ignore, "Version": ignore,
		"DisableExecuteApiEndpoint": ignore, "DisableSchemaValidation": ignore,
		"IpAddressType": ignore, "FailOnWarnings": ignore,
	}
	routeProps = map[string]bool{
		"ApiId": use, "RouteKey": use, "Target": use, "AuthorizationType": use,
		"AuthorizerId": use, "RouteResponseSelectionExpression": use, "ApiKeyRequired": use,
		"OperationName": ignore,
	}
	integrationProps = map[string]bool{
		"ApiId": use, "IntegrationType": use, "IntegrationUri": use, "TimeoutInMillis": use,
		"RequestTemplates": use, "TemplateSelectionExpression": use,
		"PayloadFormatVersion": use, "ConnectionType": use,
		"IntegrationMethod": ignore, "Description": ignore, "CredentialsArn": ignore,
		"PassthroughBehavior": ignore,
	}
	integrationResponseProps = map[string]bool{
		"ApiId": use, "IntegrationId": use, "IntegrationResponseKey": use,
		"ResponseTemplates": use, "TemplateSelectionExpression": use,
	}
	routeResponseProps = map[string]bool{
		"ApiId": use, "RouteId": use, "RouteResponseKey": use,
	}
	authorizerProps = map[string]bool{
		"ApiId": use, "AuthorizerType": use, "AuthorizerUri": use, "IdentitySource": use,
		"Name": use, "AuthorizerCredentialsArn": ignore,
	}
	stageProps = map[string]bool{
		"ApiId": use, "StageName": use, "StageVariables": use,
		"DefaultRouteSettings": use, "RouteSettings": use,
		"AutoDeploy": ignore, "DeploymentId": ignore, "Description": ignore, "Tags": ignore,
		"AccessLogSettings": ignore, "ClientCertificateId": ignore,
	}
	routeSettingsProps = map[string]bool{
		"ThrottlingBurstLimit": use, "ThrottlingRateLimit": use,
		"DataTraceEnabled": ignore, "DetailedMetricsEnabled": ignore, "LoggingLevel": ignore,
	}
)

// defaultIntegrationTimeout is API Gateway's (and its maximum) for WebSocket APIs.
const defaultIntegrationTimeout = 29 * time.Second

// builder holds what buildAPIs has read so far.
type builder struct {
	d            *doc
	rp           *report
	apis         map[string]*API
	otherAPIs    map[string]bool // HTTP APIs: not this package's business
	integrations map[string]*integ
	authorizers  map[string]*auth
	routes       map[string]*route
}

type integ struct {
	*Integration
	api       string
	responses []*props
	r         *resource
}

type auth struct {
	*Authorizer
	api string
}

type route struct {
	*Route
	api string
}

func (d *doc) buildAPIs(rp *report) []*API {
	b := &builder{
		d: d, rp: rp,
		apis: map[string]*API{}, otherAPIs: map[string]bool{},
		integrations: map[string]*integ{}, authorizers: map[string]*auth{}, routes: map[string]*route{},
	}
	for _, r := range d.byType(typeAPI) {
		b.api(r)
	}
	for _, r := range d.byType(typeIntegration) {
		b.integration(r)
	}
	for _, r := range d.byType(typeIntegrationResponse) {
		b.integrationResponse(r)
	}
	for _, in := range b.integrations {
		b.mockResponse(in)
	}
	for _, r := range d.byType(typeAuthorizer) {
		b.authorizer(r)
	}
	for _, r := range d.byType(typeRoute) {
		b.route(r)
	}
	for _, r := range d.byType(typeRouteResponse) {
		b.routeResponse(r)
	}
	stages := map[string]*resource{}
	for _, r := range d.byType(typeStage) {
		b.stage(r, stages)
	}
	b.otherResources()
	var out []*API
	for _, id := range slices.Sorted(maps.Keys(b.apis)) {
		a := b.apis[id]
		if stages[id] == nil {
			rp.errorf(d.resources[id], "has no AWS::ApiGatewayV2::Stage")
		}
		if len(a.Routes) == 0 {
			rp.errorf(d.resources[id], "has no routes")
		}
		out = append(out, a)
	}
	return out
}

// apiOf is the API a resource's ApiId names; ok false (and nothing
// reported) for an HTTP API's resource.
func (b *builder) apiOf(p *props) (string, bool) {
	id := b.d.refTo(p, "ApiId", typeAPI)
	if b.otherAPIs[id] {
		return "", false
	}
	if b.apis[id] == nil {
		if id == "" {
			b.rp.errorf(p.r, "property ApiId names no API of this template")
		}
		return "", false // a bad API: reported already
	}
	return id, true
}

var bodyPath = regexp.MustCompile(`^\$\{?request\.body\.([A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*)\}?$`)

func (b *builder) api(r *resource) {
	p := b.d.readProps(b.rp, r, apiProps)
	proto, _ := p.str(b.rp, "ProtocolType")
	if proto != "WEBSOCKET" {
		b.otherAPIs[r.ID] = true
		b.rp.warnf(r, "ProtocolType %s: not a WebSocket API, left out", proto)
		return
	}
	a := &API{LogicalID: r.ID, Routes: map[string]*Route{}}
	a.RouteSelectionExpression, _ = p.str(b.rp, "RouteSelectionExpression")
	if _, err := gateway.ParseRouteSelection(a.RouteSelectionExpression); err != nil {
		b.rp.errorf(r, "property RouteSelectionExpression: %q is not supported (want $request.body.<path> variables, e.g. ${request.body.service}/${request.body.action})", a.RouteSelectionExpression)
	} else if m := bodyPath.FindStringSubmatch(a.RouteSelectionExpression); m != nil {
		a.RouteSelectionPath = strings.Split(m[1], ".")
	}
	b.apis[r.ID] = a
}

func (b *builder) integration(r *resource) {
	p := b.d.readProps(b.rp, r, integrationProps)
	api, ok := b.apiOf(p)
	if !ok {
		return
	}
	in := &integ{Integration: &Integration{LogicalID: r.ID, Timeout: defaultIntegrationTimeout}, api: api, r: r}
	in.Type, _ = p.str(b.rp, "IntegrationType")
	if ms, ok := p.number(b.rp, "TimeoutInMillis"); ok {
		if ms < 50 || ms > 29000 {
			b.rp.errorf(r, "property TimeoutInMillis: %v is outside 50 to 29000", ms)
		}
		in.Timeout = time.Duration(ms) * time.Millisecond
	}
	if v, ok := p.str(b.rp, "PayloadFormatVersion"); ok && v != "1.0" {
		b.rp.errorf(r, "property PayloadFormatVersion %q is not supported (WebSocket APIs use 1.0)", v)
	}
	if v, ok := p.str(b.rp, "ConnectionType"); ok && v != "INTERNET" {
		b.rp.errorf(r, "property ConnectionType %q is not supported", v)
	}
	switch in.Type {
	case AWSProxy:
		for _, k := range []string{"RequestTemplates", "TemplateSelectionExpression"} {
			if p.has(k) {
				b.rp.errorf(r, "property %s is not supported on an AWS_PROXY integration", k)
			}
		}
		in.Function = b.functionOf(p, "IntegrationUri")
	case Mock:
		if p.has("IntegrationUri") {
			b.rp.errorf(r, "property IntegrationUri is not supported on a MOCK integration")
		}
		in.MockStatus = b.mockStatus(p)
	default:
		b.rp.errorf(r, "property IntegrationType %q is not supported (only AWS_PROXY and MOCK)", in.Type)
		return
	}
	b.integrations[r.ID] = in
}

// functionOf is the function an IntegrationUri or AuthorizerUri names: the
// function resource its evaluation referred to, else the one whose logical
// ID (or FunctionName) the ARN in it ends with.
func (b *builder) functionOf(p *props, name string) string {
	if !p.has(name) {
		b.rp.errorf(p.r, "property %s is missing", name)
		return ""
	}
	if id := b.d.refTo(p, name, typeSAMFunction, typeLambdaFunction); id != "" {
		return id
	}
	uri, _ := p.str(b.rp, name)
	fn := uri
	if i := strings.Index(fn, ":function:"); i >= 0 {
		fn = fn[i+len(":function:"):]
		fn, _, _ = strings.Cut(fn, "/") // .../invocations
		fn, _, _ = strings.Cut(fn, ":") // a version or alias qualifier
		if r, ok := b.d.resources[fn]; ok && isFunction(r.Type) {
			return fn
		}
		for _, r := range b.d.resources {
			if !isFunction(r.Type) {
				continue
			}
			if n, err := b.d.eval(r.Props["FunctionName"], nil); err == nil && n == fn {
				return r.ID
			}
		}
	}
	b.rp.errorf(p.r, "property %s %q names no function of this template", name, uri)
	return ""
}

// mockStatus reads the statusCode of a MOCK integration's request template.
func (b *builder) mockStatus(p *props) int {
	if tse, ok := p.str(b.rp, "TemplateSelectionExpression"); ok && tse != `\$default` && tse != "$default" {
		b.rp.errorf(p.r, "property TemplateSelectionExpression %q is not supported (only \\$default)", tse)
		return 0
	}
	templates := p.stringMap(b.rp, "RequestTemplates")
	tmpl, ok := templates["$default"]
	if !ok {
		if len(templates) > 0 {
			b.rp.errorf(p.r, "property RequestTemplates: only the $default template is supported")
		} else {
			b.rp.warnf(p.r, "MOCK integration without a request template: answering status 200")
		}
		return 200
	}
	var req struct {
		StatusCode *int `json:"statusCode"`
	}
	if err := json.Unmarshal([]byte(tmpl), &req); err != nil || req.StatusCode == nil {
		b.rp.errorf(p.r, `property RequestTemplates.$default: %q is not supported (only a static {"statusCode": N}, not VTL)`, tmpl)
		return 0
	}
	return *req.StatusCode
}

func (b *builder) integrationResponse(r *resource) {
	p := b.d.readProps(b.rp, r, integrationResponseProps)
	if _, ok := b.apiOf(p); !ok {
		return
	}
	id := b.d.refTo(p, "IntegrationId", typeIntegration)
	in := b.integrations[id]
	if in == nil {
		if id == "" {
			b.rp.errorf(r, "property IntegrationId names no integration of this template")
		}
		return
	}
	if in.Type != Mock {
		b.rp.errorf(r, "an IntegrationResponse of an AWS_PROXY integration (%s) is not supported", id)
		return
	}
	in.responses = append(in.responses, p)
}

// mockResponse picks the MOCK integration's response for its status: a
// key /regex/ matching it, else $default.
func (b *builder) mockResponse(in *integ) {
	var chosen *props
	status := strconv.Itoa(in.MockStatus)
	for _, p := range in.responses {
		key, _ := p.str(b.rp, "IntegrationResponseKey")
		switch {
		case key == "$default":
			if chosen == nil {
				chosen = p
			}
		case len(key) > 2 && key[0] == '/' && key[len(key)-1] == '/':
			re, err := regexp.Compile("^(?:" + key[1:len(key)-1] + ")$")
			if err != nil {
				b.rp.errorf(p.r, "property IntegrationResponseKey %q: %v", key, err)
				continue
			}
			if re.MatchString(status) {
				chosen = p
			}
		default:
			b.rp.errorf(p.r, "property IntegrationResponseKey %q is not supported ($default or /regex/)", key)
		}
	}
	if chosen == nil {
		return
	}
	if tse, ok := chosen.str(b.rp, "TemplateSelectionExpression"); ok && tse != `\$default` && tse != "$default" {
		b.rp.errorf(chosen.r, "property TemplateSelectionExpression %q is not supported (only \\$default)", tse)
		return
	}
	templates := chosen.stringMap(b.rp, "ResponseTemplates")
	body, ok := templates["$default"]
	if !ok && len(templates) > 0 {
		b.rp.errorf(chosen.r, "property ResponseTemplates: only the $default template is supported")
		return
	}
	if strings.ContainsAny(body, "$#") {
		b.rp.warnf(chosen.r, "ResponseTemplates.$default looks like VTL: it is sent as written")
	}
	in.MockBody = body
}

func (b *builder) authorizer(r *resource) {
	p := b.d.readProps(b.rp, r, authorizerProps)
	api, ok := b.apiOf(p)
	if !ok {
		return
	}
	if typ, _ := p.str(b.rp, "AuthorizerType"); typ != "REQUEST" {
		b.rp.errorf(r, "property AuthorizerType %q is not supported (WebSocket APIs have REQUEST authorizers)", typ)
		return
	}
	a := &auth{Authorizer: &Authorizer{LogicalID: r.ID, Name: r.ID}, api: api}
	if n, ok := p.str(b.rp, "Name"); ok {
		a.Name = n
	}
	a.Function = b.functionOf(p, "AuthorizerUri")
	a.IdentitySource = p.stringList(b.rp, "IdentitySource")
	for _, s := range a.IdentitySource {
		if !hasPrefixAny(s, "route.request.header.", "route.request.querystring.", "stageVariables.", "context.") {
			b.rp.errorf(r, "property IdentitySource %q is not supported", s)
		}
	}
	b.authorizers[r.ID] = a
}

func (b *builder) route(r *resource) {
	p := b.d.readProps(b.rp, r, routeProps)
	apiID, ok := b.apiOf(p)
	if !ok {
		return
	}
	api := b.apis[apiID]
	rt := &route{Route: &Route{LogicalID: r.ID}, api: apiID}
	rt.Key, _ = p.str(b.rp, "RouteKey")
	if rt.Key == "" {
		b.rp.errorf(r, "property RouteKey is missing")
		return
	}
	if other := api.Routes[rt.Key]; other != nil {
		b.rp.errorf(r, "route key %q is also route %s's", rt.Key, other.LogicalID)
		return
	}
	if p.has("ApiKeyRequired") && p.boolean(b.rp, "ApiKeyRequired") {
		b.rp.errorf(r, "property ApiKeyRequired true is not supported")
	}
	if e, ok := p.str(b.rp, "RouteResponseSelectionExpression"); ok && e != "$default" {
		b.rp.errorf(r, "property RouteResponseSelectionExpression %q is not supported (only $default)", e)
	}
	if !p.has("Target") {
		b.rp.errorf(r, "property Target is missing (a route without an integration is not supported)")
	} else if id := b.d.refTo(p, "Target", typeIntegration); id != "" {
		b.setIntegration(rt, id)
	} else if t, _ := p.str(b.rp, "Target"); strings.HasPrefix(t, "integrations/") && b.d.resources[strings.TrimPrefix(t, "integrations/")] != nil {
		b.setIntegration(rt, strings.TrimPrefix(t, "integrations/"))
	} else {
		b.rp.errorf(r, "property Target %q names no integration of this template", t)
	}
	authType := "NONE"
	if s, ok := p.str(b.rp, "AuthorizationType"); ok {
		authType = s
	}
	switch authType {
	case "NONE":
		if p.has("AuthorizerId") {
			b.rp.errorf(r, "property AuthorizerId is not supported with AuthorizationType NONE")
		}
	case "CUSTOM":
		if rt.Key != "$connect" {
			b.rp.errorf(r, "property AuthorizationType CUSTOM is not supported on route %q (only on $connect)", rt.Key)
			break
		}
		id := b.d.refTo(p, "AuthorizerId", typeAuthorizer)
		a := b.authorizers[id]
		switch {
		case a == nil && id == "":
			b.rp.errorf(r, "property AuthorizerId names no authorizer of this template")
		case a == nil: // reported with the authorizer
		case a.api != apiID:
			b.rp.errorf(r, "property AuthorizerId: authorizer %s is of API %s", id, a.api)
		default:
			rt.Authorizer = a.Authorizer
		}
	default:
		b.rp.errorf(r, "property AuthorizationType %q is not supported (only NONE and CUSTOM)", authType)
	}
	api.Routes[rt.Key] = rt.Route
	b.routes[r.ID] = rt
}

func (b *builder) setIntegration(rt *route, id string) {
	in := b.integrations[id]
	r := b.d.resources[rt.LogicalID]
	switch {
	case in == nil && b.d.resources[id].Type != typeIntegration:
		b.rp.errorf(r, "property Target names %s, not an integration", id)
	case in == nil: // reported with the integration
	case in.api != rt.api:
		b.rp.errorf(r, "property Target: integration %s is of API %s", id, in.api)
	default:
		rt.Integration = in.Integration
	}
}

func (b *builder) routeResponse(r *resource) {
	p := b.d.readProps(b.rp, r, routeResponseProps)
	if _, ok := b.apiOf(p); !ok {
		return
	}
	if key, _ := p.str(b.rp, "RouteResponseKey"); key != "$default" {
		b.rp.errorf(r, "property RouteResponseKey %q is not supported (only $default)", key)
		return
	}
	id := b.d.refTo(p, "RouteId", typeRoute)
	rt := b.routes[id]
	if rt == nil {
		if id == "" {
			b.rp.errorf(r, "property RouteId names no route of this template")
		}
		return
	}
	rt.RouteResponse = true
	if rs, ok := b.d.resources[id].Props["RouteResponseSelectionExpression"]; !ok || rs == nil {
		b.rp.warnf(r, "route %s has no RouteResponseSelectionExpression: API Gateway may send no response", id)
	}
}

func (b *builder) stage(r *resource, stages map[string]*resource) {
	p := b.d.readProps(b.rp, r, stageProps)
	apiID, ok := b.apiOf(p)
	if !ok {
		return
	}
	if prev := stages[apiID]; prev != nil {
		b.rp.errorf(r, "API %s has a second stage (%s): only one is supported", apiID, prev.ID)
		return
	}
	stages[apiID] = r
	api := b.apis[apiID]
	s := Stage{LogicalID: r.ID, BurstLimit: -1, RateLimit: -1}
	s.Name, _ = p.str(b.rp, "StageName")
	if s.Name == "" || s.Name == "$default" {
		b.rp.errorf(r, "property StageName %q is not supported", s.Name)
	}
	s.Variables = p.stringMap(b.rp, "StageVariables")
	if v, ok := p.vals["DefaultRouteSettings"]; ok {
		t := b.throttle(r, "DefaultRouteSettings", v, Throttle{-1, -1})
		s.BurstLimit, s.RateLimit = t.BurstLimit, t.RateLimit
		s.HasThrottle = t.BurstLimit >= 0 || t.RateLimit >= 0
	}
	if v, ok := p.vals["RouteSettings"]; ok {
		m, ok := v.(map[string]any)
		if !ok {
			b.rp.errorf(r, "property RouteSettings: a %s, not a mapping", kind(v))
		}
		s.RouteThrottle = map[string]Throttle{}
		for _, key := range slices.Sorted(maps.Keys(m)) {
			if api.Routes[key] == nil {
				b.rp.errorf(r, "property RouteSettings: the API has no route %q", key)
				continue
			}
			s.RouteThrottle[key] = b.throttle(r, "RouteSettings."+key, m[key], Throttle{s.BurstLimit, s.RateLimit})
		}
	}
	api.Stage = s
}

// throttle reads route settings over the defaults def.
func (b *builder) throttle(r *resource, prop string, v any, def Throttle) Throttle {
	m, ok := v.(map[string]any)
	if !ok {
		b.rp.errorf(r, "property %s: a %s, not a mapping", prop, kind(v))
		return def
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if _, known := routeSettingsProps[k]; !known {
			b.rp.unsupported(r, prop+"."+k)
		}
	}
	read := func(k string) (float64, bool) {
		e, ok := m[k]
		if !ok {
			return 0, false
		}
		s, err := scalarString(e)
		var f float64
		if err == nil {
			f, err = strconv.ParseFloat(s, 64)
		}
		if err != nil || f < 0 {
			b.rp.errorf(r, "property %s.%s: want a number, not %v", prop, k, e)
			return 0, false
		}
		return f, true
	}
	t := def
	if f, ok := read("ThrottlingBurstLimit"); ok {
		t.BurstLimit = int(f)
	}
	if f, ok := read("ThrottlingRateLimit"); ok {
		t.RateLimit = f
	}
	return t
}

// otherResources reports API Gateway resource types the emulator cannot honour.
func (b *builder) otherResources() {
	for _, id := range slices.Sorted(maps.Keys(b.d.resources)) {
		r := b.d.resources[id]
		switch r.Type {
		case "AWS::ApiGatewayV2::Model", "AWS::ApiGatewayV2::ApiGatewayManagedOverrides":
			b.rp.errorf(r, "resource type %s is not supported", r.Type)
		case "AWS::ApiGatewayV2::DomainName", "AWS::ApiGatewayV2::ApiMapping":
			b.rp.warnf(r, "custom domains are not emulated: clients connect to the emulator's address")
		}
	}
}
