package functions_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"gopkg.in/yaml.v3"

	"github.com/serverless-chat/chat/internal/config"
	"github.com/serverless-chat/chat/internal/dynamo"
	"github.com/serverless-chat/chat/internal/metrics"
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
	{"MessageFunction", "message", []string{"chat message", "direct message", "edit", "delete", "react"}},
	{"DefaultFunction", "default", []string{"$default"}},
	{"HistoryFunction", "history", []string{"history", "unread"}},
	{"PresenceFunction", "presence", []string{"who", "typing", "rename", "block"}},
	{"FanoutFunction", "fanout", nil}, // the fan-out queue's consumer, no route
	// The $connect authorizer (AuthMode jwt): no route of its own.
	{"AuthorizerFunction", "authorizer", nil},
}

// mockRoutes are the routes served by a MOCK integration, without a function.
var mockRoutes = []string{"ping"}

const (
	tableArn       = "${ConnectionsTable.Arn}"
	indexArn       = "${ConnectionsTable.Arn}/index/room-users"
	legacyIndexArn = "${ConnectionsTable.Arn}/index/room-index"
	messagesArn    = "${MessagesTable.Arn}"
	seqIndexArn    = "${MessagesTable.Arn}/index/seq-index"
	queueArn       = "${FanoutQueue.Arn}"
	connectionsArn = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/${StageName}/POST/@connections/*"
	// GetConnection and DeleteConnection are other methods of the same
	// resource, each needing its own grant.
	getConnectionArn    = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/${StageName}/GET/@connections/*"
	deleteConnectionArn = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/${StageName}/DELETE/@connections/*"
	apiArnPrefix        = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/${StageName}/"
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
	known := []string{config.EnvTableName, config.EnvRoomIndexName, config.EnvRoomIndexFallback, config.EnvManagementAPIEndpoint,
		config.EnvPostWorkers, config.EnvDynamoDBEndpoint, config.EnvLogLevel,
		config.EnvMessagesTable, config.EnvSeqIndexName, config.EnvHistoryRetention, config.EnvPresenceLimit,
		config.EnvInlineLimit, config.EnvFanoutQueueURL, config.EnvURLSuffix,
		config.EnvSendBurst, config.EnvSendRate, config.EnvReadBurst, config.EnvFloodStrikes, config.EnvFloodCooldown,
		config.EnvRoomCap, config.EnvAllowedOrigins, config.EnvAllowMissingOrigin,
		config.EnvJWTIssuer, config.EnvJWTAudience, config.EnvJWKSURL,
		config.EnvReviewFunction, config.EnvReviewTimeout, config.EnvReviewFallback}

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
				config.EnvRoomIndexFallback:     "room-index", // during the migration
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
				config.EnvReadBurst:             "${ReadBurst}",
				config.EnvFloodStrikes:          "${FloodStrikes}",
				config.EnvFloodCooldown:         "${FloodCooldownSeconds}s",
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
			if f.id == "MessageFunction" {
				want[config.EnvReviewFunction] = "${ReviewFunctionArn}"
				want[config.EnvReviewTimeout] = "${ReviewTimeoutMs}ms"
				want[config.EnvReviewFallback] = "${ReviewFallback}"
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
			"IndexName": "room-users",
			"KeySchema": []any{
				map[string]any{"AttributeName": "room", "KeyType": "HASH"},
				map[string]any{"AttributeName": "connectionId", "KeyType": "RANGE"},
			},
			"Projection": map[string]any{"ProjectionType": "INCLUDE", "NonKeyAttributes": []any{"expiresAt", "name", "userId"}},
		}, map[string]any{
			// The migration's second index: deleted by the next release.
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
		// members found gone; the cool-down (GetItem), the room's count
		// and the name claim (UpdateItem); a full room's GetConnection.
		"ConnectFunction": {
			"dynamodb:DeleteItem on " + tableArn,
			"dynamodb:GetItem on " + tableArn,
			"dynamodb:PutItem on " + tableArn,
			"dynamodb:UpdateItem on " + tableArn,
			"dynamodb:Query on " + indexArn,
			"dynamodb:Query on " + legacyIndexArn,
			"execute-api:ManageConnections on " + connectionsArn,
			"execute-api:ManageConnections on " + getConnectionArn,
		},
		// The room's count and the leave grace's name (UpdateItem).
		"DisconnectFunction": {
			"dynamodb:DeleteItem on " + tableArn,
			"dynamodb:UpdateItem on " + tableArn,
			"dynamodb:Query on " + indexArn,
			"dynamodb:Query on " + legacyIndexArn,
			"execute-api:ManageConnections on " + connectionsArn,
		},
		// "who" reads the asker's conversations; a flooder is cut off.
		"PresenceFunction": {
			"dynamodb:DeleteItem on " + tableArn,
			"dynamodb:GetItem on " + tableArn,
			"dynamodb:Query on " + indexArn,
			"dynamodb:Query on " + legacyIndexArn,
			"dynamodb:Query on " + seqIndexArn,
			"dynamodb:UpdateItem on " + tableArn,
			"execute-api:ManageConnections on " + connectionsArn,
			"execute-api:ManageConnections on " + deleteConnectionArn,
		},
		"MessageFunction": {
			"dynamodb:DeleteItem on " + tableArn,
			"dynamodb:GetItem on " + tableArn,
			"dynamodb:GetItem on " + messagesArn,            // a resend's lookup
			"dynamodb:Query on " + seqIndexArn,              // a change's target
			"lambda:InvokeFunction on ${ReviewFunctionArn}", // only when the template names one
			"dynamodb:PutItem on " + messagesArn,
			"dynamodb:Query on " + indexArn,
			"dynamodb:Query on " + legacyIndexArn,
			"dynamodb:UpdateItem on " + tableArn, // the send limit's clock
			"dynamodb:UpdateItem on " + messagesArn,
			"execute-api:ManageConnections on " + connectionsArn,
			"execute-api:ManageConnections on " + deleteConnectionArn,
			"sqs:SendMessage on " + queueArn,
		},
		"DefaultFunction": {"execute-api:ManageConnections on " + connectionsArn},
		// The queue's consumer: its own queue, deleting the gone (and
		// giving back their places in the room's count), posting.
		"FanoutFunction": {
			"dynamodb:DeleteItem on " + tableArn,
			"dynamodb:UpdateItem on " + tableArn,
			"execute-api:ManageConnections on " + connectionsArn,
			"sqs:DeleteMessage on " + queueArn,
			"sqs:GetQueueAttributes on " + queueArn,
			"sqs:ReceiveMessage on " + queueArn,
			"sqs:SendMessage on " + queueArn,
		},
		// Reads, and the read limit's clock and budgets (UpdateItem).
		"HistoryFunction": {
			"dynamodb:GetItem on " + tableArn,
			"dynamodb:UpdateItem on " + tableArn,
			"dynamodb:Query on " + seqIndexArn,
			"execute-api:ManageConnections on " + connectionsArn,
			"execute-api:ManageConnections on " + deleteConnectionArn,
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
					// A statement that exists only under a condition (the
					// review hook's) counts as its "true" branch.
					if cond, ok := get(s, "Fn::If").([]any); ok && len(cond) == 3 {
						s = cond[1]
					}
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
			sort.Strings(want[f.id])
			if !reflect.DeepEqual(got, want[f.id]) {
				t.Errorf("permissions:\n got %q\nwant %q", got, want[f.id])
			}
		})
	}

	// Nowhere: wildcard DynamoDB actions, Scan, or an Allow on every resource.
	// The permissions boundary grants nothing: it only caps the roles
	// (TestTemplateFunctionBoundary).
	rest := map[string]any{}
	for id, r := range tp.resources(t) {
		if id != "FunctionBoundary" {
			rest[id] = r
		}
	}
	walk(rest, func(v any) {
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
		// The page's files go out compressed (gzip, or br when the viewer
		// asks): CachingOptimized keys the cache on both encodings.
		{"Compress", behavior["Compress"], true},
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

// ---- Production safety (issue 20) ----------------------------------------

// alarmAction is what every alarm notifies: the stack's topic, or the one
// given.
const alarmAction = "${if CreateAlarmTopic: ${AlarmTopic} | ${AlarmTopicArn}}"

// TestTemplateStatefulResources: an update never replaces or deletes a table
// silently. Named from the stack (CloudFormation refuses to replace a named
// resource), deletion protection, retained on delete and on replace; the
// messages table with point-in-time recovery.
func TestTemplateStatefulResources(t *testing.T) {
	tp := loadTemplate(t)
	res := tp.resources(t)
	for _, c := range []struct {
		id, name string
		pitr     bool
	}{
		{"ConnectionsTable", "${AWS::StackName}-connections", false},
		{"MessagesTable", "${AWS::StackName}-messages", true},
	} {
		t.Run(c.id, func(t *testing.T) {
			r := res[c.id]
			table := tp.resource(t, c.id, "AWS::DynamoDB::Table")
			for _, k := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
				if got := r[k]; got != "Retain" {
					t.Errorf("%s = %v, want Retain", k, got)
				}
			}
			if got := table["DeletionProtectionEnabled"]; got != true {
				t.Errorf("DeletionProtectionEnabled = %v, want true", got)
			}
			if got := str(table["TableName"]); got != c.name {
				t.Errorf("TableName = %q, want %q (a replacing change set then fails)", got, c.name)
			}
			if got := get(table, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"); got != c.pitr {
				t.Errorf("PointInTimeRecoveryEnabled = %v, want %v", got, c.pitr)
			}
		})
	}
	params := asMap(t, tp["Parameters"], "Parameters")
	if got, _ := get(params, "HistoryRetentionHours", "MaxValue").(int); got == 0 || got > 168 {
		t.Errorf("HistoryRetentionHours MaxValue = %v, want at most 168 (BENCHMARKS.md, History storage: a room's 10 GB)", got)
	}
}

// TestTemplateLogGroups: every log group has a retention and outlives the
// stack (logs are evidence after an incident).
func TestTemplateLogGroups(t *testing.T) {
	tp := loadTemplate(t)
	res := tp.resources(t)
	groups := tp.ofType(t, "AWS::Logs::LogGroup")
	if len(groups) < len(functions)+1 {
		t.Errorf("%d log groups, want one per function and the access log", len(groups))
	}
	for id, g := range groups {
		if str(g["RetentionInDays"]) != "${LogRetentionInDays}" {
			t.Errorf("%s: RetentionInDays = %v", id, g["RetentionInDays"])
		}
		if res[id]["DeletionPolicy"] != "Retain" || res[id]["UpdateReplacePolicy"] != "Retain" {
			t.Errorf("%s: DeletionPolicy %v, UpdateReplacePolicy %v, want Retain", id, res[id]["DeletionPolicy"], res[id]["UpdateReplacePolicy"])
		}
	}
}

// TestTemplateAlarms: the alarms the issue lists exist, watch the right
// thing, and every alarm of the template notifies someone.
func TestTemplateAlarms(t *testing.T) {
	tp := loadTemplate(t)
	res := tp.resources(t)
	alarms := tp.ofType(t, "AWS::CloudWatch::Alarm")
	for id, a := range alarms {
		if got := strs(a["AlarmActions"]); !reflect.DeepEqual(got, []string{alarmAction}) {
			t.Errorf("%s: AlarmActions = %v, want [%s]", id, got, alarmAction)
		}
	}
	// metricOf renders an alarm's metrics: "namespace metric dim=value ...".
	metricOf := func(a map[string]any) []string {
		one := func(ns, name any, dims any) string {
			s := fmt.Sprintf("%v %v", ns, name)
			for _, d := range asSlice(dims) {
				s += fmt.Sprintf(" %v=%s", get(d, "Name"), str(get(d, "Value")))
			}
			return s
		}
		if a["MetricName"] != nil {
			return []string{one(a["Namespace"], a["MetricName"], a["Dimensions"])}
		}
		var out []string
		for _, m := range asSlice(a["Metrics"]) {
			if ms := get(m, "MetricStat", "Metric"); ms != nil {
				out = append(out, one(get(ms, "Namespace"), get(ms, "MetricName"), get(ms, "Dimensions")))
			}
		}
		return out
	}
	want := map[string][]string{
		"ApiIntegrationErrorAlarm": {"AWS/ApiGateway IntegrationError ApiId=${Api} Stage=${StageName}"},
		"ApiExecutionErrorAlarm":   {"AWS/ApiGateway ExecutionError ApiId=${Api} Stage=${StageName}"},
		"ConnectionsTableThrottleAlarm": {
			"AWS/DynamoDB ReadThrottleEvents TableName=${ConnectionsTable}",
			"AWS/DynamoDB WriteThrottleEvents TableName=${ConnectionsTable}",
		},
		"MessagesTableThrottleAlarm": {
			"AWS/DynamoDB ReadThrottleEvents TableName=${MessagesTable}",
			"AWS/DynamoDB WriteThrottleEvents TableName=${MessagesTable}",
		},
		"FanoutQueueAgeAlarm":   {"AWS/SQS ApproximateAgeOfOldestMessage QueueName=${FanoutQueue.QueueName}"},
		"FanoutDeadLetterAlarm": {"AWS/SQS ApproximateNumberOfMessagesVisible QueueName=${FanoutDeadLetterQueue.QueueName}"},
	}
	for _, f := range functions {
		for _, m := range []string{"Errors", "Throttles"} {
			want[f.id+m+"Alarm"] = []string{fmt.Sprintf("AWS/Lambda %s FunctionName=${%s}", m, f.id)}
		}
	}
	for id, w := range want {
		a, ok := alarms[id]
		if !ok {
			t.Errorf("no alarm %s (%v)", id, w)
			continue
		}
		if got := metricOf(a); !reflect.DeepEqual(got, w) {
			t.Errorf("%s watches %v, want %v", id, got, w)
		}
		if a["ComparisonOperator"] != "GreaterThanThreshold" || a["TreatMissingData"] != "notBreaching" {
			t.Errorf("%s: %v with missing data %v", id, a["ComparisonOperator"], a["TreatMissingData"])
		}
	}
	for _, id := range []string{"AuthorizerFunctionErrorsAlarm", "AuthorizerFunctionThrottlesAlarm"} {
		if got := res[id]["Condition"]; got != "UseJwt" {
			t.Errorf("%s: Condition = %v, want UseJwt (the function's)", id, got)
		}
	}

	// The topic: created unless one is given, mailing AlarmEmail, and
	// publishable by CloudWatch over TLS.
	for _, id := range []string{"AlarmTopic", "AlarmTopicPolicy", "AlarmEmailSubscription"} {
		if got := res[id]["Condition"]; got != "CreateAlarmTopic" {
			t.Errorf("%s: Condition = %v, want CreateAlarmTopic", id, got)
		}
	}
	sub := tp.resource(t, "AlarmEmailSubscription", "AWS::SNS::Subscription")
	if sub["Protocol"] != "email" || str(sub["Endpoint"]) != "${AlarmEmail}" || str(sub["TopicArn"]) != "${AlarmTopic}" {
		t.Errorf("AlarmEmailSubscription = %v", sub)
	}
	policy := fmt.Sprint(tp.resource(t, "AlarmTopicPolicy", "AWS::SNS::TopicPolicy"))
	for _, w := range []string{"cloudwatch.amazonaws.com", "aws:SecureTransport:false"} {
		if !strings.Contains(policy, w) {
			t.Errorf("AlarmTopicPolicy lacks %s: %s", w, policy)
		}
	}
	if got := fmt.Sprint(get(tp["Conditions"], "CreateAlarmTopic")); got != "map[Fn::Equals:[map[Ref:AlarmTopicArn] ]]" {
		t.Errorf("CreateAlarmTopic = %v", got)
	}
}

// TestTemplateFanoutQueues: a batch reaches the dead-letter queue long
// before it can expire, the dead-letter queue accepts only the fan-out
// queue, and both refuse requests without TLS.
func TestTemplateFanoutQueues(t *testing.T) {
	tp := loadTemplate(t)
	q := tp.resource(t, "FanoutQueue", "AWS::SQS::Queue")
	dlq := tp.resource(t, "FanoutDeadLetterQueue", "AWS::SQS::Queue")
	vis, _ := q["VisibilityTimeout"].(int)
	receives, _ := get(q, "RedrivePolicy", "maxReceiveCount").(int)
	retention, _ := q["MessageRetentionPeriod"].(int)
	dlqRetention, _ := dlq["MessageRetentionPeriod"].(int)
	// Failing every receive takes receives x visibility; a backlog the age
	// alarm reports (300 s) comes on top. Ten times that leaves room.
	if minimum := 10 * (receives*vis + 300); retention < minimum {
		t.Errorf("fan-out queue retention %d s < %d s: a failing batch can expire before it reaches the dead-letter queue", retention, minimum)
	}
	// SQS keeps a message's original enqueue time when it moves it: the
	// dead-letter queue must keep messages longer than the source does.
	if dlqRetention <= retention {
		t.Errorf("dead-letter retention %d s <= the queue's %d s", dlqRetention, retention)
	}
	name := str(q["QueueName"])
	allow := get(dlq, "RedriveAllowPolicy")
	if get(allow, "redrivePermission") != "byQueue" || len(asSlice(get(allow, "sourceQueueArns"))) != 1 {
		t.Fatalf("RedriveAllowPolicy = %v, want byQueue with the fan-out queue", allow)
	}
	// Both spell the queue name from the stack ID's UUID.
	if src := fmt.Sprint(asSlice(get(allow, "sourceQueueArns"))[0]); !strings.Contains(src, "fanout-") || !strings.Contains(name, "fanout-") ||
		!strings.Contains(src, "AWS::StackId") || !strings.Contains(name, "AWS::StackId") {
		t.Errorf("RedriveAllowPolicy source %s, queue name %s: want the same name", src, name)
	}
	pol := tp.resource(t, "FanoutQueuePolicy", "AWS::SQS::QueuePolicy")
	if got := strs(pol["Queues"]); !reflect.DeepEqual(got, []string{"${FanoutQueue}", "${FanoutDeadLetterQueue}"}) {
		t.Errorf("queue policy applies to %v", got)
	}
	deny := asSlice(get(pol, "PolicyDocument", "Statement"))
	if len(deny) != 1 || get(deny[0], "Effect") != "Deny" || get(deny[0], "Condition", "Bool", "aws:SecureTransport") != "false" {
		t.Errorf("queue policy = %v, want a TLS-only deny", deny)
	}
}

// TestTemplateStageLogging: JSON access logs without the query string,
// detailed metrics, execution logs at ERROR, and the account's logging role.
func TestTemplateStageLogging(t *testing.T) {
	tp := loadTemplate(t)
	stage := tp.resource(t, "Stage", "AWS::ApiGatewayV2::Stage")
	settings := asMap(t, stage["DefaultRouteSettings"], "DefaultRouteSettings")
	if settings["DetailedMetricsEnabled"] != true || settings["DataTraceEnabled"] != false {
		t.Errorf("DefaultRouteSettings = %v, want detailed metrics and no data trace", settings)
	}
	if got := str(settings["LoggingLevel"]); got != "${if HasExecutionLogs: ${ExecutionLogLevel} | OFF}" {
		t.Errorf("LoggingLevel = %v", got)
	}
	if got := get(tp["Parameters"], "ExecutionLogLevel", "Default"); got != "ERROR" {
		t.Errorf("ExecutionLogLevel default = %v, want ERROR", got)
	}
	if got := str(get(stage, "AccessLogSettings", "DestinationArn")); got != "${ApiAccessLogGroup.Arn}" {
		t.Errorf("access log destination = %v", got)
	}
	format, _ := get(stage, "AccessLogSettings", "Format").(string)
	var fields map[string]string
	if err := json.Unmarshal([]byte(format), &fields); err != nil {
		t.Fatalf("access log format is not one JSON object: %v\n%s", err, format)
	}
	for k, v := range map[string]string{
		"requestId":          "$context.requestId",
		"connectionId":       "$context.connectionId",
		"routeKey":           "$context.routeKey",
		"status":             "$context.status",
		"integrationError":   "$context.integration.error",
		"integrationLatency": "$context.integration.latency",
	} {
		if fields[k] != v {
			t.Errorf("access log %s = %q, want %q", k, fields[k], v)
		}
	}
	// ?token= carries the sign-in token: nothing of the request's URL or
	// query string, nor of its body.
	for k, v := range fields {
		if low := strings.ToLower(v); strings.Contains(low, "querystring") || strings.Contains(low, "$request") || strings.Contains(low, "$input") || strings.Contains(low, "path") {
			t.Errorf("access log field %s = %s can carry the query string", k, v)
		}
	}
	// The stage waits for the account's role when this stack sets it.
	if got := str(stage["Description"]); !strings.Contains(got, "${ApiGatewayAccount}") {
		t.Errorf("Stage Description = %v, want it to reference ApiGatewayAccount (ordering)", got)
	}
	account := tp.resource(t, "ApiGatewayAccount", "AWS::ApiGateway::Account")
	if got := str(account["CloudWatchRoleArn"]); got != "${ApiGatewayCloudWatchLogsRole.Arn}" {
		t.Errorf("ApiGatewayAccount role = %v", got)
	}
	res := tp.resources(t)
	for _, id := range []string{"ApiGatewayAccount", "ApiGatewayCloudWatchLogsRole"} {
		if res[id]["Condition"] != "CreateApiGatewayRole" || res[id]["DeletionPolicy"] != "Retain" {
			t.Errorf("%s: Condition %v, DeletionPolicy %v; want CreateApiGatewayRole, Retain", id, res[id]["Condition"], res[id]["DeletionPolicy"])
		}
	}
}

// TestTemplateProductionSite: the page's bucket keeps versions and both it
// and the distribution write access logs.
func TestTemplateProductionSite(t *testing.T) {
	tp := loadTemplate(t)
	bucket := tp.resource(t, "SiteBucket", "AWS::S3::Bucket")
	if got := get(bucket, "VersioningConfiguration", "Status"); got != "Enabled" {
		t.Errorf("SiteBucket versioning = %v", got)
	}
	if got := str(get(bucket, "LoggingConfiguration", "DestinationBucketName")); got != "${SiteLogBucket}" {
		t.Errorf("SiteBucket access logs go to %v", got)
	}
	dist := get(tp.resource(t, "SiteDistribution", "AWS::CloudFront::Distribution"), "DistributionConfig")
	if got := str(get(dist, "Logging", "Bucket")); got != "${SiteLogBucket.DomainName}" {
		t.Errorf("distribution logs go to %v", got)
	}
	logs := tp.resource(t, "SiteLogBucket", "AWS::S3::Bucket")
	if got := fmt.Sprint(get(logs, "OwnershipControls", "Rules")); got != "[map[ObjectOwnership:BucketOwnerPreferred]]" {
		t.Errorf("SiteLogBucket ownership = %v (CloudFront's standard logs need ACLs)", got)
	}
	if len(asSlice(get(dist, "CustomErrorResponses"))) == 0 {
		t.Errorf("no CustomErrorResponses: errors are cached CloudFront's default 5 minutes")
	}
}

// TestTemplateProductionOutputs: what an operator needs during an incident.
func TestTemplateProductionOutputs(t *testing.T) {
	tp := loadTemplate(t)
	outputs := asMap(t, tp["Outputs"], "Outputs")
	for name, w := range map[string]string{
		"MessagesTableName":         "${MessagesTable}",
		"FanoutQueueUrl":            "${FanoutQueue}",
		"FanoutDeadLetterQueueUrl":  "${FanoutDeadLetterQueue}",
		"FanoutDeadLetterQueueArn":  "${FanoutDeadLetterQueue.Arn}",
		"AlarmTopicArn":             alarmAction,
		"FanoutDeadLetterAlarmName": "${FanoutDeadLetterAlarm}",
		"FanoutQueueAgeAlarmName":   "${FanoutQueueAgeAlarm}",
		"DashboardName":             "${Dashboard}",
		"ApiAccessLogGroupName":     "${ApiAccessLogGroup}",
		"SiteDistributionId":        "${SiteDistribution}",
	} {
		if got := str(get(outputs, name, "Value")); got != w {
			t.Errorf("output %s = %q, want %q", name, got, w)
		}
	}
}

// parameterCases are values that deploy and then break the chat (issue 20),
// and good values of the same parameters, which must still deploy.
var parameterCases = []struct {
	name   string
	values map[string]string
	broken bool
}{
	{"send rate 0 fails every function's start", map[string]string{"SendRatePerSecond": "0"}, true},
	{"send rate over internal/config's 1000", map[string]string{"SendRatePerSecond": "1001"}, true},
	{"room cap 0 fails every function's start", map[string]string{"RoomCap": "0"}, true},
	{"room cap below -1", map[string]string{"RoomCap": "-2"}, true},
	{"origin without a scheme: nobody can connect", map[string]string{"AllowedOrigins": "example.com"}, true},
	{"origin with a path", map[string]string{"AllowedOrigins": "https://example.com/chat"}, true},
	{"jwt with an empty issuer: the change set fails", map[string]string{"AuthMode": "jwt", "JwtAudience": "client"}, true},
	{"jwt with an empty audience", map[string]string{"AuthMode": "jwt", "JwtIssuer": "https://issuer.example.com"}, true},
	{"non-https issuer kills the authorizer", map[string]string{"AuthMode": "jwt", "JwtIssuer": "http://issuer.example.com", "JwtAudience": "client"}, true},
	{"issuer with a trailing slash never matches iss", map[string]string{"AuthMode": "jwt", "JwtIssuer": "https://issuer.example.com/", "JwtAudience": "client"}, true},
	{"non-https JWKS", map[string]string{"JwksUrl": "http://issuer.example.com/jwks.json"}, true},
	{"a year of history overflows a busy room's 10 GB", map[string]string{"HistoryRetentionHours": "8784"}, true},
	{"alarms that notify nobody", map[string]string{"AlarmEmail": ""}, true},
	{"alarm email that is not one", map[string]string{"AlarmEmail": "ops"}, true},
	{"a flood cool-down of 0 s fails every function's start", map[string]string{"FloodCooldownSeconds": "0"}, true},
	{"a negative read burst", map[string]string{"ReadBurst": "-1"}, true},

	{"no read limit, never cut off", map[string]string{"ReadBurst": "0", "FloodStrikes": "0"}, false},

	{"defaults with an alarm email", nil, false},
	{"alarm topic instead of an email", map[string]string{"AlarmEmail": "", "AlarmTopicArn": "arn:aws:sns:eu-west-1:123456789012:pager"}, false},
	{"fractional send rate, no room cap", map[string]string{"SendRatePerSecond": "0.5", "RoomCap": "-1"}, false},
	{"origins with schemes and ports", map[string]string{"AllowedOrigins": "https://chat.example.com, http://localhost:8080"}, false},
	{"any origin", map[string]string{"AllowedOrigins": "*"}, false},
	{"Cognito sign-in", map[string]string{"AuthMode": "jwt", "JwtIssuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdE", "JwtAudience": "3n4b5urk1ft4fl3mg5e62d9ado"}, false},
}

// TestTemplateParametersRefuseBrokenValues feeds each value through what
// CloudFormation checks before it changes anything: the parameter's own
// constraints (MinValue, MaxValue, AllowedPattern), checked by cfn-lint on a
// template whose parameter defaults to the value, then the template's Rules,
// evaluated here (cfn-lint does not evaluate Rules, nor does the SAM
// translator).
func TestTemplateParametersRefuseBrokenValues(t *testing.T) {
	tp := loadTemplate(t)
	params := asMap(t, tp["Parameters"], "Parameters")
	defaults := map[string]string{}
	for name, p := range params {
		defaults[name] = fmt.Sprint(get(p, "Default"))
		if get(p, "Default") == nil {
			defaults[name] = ""
		}
	}
	defaults["AlarmEmail"] = "ops@example.com" // no default: every deploy names one

	// One cfn-lint run: a copy of each parameter a case sets, named for the
	// case, defaulting to the case's value.
	copies := map[string]any{}
	owner := map[string]int{} // copy name -> case
	for i, c := range parameterCases {
		for name, v := range c.values {
			p := map[string]any{}
			for k, e := range asMap(t, params[name], name) {
				p[k] = e
			}
			p["Default"] = v
			// cfn-lint checks MinValue and MaxValue of numbers only.
			if n, err := strconv.ParseFloat(v, 64); err == nil && p["Type"] == "Number" {
				p["Default"] = n
			}
			copyName := fmt.Sprintf("Case%d%s", i, name)
			copies[copyName] = p
			owner[copyName] = i
		}
	}
	doc := map[string]any{
		"AWSTemplateFormatVersion": "2010-09-09",
		"Parameters":               copies,
		"Resources":                map[string]any{"Nothing": map[string]any{"Type": "AWS::CloudFormation::WaitConditionHandle"}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "parameters.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	lint := testenv.Tool(t, "cfn-lint", "pip install cfn-lint")
	out, _ := exec.Command(lint, "-f", "json", "--", path).Output()
	var findings []struct {
		Level    string
		Message  string
		Location struct{ Path []any }
	}
	if err := json.Unmarshal(out, &findings); err != nil {
		t.Fatalf("cfn-lint -f json: %v\n%s", err, out)
	}
	refused := map[int][]string{}
	for _, f := range findings {
		if f.Level != "Error" || len(f.Location.Path) < 2 || f.Location.Path[0] != "Parameters" {
			continue
		}
		if i, ok := owner[fmt.Sprint(f.Location.Path[1])]; ok {
			refused[i] = append(refused[i], "cfn-lint: "+f.Message)
		}
	}

	for i, c := range parameterCases {
		t.Run(c.name, func(t *testing.T) {
			values := maps.Clone(defaults)
			maps.Copy(values, c.values)
			why := refused[i]
			// cfn-lint compares integers only with MinValue and MaxValue;
			// CloudFormation compares any number (SendRatePerSecond's 0.01).
			for name, v := range c.values {
				n, err := strconv.ParseFloat(v, 64)
				if get(params[name], "Type") != "Number" || err != nil {
					continue
				}
				if lo, ok := number(get(params[name], "MinValue")); ok && n < lo {
					why = append(why, fmt.Sprintf("%s %v < MinValue %v", name, n, lo))
				}
				if hi, ok := number(get(params[name], "MaxValue")); ok && n > hi {
					why = append(why, fmt.Sprintf("%s %v > MaxValue %v", name, n, hi))
				}
			}
			for name, rule := range asMap(t, tp["Rules"], "Rules") {
				if cond := get(rule, "RuleCondition"); cond != nil && !ruleTrue(t, cond, values) {
					continue
				}
				for _, a := range asSlice(get(rule, "Assertions")) {
					if !ruleTrue(t, get(a, "Assert"), values) {
						why = append(why, fmt.Sprintf("rule %s: %v", name, get(a, "AssertDescription")))
					}
				}
			}
			switch {
			case c.broken && len(why) == 0:
				t.Errorf("%v deploys: nothing refuses it", c.values)
			case !c.broken && len(why) > 0:
				t.Errorf("%v is refused: %v", c.values, why)
			}
		})
	}
}

// number is a YAML number as a float64: the decoder gives 0 as an int and
// 0.01 as a float64.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// ruleTrue evaluates a Rules condition or assertion: Ref of a parameter,
// Fn::Equals, Fn::Not, Fn::And, Fn::Or (what the template's Rules use).
func ruleTrue(t *testing.T, v any, params map[string]string) bool {
	t.Helper()
	val := func(v any) string {
		if r, ok := get(v, "Ref").(string); ok {
			p, ok := params[r]
			if !ok {
				t.Fatalf("rule refers to %s, not a parameter", r)
			}
			return p
		}
		return fmt.Sprint(v)
	}
	m := asMap(t, v, "rule condition")
	for fn, args := range m {
		list := asSlice(args)
		switch fn {
		case "Fn::Equals":
			return len(list) == 2 && val(list[0]) == val(list[1])
		case "Fn::Not":
			return len(list) == 1 && !ruleTrue(t, list[0], params)
		case "Fn::And":
			for _, e := range list {
				if !ruleTrue(t, e, params) {
					return false
				}
			}
			return true
		case "Fn::Or":
			for _, e := range list {
				if ruleTrue(t, e, params) {
					return true
				}
			}
			return false
		}
		t.Fatalf("rule function %s is not evaluated by this test", fn)
	}
	t.Fatalf("empty rule condition")
	return false
}

// samconfig reads samconfig.toml's [env.command.parameters] tables into
// "env.command" -> key -> value (strings unquoted; the file uses no nested
// tables or multi-line values).
func samconfig(t *testing.T) map[string]map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	section := ""
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			name := strings.Trim(line, "[]")
			env, rest, _ := strings.Cut(name, ".")
			cmd, _, _ := strings.Cut(rest, ".")
			section = env + "." + cmd
			out[section] = map[string]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("samconfig.toml:%d: %q", i+1, line)
			}
			if section != "" {
				out[section][strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
			}
		}
	}
	return out
}

// TestSamconfigEnvironments: dev and prod are separate stacks; `sam sync`
// (which deploys without a change set) can only ever reach dev, and prod's
// deploys always show their change set.
func TestSamconfigEnvironments(t *testing.T) {
	cfg := samconfig(t)
	const dev, prod = "serverless-chat-dev", "serverless-chat"
	if got := cfg["default.deploy"]["stack_name"]; got != dev {
		t.Errorf("default (dev) deploy stack = %q, want %q", got, dev)
	}
	if got := cfg["prod.deploy"]["stack_name"]; got != prod {
		t.Errorf("prod deploy stack = %q, want %q", got, prod)
	}
	if got := cfg["prod.deploy"]["confirm_changeset"]; got != "true" {
		t.Errorf("prod confirm_changeset = %q, want true", got)
	}
	envs := map[string]bool{}
	for section, kv := range cfg {
		env, cmd, _ := strings.Cut(section, ".")
		envs[env] = true
		if kv["stack_name"] == prod && section != "prod.deploy" {
			t.Errorf("[%s] names the prod stack: only prod's deploy may", section)
		}
		if cmd == "sync" && kv["stack_name"] != "" && kv["stack_name"] != dev {
			t.Errorf("[%s.sync] targets %q, want %q", env, kv["stack_name"], dev)
		}
	}
	// What sam sync --config-env <env> would target: its sync section's
	// stack, else its global one.
	for env := range envs {
		target := cfg[env+".sync"]["stack_name"]
		if target == "" {
			target = cfg[env+".global"]["stack_name"]
		}
		if target != "" && target != dev {
			t.Errorf("sam sync --config-env %s targets %q, want %q or none", env, target, dev)
		}
	}
	if cfg["default.sync"]["watch"] != "true" {
		t.Errorf("dev sync watch = %q, want true", cfg["default.sync"]["watch"])
	}
}

// TestTemplateFunctionBoundary: SAM's AWSLambdaBasicExecutionRole may log
// anywhere; the boundary every function carries narrows that to the
// functions' own log groups.
func TestTemplateFunctionBoundary(t *testing.T) {
	tp := loadTemplate(t)
	for _, f := range functions {
		if got := str(tp.function(t, f.id)["PermissionsBoundary"]); got != "${FunctionBoundary}" {
			t.Errorf("%s: PermissionsBoundary = %v, want ${FunctionBoundary}", f.id, got)
		}
	}
	b := tp.resource(t, "FunctionBoundary", "AWS::IAM::ManagedPolicy")
	stmts := asSlice(get(b, "PolicyDocument", "Statement"))
	if len(stmts) != 2 || get(stmts[0], "NotAction") != "logs:*" || get(stmts[0], "Resource") != "*" {
		t.Fatalf("boundary = %v, want everything but logs, then logs on the log groups", stmts)
	}
	got := fmt.Sprint(strs(get(stmts[1], "Resource")))
	for _, f := range functions {
		group := strings.TrimSuffix(f.id, "Function") + "LogGroup.Arn"
		if !strings.Contains(got, group) {
			t.Errorf("boundary lets no logs into %s: %s", group, got)
		}
	}
	if fmt.Sprint(strs(get(stmts[1], "Action"))) != "[logs:CreateLogStream logs:PutLogEvents]" {
		t.Errorf("boundary log actions = %v", get(stmts[1], "Action"))
	}
}

// TestTemplateDashboard: the dashboard shows every custom metric the
// functions write (internal/metrics), under their namespace and
// FunctionName dimension, and nothing they do not write; beside them, the
// AWS metrics the alarms watch.
func TestTemplateDashboard(t *testing.T) {
	tp := loadTemplate(t)
	d := tp.resource(t, "Dashboard", "AWS::CloudWatch::Dashboard")
	body := str(d["DashboardBody"])
	var dash struct {
		Widgets []struct {
			Properties struct {
				Title   string
				Metrics [][]any
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &dash); err != nil {
		t.Fatalf("DashboardBody is not JSON: %v\n%s", err, body)
	}
	custom := map[string]bool{}
	namespaces := map[string]bool{}
	for _, w := range dash.Widgets {
		for _, m := range w.Properties.Metrics {
			if len(m) < 2 {
				t.Errorf("widget %q: metric %v", w.Properties.Title, m)
				continue
			}
			ns, name := fmt.Sprint(m[0]), fmt.Sprint(m[1])
			namespaces[ns] = true
			if ns != metrics.Namespace {
				continue
			}
			custom[name] = true
			// The functions that write them: the message function (and
			// presence's rename for SendersRateLimited) and the fan-out.
			if len(m) < 4 || m[2] != metrics.DimensionFunction ||
				!slices.Contains([]any{"${MessageFunction}", "${PresenceFunction}", "${FanoutFunction}"}, m[3]) {
				t.Errorf("%s: dimensions %v, want %s of a function that writes it", name, m[2:], metrics.DimensionFunction)
			}
		}
	}
	if got, want := slices.Sorted(maps.Keys(custom)), metrics.Names(); !reflect.DeepEqual(got, want) {
		t.Errorf("dashboard shows custom metrics %v, the functions write %v", got, want)
	}
	for _, ns := range []string{"AWS/ApiGateway", "AWS/Lambda", "AWS/SQS", "AWS/DynamoDB"} {
		if !namespaces[ns] {
			t.Errorf("dashboard shows nothing of %s", ns)
		}
	}
}

// TestTemplateTracing: every function is traced by Lambda (Tracing:
// Active); API Gateway traces REST APIs only, so the stage has no tracing
// setting (README, "Tracing").
func TestTemplateTracing(t *testing.T) {
	tp := loadTemplate(t)
	for _, f := range functions {
		if got := tp.function(t, f.id)["Tracing"]; got != "Active" {
			t.Errorf("%s: Tracing = %v, want Active", f.id, got)
		}
	}
}
