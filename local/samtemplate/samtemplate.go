// Package samtemplate loads an AWS SAM or CloudFormation template (YAML or
// JSON) into a model of its API Gateway WebSocket APIs and the Lambda
// functions they invoke, for the local API Gateway emulator.
//
// Both the raw AWS::ApiGatewayV2::* resources and AWS::Serverless::WebSocketApi
// (expanded the way the SAM translator expands it, with the same generated
// logical IDs) are read. Intrinsic functions are evaluated with the
// parameters' values, the conditions and local pseudo parameters. Anything
// on the APIs' resources the emulator would not honour is an error naming
// the resource and the property: a template loads only if the emulator can
// run it as API Gateway would.
package samtemplate

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Options tune how a template is evaluated.
type Options struct {
	// Parameters override the template parameters' Default values (see
	// ParseParameterOverrides). Names the template does not declare are
	// ignored, as SAM CLI does.
	Parameters map[string]string
	// Region is AWS::Region; "" means us-east-1.
	Region string
	// StackName is AWS::StackName; "" means "local".
	StackName string
	// Resource returns the value a Ref (attr == "") or Fn::GetAtt (attr !=
	// "") to a resource should take locally, such as a DynamoDB table's
	// local name; ok false means unknown. It is also asked for
	// Fn::ImportValue, with resourceType "Fn::ImportValue" and the export
	// name as logicalID. Without a value a Ref gives the logical ID, a
	// function's Arn gives arn:aws:lambda:<region>:123456789012:function:<ID>
	// and an API's ApiId its logical ID; other attributes are an error
	// where they are needed.
	Resource func(logicalID, resourceType, attr string) (value string, ok bool)
}

// Template is what the emulator needs of a template.
type Template struct {
	// APIs are the WebSocket APIs, by logical ID order.
	APIs []*API
	// Functions are the Lambda functions the APIs invoke (route
	// integrations and authorizers), by logical ID; other functions of the
	// template are not read.
	Functions map[string]*Function
	// Tables are the template's DynamoDB tables (AWS::DynamoDB::Table and
	// AWS::Serverless::SimpleTable), by logical ID order.
	Tables []*Table
	// Warnings are things the emulator may do differently from AWS that
	// do not stop it running the template (a function runtime it cannot
	// run natively, a custom domain, VTL text in a MOCK response...).
	Warnings []string
}

// API is one AWS::ApiGatewayV2::Api of ProtocolType WEBSOCKET (or an
// AWS::Serverless::WebSocketApi).
type API struct {
	LogicalID string
	// RouteSelectionExpression as written, e.g. "$request.body.action" or
	// "${request.body.service}/${request.body.action}" (see
	// gateway.ParseRouteSelection).
	RouteSelectionExpression string
	// RouteSelectionPath is the JSON path into the message body an
	// expression of one variable selects by: ["meta", "kind"] for
	// $request.body.meta.kind; nil for an expression of several.
	RouteSelectionPath []string
	// Stage is the API's one stage.
	Stage Stage
	// Routes by route key ($connect, $disconnect, $default and custom).
	Routes map[string]*Route
}

// Stage is the API's AWS::ApiGatewayV2::Stage.
type Stage struct {
	LogicalID string
	// Name is the last part of the stage's URL.
	Name string
	// BurstLimit and RateLimit are DefaultRouteSettings' throttle: -1 when
	// unset (API Gateway then applies only the account's limits). Note 0 is
	// a real limit that rejects every request.
	BurstLimit int
	RateLimit  float64
	// HasThrottle says DefaultRouteSettings set either limit.
	HasThrottle bool
	// RouteThrottle is the throttle of each route key RouteSettings names,
	// with the unset limits taken from DefaultRouteSettings (-1 if unset
	// there too).
	RouteThrottle map[string]Throttle
	// Variables are the stage variables.
	Variables map[string]string
}

// Throttle is a route's throttle; -1 means unset.
type Throttle struct {
	BurstLimit int
	RateLimit  float64
}

// Route is one AWS::ApiGatewayV2::Route.
type Route struct {
	LogicalID string
	Key       string
	// Integration is what the route invokes.
	Integration *Integration
	// Authorizer is the route's REQUEST authorizer: only on $connect, with
	// AuthorizationType CUSTOM; nil for NONE.
	Authorizer *Authorizer
	// RouteResponse says a RouteResponse with key $default exists: the
	// route is two-way and the integration's answer is sent back to the
	// client.
	RouteResponse bool
}

