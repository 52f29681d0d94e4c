package samtemplate

import (
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"
)

// localTables maps the chat's tables to local names, as the emulator would.
func localTables(id, typ, attr string) (string, bool) {
	switch {
	case typ == "AWS::DynamoDB::Table" && attr == "":
		return "local-" + id, true
	case typ == "AWS::CloudFront::Distribution" && attr == "DomainName":
		return "127.0.0.1:8080", true // the page is the emulator's own
	}
	return "", false
}

// TestChatTemplateWithSignIn: AuthMode jwt puts the REQUEST authorizer on
// $connect, with its function and identity source.
func TestChatTemplateWithSignIn(t *testing.T) {
	tpl, err := Load("../../template.yaml", Options{Resource: localTables, Parameters: map[string]string{
		"AuthMode": "jwt", "JwtIssuer": "https://issuer.example", "JwtAudience": "client"}})
	if err != nil {
		t.Fatal(err)
	}
	a := tpl.APIs[0].Routes["$connect"].Authorizer
	if a == nil || a.Function != "AuthorizerFunction" || !slices.Equal(a.IdentitySource, []string{"route.request.querystring.token"}) {
		t.Fatalf("$connect authorizer = %+v", a)
	}
	fn := tpl.Functions["AuthorizerFunction"]
	if fn == nil || fn.Env["JWKS_URL"] != "https://issuer.example/.well-known/jwks.json" || fn.Env["JWT_AUDIENCE"] != "client" {
		t.Errorf("AuthorizerFunction = %+v", fn)
	}
}

func TestChatTemplate(t *testing.T) {
	tests := []struct {
		name          string
		params        map[string]string
		stage         string
		burst         int
		rate          float64
		historyPeriod string
	}{
		{name: "defaults", stage: "prod", burst: 1000, rate: 500, historyPeriod: "24h"},
		{
			name:   "overrides",
			params: map[string]string{"StageName": "dev", "ThrottlingBurstLimit": "20", "ThrottlingRateLimit": "2.5", "HistoryRetentionHours": "6"},
			stage:  "dev", burst: 20, rate: 2.5, historyPeriod: "6h",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := Load("../../template.yaml", Options{Parameters: tt.params, Resource: localTables})
			if err != nil {
				t.Fatal(err)
			}
			if len(tpl.APIs) != 1 {
				t.Fatalf("APIs: got %d, want 1", len(tpl.APIs))
			}
			api := tpl.APIs[0]
			if api.RouteSelectionExpression != "$request.body.action" || !slices.Equal(api.RouteSelectionPath, []string{"action"}) {
				t.Errorf("route selection: %q %q", api.RouteSelectionExpression, api.RouteSelectionPath)
			}
			wantRoutes := map[string]string{
				"$connect": "ConnectFunction", "$disconnect": "DisconnectFunction", "$default": "DefaultFunction",
				"chat message": "MessageFunction", "direct message": "MessageFunction", "history": "HistoryFunction",
				"who": "PresenceFunction", "typing": "PresenceFunction", "rename": "PresenceFunction", "ping": "",
				"edit": "MessageFunction", "delete": "MessageFunction", "react": "MessageFunction", "block": "PresenceFunction", "unread": "HistoryFunction",
			}
			if got := slices.Sorted(maps.Keys(api.Routes)); !slices.Equal(got, slices.Sorted(maps.Keys(wantRoutes))) {
				t.Fatalf("routes: got %q", got)
			}
			for key, fn := range wantRoutes {
				r := api.Routes[key]
				if r.Integration == nil {
					t.Errorf("route %q: no integration", key)
					continue
				}
				if r.Integration.Function != fn {
					t.Errorf("route %q: function %q, want %q", key, r.Integration.Function, fn)
				}
				if r.Authorizer != nil || r.RouteResponse {
					t.Errorf("route %q: authorizer %v, route response %v", key, r.Authorizer, r.RouteResponse)
				}
				if r.Integration.Timeout != 29*time.Second {
					t.Errorf("route %q: timeout %v", key, r.Integration.Timeout)
				}
			}
			if in := api.Routes["ping"].Integration; in.Type != Mock || in.MockStatus != 200 || in.MockBody != "" {
				t.Errorf("ping: %+v", in)
			}
			if s := api.Stage; s.Name != tt.stage || s.BurstLimit != tt.burst || s.RateLimit != tt.rate || !s.HasThrottle {
				t.Errorf("stage: %+v", s)
			}
			if got := slices.Sorted(maps.Keys(tpl.Functions)); !slices.Equal(got, []string{
				"ConnectFunction", "DefaultFunction", "DisconnectFunction", "HistoryFunction", "MessageFunction", "PresenceFunction",
			}) {
				t.Errorf("functions: %q", got)
			}
			msg := tpl.Functions["MessageFunction"]
			want := Function{
				LogicalID: "MessageFunction", CodeURI: ".", Handler: "bootstrap", Runtime: "provided.al2023",
				Architecture: "arm64", BuildMethod: "makefile", Timeout: 25 * time.Second, MemoryMB: 512,
			}
			env := msg.Env
			msg.Env = nil
			if !reflect.DeepEqual(*msg, want) {
				t.Errorf("MessageFunction:\n got %+v\nwant %+v", *msg, want)
			}
			wantEnv := map[string]string{
				"TABLE_NAME": "local-ConnectionsTable", "MESSAGES_TABLE": "local-MessagesTable",
				"ROOM_INDEX_NAME": "room-users", "ROOM_INDEX_FALLBACK": "room-index", "SEQ_INDEX_NAME": "seq-index",
				"HISTORY_RETENTION": tt.historyPeriod, "PRESENCE_LIMIT": "500", "INLINE_LIMIT": "500",
				"LOG_LEVEL": "INFO", "DYNAMODB_ENDPOINT": "", "MANAGEMENT_API_ENDPOINT": "",
				"URL_SUFFIX": "amazonaws.com", "POST_WORKERS": "32",
				"SEND_BURST": "10", "SEND_RATE": "1", "ROOM_CAP": "5000",
				"READ_BURST": "10", "FLOOD_STRIKES": "20", "FLOOD_COOLDOWN": "60s",
				// No mapping for the queue: a Ref gives the logical ID.
				"FANOUT_QUEUE_URL": "FanoutQueue",
				"REVIEW_FUNCTION":  "", "REVIEW_TIMEOUT": "500ms", "REVIEW_FALLBACK": "ALLOW",
			}
			if !maps.Equal(env, wantEnv) {
				t.Errorf("MessageFunction env:\n got %v\nwant %v", env, wantEnv)
			}
			if c := tpl.Functions["ConnectFunction"]; c.Timeout != 10*time.Second || c.MemoryMB != 256 {
				t.Errorf("ConnectFunction (globals): %+v", c)
			}
			if len(tpl.Warnings) != 0 {
				t.Errorf("warnings: %q", tpl.Warnings)
			}
		})
	}
}
