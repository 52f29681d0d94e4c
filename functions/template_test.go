package functions_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"gopkg.in/yaml.v3"

	"github.com/serverless-chat/chat/internal/config"
	"github.com/serverless-chat/chat/internal/dynamo"
	"github.com/serverless-chat/chat/internal/testenv"
	"github.com/serverless-chat/chat/web"
)

// The functions of the template: logical ID, directory, route key.
var functions = []struct {
	id, dir string
	routes  []string
}{
	{"ConnectFunction", "connect", []string{"$connect"}},
	{"DisconnectFunction", "disconnect", []string{"$disconnect"}},
	{"MessageFunction", "message", []string{"chat message", "direct message"}},
	{"DefaultFunction", "default", []string{"$default"}},
	{"HistoryFunction", "history", []string{"history"}},
	{"PresenceFunction", "presence", []string{"who", "typing", "rename"}},
	{"FanoutFunction", "fanout", nil}, // the fan-out queue's consumer, no route
	// The $connect authorizer (AuthMode jwt): no route of its own.
	{"AuthorizerFunction", "authorizer", nil},
}

// mockRoutes are the routes served by a MOCK integration, without a function.
var mockRoutes = []string{"ping"}

const (
	tableArn       = "${ConnectionsTable.Arn}"
	indexArn       = "${ConnectionsTable.Arn}/index/room-index"
	messagesArn    = "${MessagesTable.Arn}"
	seqIndexArn    = "${MessagesTable.Arn}/index/seq-index"
	queueArn       = "${FanoutQueue.Arn}"
	connectionsArn = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/${StageName}/POST/@connections/*"
	apiArnPrefix   = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/${StageName}/"
)

// tmpl is template.yaml decoded to maps, slices and scalars, with
// CloudFormation's short tags spelled out: !Ref x is {"Ref": x}, !Sub s is
// {"Fn::Sub": s}, !GetAtt a.b is {"Fn::GetAtt": [a, b]}.
type tmpl map[string]any

func loadTemplate(t *testing.T) tmpl {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	v, err := cfnValue(&doc)
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("template.yaml is a %T, want a mapping", v)
	}
	return m
}

// cfnValue converts a YAML node, expanding CloudFormation short tags.
func cfnValue(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		return cfnValue(n.Content[0])
	case yaml.AliasNode:
		return cfnValue(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i < len(n.Content); i += 2 {
			val, err := cfnValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			val, err := cfnValue(c)
			if err != nil {
				return nil, err
			}
			s = append(s, val)
		}
		v = s
	case yaml.ScalarNode:
		if isShortTag(n.Tag) {
			v = n.Value
		} else if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
	}
	if !isShortTag(n.Tag) {
		return v, nil
	}
	name := strings.TrimPrefix(n.Tag, "!")
	switch {
	case name == "Ref":
		return map[string]any{"Ref": v}, nil
	case name == "GetAtt":
		if s, ok := v.(string); ok {
			res, attr, _ := strings.Cut(s, ".")
			v = []any{res, attr}
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	default:
		return map[string]any{"Fn::" + name: v}, nil
	}
}

func isShortTag(tag string) bool { return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") }

func (tp tmpl) resources(t *testing.T) map[string]map[string]any {
	t.Helper()
	rs := map[string]map[string]any{}
	for id, r := range asMap(t, tp["Resources"], "Resources") {
		rs[id] = asMap(t, r, id)
	}
	return rs
}

// resource returns a resource's properties, checking its type.
func (tp tmpl) resource(t *testing.T, id, typ string) map[string]any {
	t.Helper()
	r, ok := tp.resources(t)[id]
	if !ok {
		t.Fatalf("no resource %s", id)
	}
	if got := r["Type"]; got != typ {
		t.Fatalf("%s is a %v, want %s", id, got, typ)
	}
	return asMap(t, r["Properties"], id+".Properties")
}

// ofType returns the IDs and properties of the resources of a type.
func (tp tmpl) ofType(t *testing.T, typ string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for id, r := range tp.resources(t) {
		if r["Type"] == typ {
			out[id] = asMap(t, r["Properties"], id+".Properties")
		}
	}
	return out
}

// function returns a function's properties merged over Globals.Function,
// as SAM merges them.
func (tp tmpl) function(t *testing.T, id string) map[string]any {
	t.Helper()
	props := tp.resource(t, id, "AWS::Serverless::Function")
	globals := asMap(t, asMap(t, tp["Globals"], "Globals")["Function"], "Globals.Function")
	return merge(globals, props).(map[string]any)
}

func merge(base, over any) any {
	bm, ok1 := base.(map[string]any)
	om, ok2 := over.(map[string]any)
	if !ok1 || !ok2 || isIntrinsic(om) {
		return over
	}
	out := map[string]any{}
	for k, v := range bm {
		out[k] = v
	}
	for k, v := range om {
		if b, ok := out[k]; ok {
			out[k] = merge(b, v)
		} else {
			out[k] = v
		}
	}
	return out
}

func isIntrinsic(m map[string]any) bool {
	if len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || strings.HasPrefix(k, "Fn::")
	}
	return false
}

func asMap(t *testing.T, v any, what string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is a %T, want a mapping", what, v)
	}
	return m
}

// get follows a path of mapping keys.
func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// str renders a value as a string: intrinsics as the ${...} text they stand
// for (!Ref x is "${x}", !GetAtt a.b is "${a.b}", !Sub s is s).
func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		if r, ok := v["Ref"].(string); ok {
			return "${" + r + "}"
		}
		if ga, ok := v["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
			return fmt.Sprintf("${%v.%v}", ga[0], ga[1])
		}
		if s, ok := v["Fn::Sub"].(string); ok {
			return s
		}
		if c, ok := v["Fn::If"].([]any); ok && len(c) == 3 {
			return fmt.Sprintf("${if %v: %s | %s}", c[0], str(c[1]), str(c[2]))
		}
	}
	return fmt.Sprint(v)
}

func strs(v any) []string {
	switch v := v.(type) {
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, str(e))
		}
		return out
	case nil:
		return nil
	default:
		return []string{str(v)}
	}
}

func TestTemplateWebSocketAPI(t *testing.T) {
	tp := loadTemplate(t)
	if got := tp["Transform"]; got != "AWS::Serverless-2016-10-31" {
		t.Errorf("Transform = %v, want AWS::Serverless-2016-10-31", got)
	}
	api := tp.resource(t, "Api", "AWS::ApiGatewayV2::Api")
	if got := api["ProtocolType"]; got != "WEBSOCKET" {
		t.Errorf("ProtocolType = %v, want WEBSOCKET", got)
	}
	if got := api["RouteSelectionExpression"]; got != "$request.body.action" {
		t.Errorf("RouteSelectionExpression = %v, want $request.body.action", got)
	}

	routes := map[string]string{} // route key -> function
	var mocks []string
	for id, r := range tp.ofType(t, "AWS::ApiGatewayV2::Route") {
		key := str(r["RouteKey"])
		if str(r["ApiId"]) != "${Api}" {
			t.Errorf("%s: ApiId = %v, want !Ref Api", id, r["ApiId"])
		}
		integration, ok := strings.CutPrefix(str(r["Target"]), "integrations/${")
		if !ok {
			t.Errorf("%s: Target = %v, want integrations/${...}", id, r["Target"])
			continue
		}
		integration = strings.TrimSuffix(integration, "}")
		in := tp.resource(t, integration, "AWS::ApiGatewayV2::Integration")
		if slices.Contains(mockRoutes, key) {
			// Answered by API Gateway itself: no function, no cost but the message.
			if in["IntegrationType"] != "MOCK" || get(in, "RequestTemplates", "$default") != `{"statusCode": 200}` {
				t.Errorf("%s: %v, want a MOCK integration answering 200", integration, in)
			}
			mocks = append(mocks, key)
			continue
		}
		if got := in["IntegrationType"]; got != "AWS_PROXY" {
			t.Errorf("%s: IntegrationType = %v, want AWS_PROXY", integration, got)
		}
		m := regexp.MustCompile(`^arn:\$\{AWS::Partition\}:apigateway:\$\{AWS::Region\}:lambda:path/2015-03-31/functions/\$\{(\w+)\.Arn\}/invocations$`).
			FindStringSubmatch(str(in["IntegrationUri"]))
		if m == nil {
			t.Errorf("%s: IntegrationUri = %v, want the invocation ARN of a function", integration, in["IntegrationUri"])
			continue
		}
		if _, dup := routes[key]; dup {
			t.Errorf("route %q defined twice", key)
		}
		routes[key] = m[1]
	}
	want := map[string]string{}
	for _, f := range functions {
		for _, r := range f.routes {
			want[r] = f.id
		}
	}
	if !reflect.DeepEqual(routes, want) {
		t.Errorf("routes = %v, want %v", routes, want)
	}
	if !slices.Equal(mocks, mockRoutes) {
		t.Errorf("MOCK routes = %v, want %v", mocks, mockRoutes)
	}

	stage := tp.resource(t, "Stage", "AWS::ApiGatewayV2::Stage")
	if got := stage["AutoDeploy"]; got != true {
		t.Errorf("Stage AutoDeploy = %v, want true", got)
	}
	if got := str(stage["StageName"]); got != "${StageName}" {
		t.Errorf("Stage StageName = %v, want !Ref StageName (the IAM and permission ARNs use the parameter)", got)
	}
	if got := get(map[string]any(tp), "Parameters", "StageName", "Default"); got != "prod" {
		t.Errorf("StageName default = %v, want prod (the events in events/ use it)", got)
	}
	for _, k := range []string{"ThrottlingRateLimit", "ThrottlingBurstLimit"} {
		if get(stage, "DefaultRouteSettings", k) == nil {
			t.Errorf("Stage DefaultRouteSettings.%s not set", k)
		}
	}
}

func TestTemplateFunctions(t *testing.T) {
	tp := loadTemplate(t)
	makefile, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	table := tp.resource(t, "ConnectionsTable", "AWS::DynamoDB::Table")
	indexName := str(get(table, "GlobalSecondaryIndexes").([]any)[0].(map[string]any)["IndexName"])
	known := []string{config.EnvTableName, config.EnvRoomIndexName, config.EnvManagementAPIEndpoint,
		config.EnvPostWorkers, config.EnvDynamoDBEndpoint, config.EnvLogLevel,
		config.EnvMessagesTable, config.EnvSeqIndexName, config.EnvHistoryRetention, config.EnvPresenceLimit,
		config.EnvInlineLimit, config.EnvFanoutQueueURL, config.EnvURLSuffix,
		config.EnvSendBurst, config.EnvSendRate, config.EnvRoomCap, config.EnvAllowedOrigins, config.EnvAllowMissingOrigin,
		config.EnvJWTIssuer, config.EnvJWTAudience, config.EnvJWKSURL}

	for _, f := range functions {
		t.Run(f.id, func(t *testing.T) {
			fn := tp.function(t, f.id)
			for _, c := range []struct {
				key  string
				got  any
				want any
			}{
				{"Runtime", fn["Runtime"], "provided.al2023"},
				{"Architectures", fn["Architectures"], []any{"arm64"}},
				{"Handler", fn["Handler"], "bootstrap"},
				{"CodeUri", fn["CodeUri"], "."},
				{"LoggingConfig.LogFormat", get(fn, "LoggingConfig", "LogFormat"), "JSON"},
				{"LoggingConfig.ApplicationLogLevel", str(get(fn, "LoggingConfig", "ApplicationLogLevel")), "${LogLevel}"},
				{"Metadata.BuildMethod", get(tp.resources(t)[f.id], "Metadata", "BuildMethod"), "makefile"},
			} {
				if !reflect.DeepEqual(c.got, c.want) {
					t.Errorf("%s = %#v, want %#v", c.key, c.got, c.want)
				}
			}
			timeout, ok := fn["Timeout"].(int)
			if len(f.routes) == 0 { // not behind API Gateway
				timeout = min(timeout, 28)
			}
			if !ok || timeout < 3 || timeout >= 29 {
				t.Errorf("Timeout = %v, want 3..28 s (API Gateway's integration timeout is 29 s)", fn["Timeout"])
			}
			if mem, ok := fn["MemorySize"].(int); !ok || mem < 128 {
				t.Errorf("MemorySize = %v", fn["MemorySize"])
			}

			// sam build runs the Makefile's build-<LogicalId> target.
			target := regexp.MustCompile(`(?m)^build-` + f.id + `:\n\t\$\(LAMBDA_BUILD\) \./functions/` + f.dir + `$`)
			if !target.Match(makefile) {
				t.Errorf("Makefile has no target build-%s building ./functions/%s", f.id, f.dir)
			}
			if _, err := os.Stat(filepath.Join(testenv.RepoRoot(), "functions", f.dir, "main.go")); err != nil {
				t.Error(err)
			}

			env := asMap(t, get(fn, "Environment", "Variables"), "Environment.Variables")
			want := map[string]string{
				config.EnvTableName:             "${ConnectionsTable}",
				config.EnvRoomIndexName:         indexName,
				config.EnvLogLevel:              "${LogLevel}",
				config.EnvDynamoDBEndpoint:      "",
				config.EnvManagementAPIEndpoint: "",
				config.EnvMessagesTable:         "${MessagesTable}",
				config.EnvSeqIndexName:          "seq-index",
				config.EnvHistoryRetention:      "${HistoryRetentionHours}h",
				config.EnvPresenceLimit:         "${PresenceLimit}",
				config.EnvInlineLimit:           "${InlineLimit}",
				config.EnvURLSuffix:             "${AWS::URLSuffix}",
				config.EnvSendBurst:             "${SendBurst}",
				config.EnvSendRate:              "${SendRatePerSecond}",
				config.EnvRoomCap:               "${RoomCap}",
			}
			switch f.id {
			case "ConnectFunction":
				// The page's own origin unless told otherwise.
				want[config.EnvAllowedOrigins] = "${if HasAllowedOrigins: ${AllowedOrigins} | https://${SiteDistribution.DomainName}}"
				want[config.EnvAllowMissingOrigin] = "${AllowMissingOrigin}"
			case "AuthorizerFunction":
				want[config.EnvJWTIssuer] = "${JwtIssuer}"
				want[config.EnvJWTAudience] = "${JwtAudience}"
				want[config.EnvJWKSURL] = "${if HasJwksUrl: ${JwksUrl} | ${JwtIssuer}/.well-known/jwks.json}"
			}
			if f.id == "MessageFunction" || f.id == "PresenceFunction" || f.id == "FanoutFunction" {
				want[config.EnvPostWorkers] = "${PostWorkers}"
			}
			if f.id == "MessageFunction" || f.id == "FanoutFunction" {
				want[config.EnvFanoutQueueURL] = "${FanoutQueue}"
			}
			got := map[string]string{}
			for k, v := range env {
				got[k] = str(v)
				if !slices.Contains(known, k) {
					t.Errorf("variable %s is not one internal/config reads", k)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("environment = %v, want %v", got, want)
			}
		})
	}
}

func TestTemplateTable(t *testing.T) {
	tp := loadTemplate(t)
	table := tp.resource(t, "ConnectionsTable", "AWS::DynamoDB::Table")
	for _, c := range []struct {
		key  string
		got  any
		want any
	}{
		{"BillingMode", table["BillingMode"], "PAY_PER_REQUEST"},
		{"KeySchema", table["KeySchema"], []any{map[string]any{"AttributeName": "connectionId", "KeyType": "HASH"}}},
		{"AttributeDefinitions", table["AttributeDefinitions"], []any{
			map[string]any{"AttributeName": "connectionId", "AttributeType": "S"},
			map[string]any{"AttributeName": "room", "AttributeType": "S"},
		}},
		{"TimeToLiveSpecification", table["TimeToLiveSpecification"], map[string]any{"AttributeName": "expiresAt", "Enabled": true}},
		{"SSESpecification.SSEEnabled", get(table, "SSESpecification", "SSEEnabled"), true},
		{"GlobalSecondaryIndexes", table["GlobalSecondaryIndexes"], []any{map[string]any{
			"IndexName": "room-index",
			"KeySchema": []any{
				map[string]any{"AttributeName": "room", "KeyType": "HASH"},
				map[string]any{"AttributeName": "connectionId", "KeyType": "RANGE"},
			},
			"Projection": map[string]any{"ProjectionType": "INCLUDE", "NonKeyAttributes": []any{"expiresAt", "name"}},
		}}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.key, c.got, c.want)
		}
	}
}

// TestTemplateLeastPrivilege checks that each function may do exactly what its
// route needs, on this table, its index and this stage's @connections.
func TestTemplateLeastPrivilege(t *testing.T) {
	tp := loadTemplate(t)
	want := map[string][]string{
		// Join and leave notices: the room, @connections, and deleting
		// members found gone.
		"ConnectFunction": {
			"dynamodb:DeleteItem on " + tableArn,
			"dynamodb:PutItem on " + tableArn,
			"dynamodb:Query on " + indexArn,
			"execute-api:ManageConnections on " + connectionsArn,
		},
		"DisconnectFunction": {
			"dynamodb:DeleteItem on " + tableArn,
			"dynamodb:Query on " + indexArn,
			"execute-api:ManageConnections on " + connectionsArn,
		},
		"PresenceFunction": {
			"dynamodb:DeleteItem on " + tableArn,
			"dynamodb:GetItem on " + tableArn,
			"dynamodb:Query on " + indexArn,
			"dynamodb:UpdateItem on " + tableArn,
			"execute-api:ManageConnections on " + connectionsArn,
		},
		"MessageFunction": {
			"dynamodb:DeleteItem on " + tableArn,
			"dynamodb:GetItem on " + tableArn,
			"dynamodb:PutItem on " + messagesArn,
			"dynamodb:Query on " + indexArn,
			"dynamodb:UpdateItem on " + tableArn, // the send limit's clock
			"dynamodb:UpdateItem on " + messagesArn,
			"execute-api:ManageConnections on " + connectionsArn,
			"sqs:SendMessage on " + queueArn,
		},
		"DefaultFunction": {"execute-api:ManageConnections on " + connectionsArn},
		// The queue's consumer: its own queue, deleting the gone, posting.
		"FanoutFunction": {
			"dynamodb:DeleteItem on " + tableArn,
			"execute-api:ManageConnections on " + connectionsArn,
			"sqs:DeleteMessage on " + queueArn,
			"sqs:GetQueueAttributes on " + queueArn,
			"sqs:ReceiveMessage on " + queueArn,
			"sqs:SendMessage on " + queueArn,
		},
		// Reads only: the requester's room, then the room's messages.
		"HistoryFunction": {
			"dynamodb:GetItem on " + tableArn,
			"dynamodb:Query on " + seqIndexArn,
			"execute-api:ManageConnections on " + connectionsArn,
		},
	}
	for _, f := range functions {
		t.Run(f.id, func(t *testing.T) {
			fn := tp.function(t, f.id)
			if fn["Role"] != nil {
				t.Errorf("Role is set: the test cannot see its policies")
			}
			var got []string
			for i, p := range asSlice(fn["Policies"]) {
				doc, ok := p.(map[string]any)
				if !ok || len(doc) != 1 || doc["Statement"] == nil {
					t.Errorf("Policies[%d] = %v, want an inline policy document (no managed policies or SAM policy templates)", i, p)
					continue
				}
				for _, s := range asSlice(doc["Statement"]) {
					if get(s, "Effect") != "Allow" {
						t.Errorf("statement %v is not an Allow", s)
						continue
					}
					for _, a := range strs(get(s, "Action")) {
						for _, r := range strs(get(s, "Resource")) {
							got = append(got, a+" on "+r)
						}
					}
				}
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, want[f.id]) {
				t.Errorf("permissions:\n got %q\nwant %q", got, want[f.id])
			}
		})
	}

	// Nowhere: wildcard DynamoDB actions, Scan, or an Allow on every resource.
	walk(tp, func(v any) {
		m, ok := v.(map[string]any)
		if !ok || m["Effect"] == nil {
			return
		}
		for _, a := range strs(m["Action"]) {
			if a == "*" || strings.HasPrefix(a, "dynamodb:*") || strings.Contains(strings.ToLower(a), "scan") {
				t.Errorf("statement allows %q: %v", a, m)
			}
		}
		if m["Effect"] == "Allow" && slices.Contains(strs(m["Resource"]), "*") {
			t.Errorf("statement allows every resource: %v", m)
		}
	})
}

// TestTemplatePermissions checks that API Gateway may invoke each function
// only from this API's stage, and for the function's own route.
func TestTemplatePermissions(t *testing.T) {
	tp := loadTemplate(t)
	routesOf := map[string][]string{}
	for _, f := range functions {
		routesOf[f.id] = f.routes
	}
	matched := map[string]int{} // route -> permissions that match it
	for id, p := range tp.ofType(t, "AWS::Lambda::Permission") {
		fn := strings.TrimSuffix(strings.TrimPrefix(str(p["FunctionName"]), "${"), "}")
		if fn == "AuthorizerFunction" {
			continue // TestTemplateAuthorizer
		}
		if got := p["Principal"]; got != "apigateway.amazonaws.com" {
			t.Errorf("%s: Principal = %v, want apigateway.amazonaws.com", id, got)
		}
		if got := p["Action"]; got != "lambda:InvokeFunction" {
			t.Errorf("%s: Action = %v", id, got)
		}
		src := str(p["SourceArn"])
		pattern, ok := strings.CutPrefix(src, apiArnPrefix)
		if !ok {
			t.Errorf("%s: SourceArn = %q, want it under %s", id, src, apiArnPrefix)
			continue
		}
		routes, ok := routesOf[fn]
		if !ok {
			t.Errorf("%s: permission for %s, not a route's function", id, fn)
			continue
		}
		// ArnLike: * matches any characters, the space of "chat message"
		// too. A permission covers one route of its function, and no route
		// of another function.
		n := 0
		for _, f := range functions {
			for _, r := range f.routes {
				m, err := path.Match(pattern, r)
				switch {
				case err != nil:
					t.Errorf("%s: SourceArn route %q: %v", id, pattern, err)
				case m && f.id != fn:
					t.Errorf("%s: SourceArn route %q also matches %q of %s", id, pattern, r, f.id)
				case m:
					n++
					matched[r]++
				}
			}
		}
		if n != 1 {
			t.Errorf("%s: SourceArn route %q matches %d of %s's routes %q, want 1", id, pattern, n, fn, routes)
		}
	}
	for _, f := range functions {
		for _, r := range f.routes {
			if matched[r] != 1 {
				t.Errorf("route %q of %s has %d permissions, want 1", r, f.id, matched[r])
			}
		}
	}
}

func TestTemplateSite(t *testing.T) {
	tp := loadTemplate(t)
	bucket := tp.resource(t, "SiteBucket", "AWS::S3::Bucket")
	for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
		if got := get(bucket, "PublicAccessBlockConfiguration", k); got != true {
			t.Errorf("SiteBucket %s = %v, want true", k, got)
		}
	}
	if bucket["AccessControl"] != nil || bucket["WebsiteConfiguration"] != nil {
		t.Errorf("SiteBucket has AccessControl or WebsiteConfiguration: it must stay private")
	}
	if got := get(bucket, "OwnershipControls", "Rules"); !reflect.DeepEqual(got, []any{map[string]any{"ObjectOwnership": "BucketOwnerEnforced"}}) {
		t.Errorf("SiteBucket OwnershipControls.Rules = %v, want BucketOwnerEnforced", got)
	}
	sse := asSlice(get(bucket, "BucketEncryption", "ServerSideEncryptionConfiguration"))
	if len(sse) == 0 || get(sse[0], "ServerSideEncryptionByDefault", "SSEAlgorithm") == nil {
		t.Errorf("SiteBucket has no default encryption")
	}

	policy := tp.resource(t, "SiteBucketPolicy", "AWS::S3::BucketPolicy")
	if got := str(policy["Bucket"]); got != "${SiteBucket}" {
		t.Errorf("SiteBucketPolicy Bucket = %v", got)
	}
	allows := 0
	for _, s := range asSlice(get(policy, "PolicyDocument", "Statement")) {
		if get(s, "Effect") != "Allow" {
			continue
		}
		allows++
		if got := get(s, "Principal"); !reflect.DeepEqual(got, map[string]any{"Service": "cloudfront.amazonaws.com"}) {
			t.Errorf("bucket policy allows %v, want only cloudfront.amazonaws.com", got)
		}
		if got := strs(get(s, "Action")); !reflect.DeepEqual(got, []string{"s3:GetObject"}) {
			t.Errorf("bucket policy allows %v, want s3:GetObject", got)
		}
		want := "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${SiteDistribution}"
		if got := str(get(s, "Condition", "StringEquals", "AWS:SourceArn")); got != want {
			t.Errorf("bucket policy AWS:SourceArn = %q, want %q", got, want)
		}
	}
	if allows != 1 {
		t.Errorf("bucket policy has %d Allow statements, want 1", allows)
	}

	oac := tp.resource(t, "SiteOriginAccessControl", "AWS::CloudFront::OriginAccessControl")
	for k, want := range map[string]string{"OriginAccessControlOriginType": "s3", "SigningBehavior": "always", "SigningProtocol": "sigv4"} {
		if got := get(oac, "OriginAccessControlConfig", k); got != want {
			t.Errorf("OAC %s = %v, want %s", k, got, want)
		}
	}

	dist := asMap(t, tp.resource(t, "SiteDistribution", "AWS::CloudFront::Distribution")["DistributionConfig"], "DistributionConfig")
	behavior := asMap(t, dist["DefaultCacheBehavior"], "DefaultCacheBehavior")
	origins := asSlice(dist["Origins"])
	for _, c := range []struct {
		key       string
		got, want any
	}{
		{"DefaultRootObject", dist["DefaultRootObject"], "index.html"},
		{"ViewerProtocolPolicy", behavior["ViewerProtocolPolicy"], "redirect-to-https"},
		{"CachePolicyId (managed CachingOptimized)", behavior["CachePolicyId"], "658327ea-f89d-4fab-a63d-7e88639e58f6"},
		{"ResponseHeadersPolicyId", str(behavior["ResponseHeadersPolicyId"]), "${SiteHeadersPolicy}"},
		{"origins", len(origins), 1},
		{"origin OAC", str(get(origins[0], "OriginAccessControlId")), "${SiteOriginAccessControl.Id}"},
		{"origin domain", str(get(origins[0], "DomainName")), "${SiteBucket.RegionalDomainName}"},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("distribution %s = %v, want %v", c.key, c.got, c.want)
		}
	}

	headers := asMap(t, get(tp.resource(t, "SiteHeadersPolicy", "AWS::CloudFront::ResponseHeadersPolicy"),
		"ResponseHeadersPolicyConfig", "SecurityHeadersConfig"), "SecurityHeadersConfig")
	wantCSP := web.ContentSecurityPolicy("wss://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}")
	csp := get(headers, "ContentSecurityPolicy", "ContentSecurityPolicy")
	branches, _ := get(csp, "Fn::If").([]any)
	if len(branches) != 3 || branches[0] != "UseJwt" {
		t.Fatalf("Content-Security-Policy = %v, want !If UseJwt", csp)
	}
	signedIn, _ := get(branches[1], "Fn::Sub").([]any)
	wantSignedIn := web.ContentSecurityPolicy("wss://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}", "https://${IssuerHost}", "https://*.amazoncognito.com")
	if len(signedIn) != 2 || signedIn[0] != wantSignedIn {
		t.Errorf("Content-Security-Policy with sign-in:\n got %v\nwant %q", branches[1], wantSignedIn)
	}
	if got := str(branches[2]); got != wantCSP {
		t.Errorf("Content-Security-Policy:\n got %q\nwant %q (web.ContentSecurityPolicy)", got, wantCSP)
	}
	for _, c := range []struct {
		keys []string
		want any
	}{
		{[]string{"ContentSecurityPolicy", "Override"}, true},
		{[]string{"FrameOptions", "FrameOption"}, "DENY"},
		{[]string{"ContentTypeOptions", "Override"}, true},
		{[]string{"StrictTransportSecurity", "Override"}, true},
		{[]string{"ReferrerPolicy", "Override"}, true},
	} {
		if got := get(headers, c.keys...); got != c.want {
			t.Errorf("%s = %v, want %v", strings.Join(c.keys, "."), got, c.want)
		}
	}
	if age, _ := get(headers, "StrictTransportSecurity", "AccessControlMaxAgeSec").(int); age < 31536000 {
		t.Errorf("HSTS max-age = %d, want at least a year", age)
	}
}

func TestTemplateOutputs(t *testing.T) {
	tp := loadTemplate(t)
	outputs := asMap(t, tp["Outputs"], "Outputs")
	want := map[string]string{
		"WebSocketURL":   "wss://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage}",
		"ConnectionsURL": "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage}/@connections",
		"ApiId":          "${Api}",
		"TableName":      "${ConnectionsTable}",
		"SiteURL":        "https://${SiteDistribution.DomainName}",
		"SiteBucketName": "${SiteBucket}",
	}
	for name, w := range want {
		if got := str(get(outputs, name, "Value")); got != w {
			t.Errorf("output %s = %q, want %q", name, got, w)
		}
	}
}

// TestEvents checks the sample events decode into aws-lambda-go's event type
// without unknown fields, carry what API Gateway sends, and that env.json
// only sets variables the template declares (SAM ignores the others).
func TestEvents(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(), "events")
	cases := []struct {
		file, route, eventType string
	}{
		{"connect.json", "$connect", "CONNECT"},
		{"connect-bad.json", "$connect", "CONNECT"},
		{"disconnect.json", "$disconnect", "DISCONNECT"},
		{"message.json", "chat message", "MESSAGE"},
		{"message-bad.json", "chat message", "MESSAGE"},
		{"default.json", "$default", "MESSAGE"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			var ev events.APIGatewayWebsocketProxyRequest
			if err := dec.Decode(&ev); err != nil {
				t.Fatalf("decode: %v", err)
			}
			rc := ev.RequestContext
			if rc.RouteKey != c.route || rc.EventType != c.eventType {
				t.Errorf("routeKey, eventType = %q, %q, want %q, %q", rc.RouteKey, rc.EventType, c.route, c.eventType)
			}
			for name, v := range map[string]string{
				"connectionId": rc.ConnectionID, "domainName": rc.DomainName, "stage": rc.Stage, "apiId": rc.APIID,
				"requestTime": rc.RequestTime, "requestId": rc.RequestID, "extendedRequestId": rc.ExtendedRequestID,
				"messageDirection": rc.MessageDirection, "identity.sourceIp": rc.Identity.SourceIP,
			} {
				if v == "" {
					t.Errorf("requestContext.%s is empty", name)
				}
			}
			if rc.ConnectedAt == 0 || rc.RequestTimeEpoch == 0 {
				t.Errorf("connectedAt or requestTimeEpoch is 0")
			}
			switch c.eventType {
			case "CONNECT":
				if len(ev.Headers) == 0 || len(ev.MultiValueHeaders) == 0 || len(ev.QueryStringParameters) == 0 {
					t.Errorf("CONNECT without headers, multiValueHeaders or queryStringParameters")
				}
			case "MESSAGE":
				if rc.MessageID == nil || ev.Body == "" {
					t.Errorf("MESSAGE without messageId or body")
				}
			case "DISCONNECT":
				if rc.DisconnectStatusCode == 0 || rc.DisconnectReason == nil {
					t.Errorf("DISCONNECT without disconnectStatusCode or disconnectReason")
				}
			}
		})
	}

	t.Run("env.json", func(t *testing.T) {
		tp := loadTemplate(t)
		b, err := os.ReadFile(filepath.Join(dir, "env.json"))
		if err != nil {
			t.Fatal(err)
		}
		var env map[string]map[string]string
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatal(err)
		}
		for scope, vars := range env {
			ids := []string{scope}
			if scope == "Parameters" { // every function
				ids = nil
				for _, f := range functions {
					ids = append(ids, f.id)
				}
			}
			for _, id := range ids {
				declared := asMap(t, get(tp.function(t, id), "Environment", "Variables"), id)
				for k := range vars {
					if _, ok := declared[k]; !ok {
						t.Errorf("env.json sets %s for %s, which the template does not declare: sam local ignores it", k, id)
					}
				}
			}
		}
		if env["Parameters"][config.EnvDynamoDBEndpoint] == "" || env["Parameters"][config.EnvTableName] == "" {
			t.Errorf("env.json does not point the functions at DynamoDB Local")
		}
	})
}

// TestCfnLint runs cfn-lint on the template, as `make lint` does.
func TestCfnLint(t *testing.T) {
	lint := testenv.Tool(t, "cfn-lint", "pip install cfn-lint")
	cmd := exec.Command(lint, "--", "template.yaml")
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("cfn-lint template.yaml: %v\n%s", err, out)
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// walk calls fn on every value of the tree.
func walk(v any, fn func(any)) {
	fn(v)
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			walk(e, fn)
		}
	case tmpl:
		for _, e := range v {
			walk(e, fn)
		}
	case []any:
		for _, e := range v {
			walk(e, fn)
		}
	}
}

// TestTemplateMessagesTable checks the history table against the layout
// internal/dynamo reads (and CreateHistoryTable makes locally).
func TestTemplateMessagesTable(t *testing.T) {
	tp := loadTemplate(t)
	table := tp.resource(t, "MessagesTable", "AWS::DynamoDB::Table")
	for _, c := range []struct {
		key  string
		got  any
		want any
	}{
		{"BillingMode", table["BillingMode"], "PAY_PER_REQUEST"},
		{"KeySchema", table["KeySchema"], []any{
			map[string]any{"AttributeName": "room", "KeyType": "HASH"},
			map[string]any{"AttributeName": "msgKey", "KeyType": "RANGE"},
		}},
		{"LocalSecondaryIndexes", table["LocalSecondaryIndexes"], []any{map[string]any{
			"IndexName": dynamo.DefaultSeqIndex,
			"KeySchema": []any{
				map[string]any{"AttributeName": "room", "KeyType": "HASH"},
				map[string]any{"AttributeName": "seq", "KeyType": "RANGE"},
			},
			"Projection": map[string]any{"ProjectionType": "ALL"},
		}}},
		{"TimeToLiveSpecification", table["TimeToLiveSpecification"], map[string]any{"AttributeName": "expiresAt", "Enabled": true}},
		{"SSESpecification.SSEEnabled", get(table, "SSESpecification", "SSEEnabled"), true},
		{"GlobalSecondaryIndexes", table["GlobalSecondaryIndexes"], nil},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.key, c.got, c.want)
		}
	}
}

// TestTemplateFanout checks the large-room path: the queue and its
// dead-letter queue with an alarm, and the mapping that reports partial
// batch failures and bounds the fan-out's concurrency.
func TestTemplateFanout(t *testing.T) {
	tp := loadTemplate(t)
	q := tp.resource(t, "FanoutQueue", "AWS::SQS::Queue")
	if got := str(get(q, "RedrivePolicy", "deadLetterTargetArn")); got != "${FanoutDeadLetterQueue.Arn}" {
		t.Errorf("RedrivePolicy.deadLetterTargetArn = %v, want the dead-letter queue", got)
	}
	fn := tp.function(t, "FanoutFunction")
	if vis, timeout := q["VisibilityTimeout"].(int), fn["Timeout"].(int); vis < 6*timeout {
		t.Errorf("VisibilityTimeout %d < 6 x the function's timeout %d (AWS's advice for Lambda consumers)", vis, timeout)
	}
	tp.resource(t, "FanoutDeadLetterQueue", "AWS::SQS::Queue")
	alarm := tp.resource(t, "FanoutDeadLetterAlarm", "AWS::CloudWatch::Alarm")
	if got := fmt.Sprint(get(alarm, "Dimensions")); !strings.Contains(got, "FanoutDeadLetterQueue QueueName") {
		t.Errorf("alarm dimensions = %v, want the dead-letter queue", got)
	}
	m := tp.resource(t, "FanoutEventSourceMapping", "AWS::Lambda::EventSourceMapping")
	for _, c := range []struct {
		key       string
		got, want any
	}{
		{"EventSourceArn", str(m["EventSourceArn"]), "${FanoutQueue.Arn}"},
		{"FunctionName", str(m["FunctionName"]), "${FanoutFunction}"},
		{"FunctionResponseTypes", m["FunctionResponseTypes"], []any{"ReportBatchItemFailures"}},
		{"ScalingConfig.MaximumConcurrency", str(get(m, "ScalingConfig", "MaximumConcurrency")), "${FanoutConcurrency}"},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.key, c.got, c.want)
		}
	}
	if _, ok := get(fn, "Events").(map[string]any); ok {
		t.Errorf("FanoutFunction has SAM Events: SAM would attach the managed SQS policy, which allows every queue")
	}
}

// TestTemplateDeployDefects covers what a review found that breaks a deploy
// or a running stack in some setups (issue 11): CloudFront names that are
// global to the account, Lambda's own log lines, and samconfig's cache.
func TestTemplateDeployDefects(t *testing.T) {
	tp := loadTemplate(t)
	for _, c := range []struct{ id, typ, path string }{
		{"SiteOriginAccessControl", "AWS::CloudFront::OriginAccessControl", "OriginAccessControlConfig"},
		{"SiteHeadersPolicy", "AWS::CloudFront::ResponseHeadersPolicy", "ResponseHeadersPolicyConfig"},
	} {
		name := fmt.Sprint(get(tp.resource(t, c.id, c.typ), c.path, "Name"))
		// Unique per stack and region: from the stack ID's UUID, never the
		// stack name (the same in a second region) alone.
		if strings.Contains(name, "StackName") || !strings.Contains(name, "AWS::StackId") {
			t.Errorf("%s name = %s, want it built from AWS::StackId", c.id, name)
		}
		// The longest it can be: the literal prefix and a 36-character UUID.
		m := regexp.MustCompile(`\[([a-z-]+) `).FindStringSubmatch(name)
		if m == nil || len(m[1])+36 > 64 {
			t.Errorf("%s name = %s: over CloudFront's 64 characters", c.id, name)
		}
	}
	for _, f := range functions {
		if got := get(tp.function(t, f.id), "LoggingConfig", "SystemLogLevel"); got != nil && got != "INFO" && got != "DEBUG" {
			t.Errorf("%s: SystemLogLevel = %v, hides Lambda's REPORT lines", f.id, got)
		}
	}
	globals := get(tp["Globals"], "Function", "LoggingConfig", "SystemLogLevel")
	if globals != "INFO" {
		t.Errorf("Globals SystemLogLevel = %v, want INFO (WARN hides the REPORT lines)", globals)
	}
	samconfig, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`(?m)^\s*cached\s*=`).Match(samconfig) {
		t.Errorf("samconfig.toml sets cached: SAM CLI does not cache makefile builds (aws/aws-sam-cli#2989)")
	}
}

// TestMakefileBuildsTheTemplatesArchitecture: an exported GOARCH must not
// change what the build-<LogicalId> targets build; only LAMBDA_GOARCH on
// the command line (as the tests pass it) does.
func TestMakefileBuildsTheTemplatesArchitecture(t *testing.T) {
	for _, c := range []struct {
		env, args []string
		want      string
	}{
		{env: []string{"GOARCH=amd64"}, want: "GOARCH=arm64"},
		{env: []string{"LAMBDA_GOARCH=amd64"}, want: "GOARCH=arm64"},
		{args: []string{"LAMBDA_GOARCH=amd64"}, want: "GOARCH=amd64"},
	} {
		cmd := exec.Command("make", append([]string{"-n", "--no-print-directory", "build-ConnectFunction", "ARTIFACTS_DIR=/tmp/x"}, c.args...)...)
		cmd.Dir = testenv.RepoRoot()
		cmd.Env = append(os.Environ(), c.env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make -n: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), c.want+" ") {
			t.Errorf("env %v, args %v: make runs %q, want %s", c.env, c.args, out, c.want)
		}
	}
}

// TestTemplateAuthorizer checks sign-in (AuthMode jwt): a REQUEST
// authorizer on $connect alone, whose identity source is ?token= (so API
// Gateway answers 401 itself without one), invokable by this API's
// authorizer only, and nothing of it unless AuthMode is jwt.
func TestTemplateAuthorizer(t *testing.T) {
	tp := loadTemplate(t)
	params := asMap(t, tp["Parameters"], "Parameters")
	if got := get(params, "AuthMode", "Default"); got != "none" {
		t.Errorf("AuthMode default = %v, want none (anonymous stays the default)", got)
	}
	if got := fmt.Sprint(get(params, "AuthMode", "AllowedValues")); got != "[none jwt]" {
		t.Errorf("AuthMode values = %v", got)
	}
	for _, p := range []string{"JwtIssuer", "JwtAudience", "JwksUrl", "AllowedOrigins", "AllowMissingOrigin", "SendBurst", "SendRatePerSecond", "RoomCap"} {
		if params[p] == nil {
			t.Errorf("parameter %s is missing", p)
		}
	}
	if got := get(params, "RoomCap", "Default"); got != 5000 {
		t.Errorf("RoomCap default = %v, want 5000", got)
	}
	cond := get(tp["Conditions"], "UseJwt")
	if fmt.Sprint(cond) != "map[Fn::Equals:[map[Ref:AuthMode] jwt]]" {
		t.Errorf("UseJwt = %v, want AuthMode equals jwt", cond)
	}
	res := tp.resources(t)
	for _, id := range []string{"Authorizer", "AuthorizerPermission", "AuthorizerFunction", "AuthorizerLogGroup"} {
		if got := get(res[id], "Condition"); got != "UseJwt" {
			t.Errorf("%s: Condition = %v, want UseJwt", id, got)
		}
	}
	a := tp.resource(t, "Authorizer", "AWS::ApiGatewayV2::Authorizer")
	if a["AuthorizerType"] != "REQUEST" || fmt.Sprint(a["IdentitySource"]) != "[route.request.querystring.token]" ||
		!strings.Contains(str(a["AuthorizerUri"]), "${AuthorizerFunction.Arn}") || str(a["ApiId"]) != "${Api}" {
		t.Errorf("Authorizer = %v", a)
	}
	p := tp.resource(t, "AuthorizerPermission", "AWS::Lambda::Permission")
	wantSrc := "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/authorizers/${Authorizer}"
	if str(p["SourceArn"]) != wantSrc || str(p["FunctionName"]) != "${AuthorizerFunction}" ||
		p["Principal"] != "apigateway.amazonaws.com" || p["Action"] != "lambda:InvokeFunction" || str(p["SourceAccount"]) != "${AWS::AccountId}" {
		t.Errorf("AuthorizerPermission = %v, want API Gateway invoking it from %s", p, wantSrc)
	}
	for id, r := range tp.ofType(t, "AWS::ApiGatewayV2::Route") {
		authType, authID := str(r["AuthorizationType"]), str(r["AuthorizerId"])
		if r["RouteKey"] == "$connect" {
			if authType != "${if UseJwt: CUSTOM | NONE}" || authID != "${if UseJwt: ${Authorizer} | ${AWS::NoValue}}" {
				t.Errorf("%s: AuthorizationType %s, AuthorizerId %s; want CUSTOM with the authorizer when UseJwt", id, authType, authID)
			}
			continue
		}
		// API Gateway only runs authorizers on $connect.
		if authType != "NONE" || r["AuthorizerId"] != nil {
			t.Errorf("%s: AuthorizationType %s, AuthorizerId %v; want NONE", id, authType, r["AuthorizerId"])
		}
	}
}