// Integration types the emulator runs.
const (
	AWSProxy = "AWS_PROXY"
	Mock     = "MOCK"
)

// Integration is one AWS::ApiGatewayV2::Integration.
type Integration struct {
	LogicalID string
	// Type is AWSProxy or Mock.
	Type string
	// Function is the logical ID of the function an AWS_PROXY integration
	// invokes ("" for MOCK).
	Function string
	// Timeout is TimeoutInMillis (29 s by default).
	Timeout time.Duration
	// MockStatus is the statusCode of a MOCK integration's request
	// template (200 when it has none).
	MockStatus int
	// MockBody is the response template of the MOCK integration's
	// IntegrationResponse that matches MockStatus, as written (API Gateway
	// would evaluate it as VTL); "" when there is none. It is sent only if
	// the route has a RouteResponse.
	MockBody string
}

// Authorizer is a REQUEST AWS::ApiGatewayV2::Authorizer.
type Authorizer struct {
	LogicalID string
	// Name is the authorizer's Name (its logical ID when unset).
	Name string
	// Function is the logical ID of the authorizer's function.
	Function string
	// IdentitySource are the raw API Gateway expressions, e.g.
	// route.request.querystring.token, route.request.header.Auth: a
	// request missing any is refused (401) without calling the function.
	IdentitySource []string
}

// Function is an AWS::Serverless::Function (with the template's
// Globals.Function applied) or an AWS::Lambda::Function.
type Function struct {
	LogicalID string
	// CodeURI is CodeUri (for AWS::Lambda::Function, a local path given as
	// Code); "" when the code is not local.
	CodeURI string
	Handler string
	Runtime string
	// Architecture is x86_64 (the default) or arm64.
	Architecture string
	// BuildMethod is Metadata.BuildMethod (e.g. makefile, go1.x).
	BuildMethod string
	// Timeout is Timeout (3 s by default).
	Timeout time.Duration
	// MemoryMB is MemorySize (128 by default).
	MemoryMB int
	// Env is Environment.Variables, evaluated.
	Env map[string]string
}

// Load reads and loads the template at path. Errors name the path.
func Load(path string, opts Options) (*Template, error) {
	data, err := readTemplate(path)
	if err != nil {
		return nil, fmt.Errorf("load template: %w", err)
	}
	return parse(path, data, opts)
}

// Parse loads a template from its text. Errors name it "template".
func Parse(data []byte, opts Options) (*Template, error) {
	return parse("template", data, opts)
}

// report collects every problem of a template, so that one run shows all.
type report struct {
	file  string
	errs  []error
	warns []string
}

func describe(r *resource) string {
	if r.From != "" {
		return fmt.Sprintf("%s (%s, generated from %s)", r.ID, r.Type, r.From)
	}
	return fmt.Sprintf("%s (%s)", r.ID, r.Type)
}

func (rp *report) errorf(r *resource, format string, a ...any) {
	rp.errs = append(rp.errs, fmt.Errorf("%s: %s: %s", rp.file, describe(r), fmt.Sprintf(format, a...)))
}

func (rp *report) unsupported(r *resource, prop string) {
	rp.errorf(r, "property %s is not supported", prop)
}

func (rp *report) warnf(r *resource, format string, a ...any) {
	rp.warns = append(rp.warns, fmt.Sprintf("%s: %s: %s", rp.file, describe(r), fmt.Sprintf(format, a...)))
}

func (rp *report) fail(format string, a ...any) {
	rp.errs = append(rp.errs, fmt.Errorf("%s: %s", rp.file, fmt.Sprintf(format, a...)))
}

func parse(name string, data []byte, opts Options) (*Template, error) {
	d, rp, err := newDoc(name, data, opts)
	if err != nil {
		return nil, err
	}
	d.applyGlobals(rp, d.top["Globals"])
	d.expandWebSocketAPIs(rp)
	t := &Template{Functions: map[string]*Function{}}
	t.APIs = d.buildAPIs(rp)
	if len(t.APIs) == 0 && len(rp.errs) == 0 {
		rp.fail("no WebSocket API (AWS::ApiGatewayV2::Api with ProtocolType WEBSOCKET, or AWS::Serverless::WebSocketApi)")
	}
	for _, id := range usedFunctions(t.APIs) {
		if f := d.buildFunction(rp, d.resources[id]); f != nil {
			t.Functions[id] = f
		}
	}
	t.Tables = d.buildTables(rp)
	t.Warnings = rp.warns
	if len(rp.errs) > 0 {
		return nil, errors.Join(rp.errs...)
	}
	return t, nil
}

// newDoc decodes a template and reads its parameters, mappings,
// conditions and resources.
func newDoc(name string, data []byte, opts Options) (*doc, *report, error) {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.StackName == "" {
		opts.StackName = "local"
	}
	if err := checkSize(int64(len(data))); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	top, err := decode(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	rp := &report{file: name}
	d := &doc{
		opts:      opts,
		top:       top,
		condValue: map[string]bool{},
		condBusy:  map[string]bool{},
		resources: map[string]*resource{},
	}
	var errs []error
	d.params, errs = readParams(top["Parameters"], opts.Parameters)
	for _, e := range errs {
		rp.fail("%v", e)
	}
	var ok bool
	if d.mappings, ok = top["Mappings"].(map[string]any); !ok && top["Mappings"] != nil {
		rp.fail("Mappings is not a mapping")
	}
	if d.conditions, ok = top["Conditions"].(map[string]any); !ok && top["Conditions"] != nil {
		rp.fail("Conditions is not a mapping")
	}
	d.readResources(rp, top)
	return d, rp, nil
}

// readResources fills d.resources, leaving out those whose Condition is false.
func (d *doc) readResources(rp *report, top map[string]any) {
	res, ok := top["Resources"].(map[string]any)
	if !ok {
		rp.fail("Resources is missing or not a mapping")
		return
	}
	for _, id := range slices.Sorted(maps.Keys(res)) {
		if err := checkLogicalID(id); err != nil {
			rp.fail("resource %v", err)
			continue
		}
		m, ok := res[id].(map[string]any)
		if !ok {
			rp.fail("resource %s is not a mapping", id)
			continue
		}
		r := &resource{ID: id}
		r.Type, _ = m["Type"].(string)
		if r.Type == "" {
			rp.fail("resource %s has no Type", id)
			continue
		}
		if p, present := m["Properties"]; present {
			if r.Props, ok = p.(map[string]any); !ok && p != nil {
				rp.errorf(r, "Properties is not a mapping")
				continue
			}
		}
		if r.Props == nil {
			r.Props = map[string]any{}
		}
		r.Metadata, _ = m["Metadata"].(map[string]any)
		if c, present := m["Condition"]; present {
			cs, ok := c.(string)
			if !ok {
				rp.errorf(r, "Condition is not a condition name")
				continue
			}
			on, err := d.condition(cs)
			if err != nil {
				rp.errorf(r, "Condition: %v", err)
				continue
			}
			if !on {
				continue // not created
			}
			r.Condition = cs
		}
		d.resources[id] = r
	}
}

// byType lists the resources of a type in logical ID order.
func (d *doc) byType(typ string) []*resource {
	var out []*resource
	for _, id := range slices.Sorted(maps.Keys(d.resources)) {
		if r := d.resources[id]; r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

func usedFunctions(apis []*API) []string {
	var ids []string
	for _, a := range apis {
		for _, r := range a.Routes {
			if r.Integration != nil && r.Integration.Function != "" {
				ids = append(ids, r.Integration.Function)
			}
			if r.Authorizer != nil {
				ids = append(ids, r.Authorizer.Function)
			}
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// Resource types.
const (
	typeAPI                 = "AWS::ApiGatewayV2::Api"
	typeRoute               = "AWS::ApiGatewayV2::Route"
	typeIntegration         = "AWS::ApiGatewayV2::Integration"
	typeIntegrationResponse = "AWS::ApiGatewayV2::IntegrationResponse"
	typeRouteResponse       = "AWS::ApiGatewayV2::RouteResponse"
	typeAuthorizer          = "AWS::ApiGatewayV2::Authorizer"
	typeStage               = "AWS::ApiGatewayV2::Stage"
	typeSAMFunction         = "AWS::Serverless::Function"
	typeLambdaFunction      = "AWS::Lambda::Function"
	typeSAMWebSocketAPI     = "AWS::Serverless::WebSocketApi"
	typePermission          = "AWS::Lambda::Permission"
)

func isFunction(typ string) bool { return typ == typeSAMFunction || typ == typeLambdaFunction }

func hasPrefixAny(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
