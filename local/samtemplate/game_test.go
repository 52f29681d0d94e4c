package samtemplate

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// gameAPI is the API of testdata/game_*.yaml, logical IDs left out (the
// SAM form's are generated).
func gameAPI(stage string, status bool) *API {
	connect := &Integration{Type: AWSProxy, Function: "ConnectFn", Timeout: 29 * time.Second}
	api := &API{
		RouteSelectionExpression: "$request.body.meta.kind",
		RouteSelectionPath:       []string{"meta", "kind"},
		Stage: Stage{
			Name: stage, BurstLimit: 50, RateLimit: 10, HasThrottle: true,
			RouteThrottle: map[string]Throttle{"move": {BurstLimit: 5, RateLimit: 10}},
			Variables:     map[string]string{"mode": "full"},
		},
		Routes: map[string]*Route{
			"$connect": {Key: "$connect", Integration: connect, Authorizer: &Authorizer{
				Name: "GameAuth", Function: "AuthFn", IdentitySource: []string{"route.request.querystring.token"},
			}},
			"$disconnect": {Key: "$disconnect", Integration: connect},
			"move": {Key: "move", RouteResponse: true,
				Integration: &Integration{Type: AWSProxy, Function: "MoveFn", Timeout: 5 * time.Second}},
		},
	}
	if status {
		api.Routes["status"] = &Route{Key: "status", RouteResponse: true,
			Integration: &Integration{Type: Mock, Timeout: 29 * time.Second, MockStatus: 200, MockBody: `{"status": "up"}`}}
	} else {
		api.Stage.Variables["mode"] = "lean"
	}
	return api
}

// withoutIDs clears the logical IDs of a to compare forms.
func withoutIDs(a *API) *API {
	c := *a
	c.LogicalID = ""
	c.Stage.LogicalID = ""
	c.Routes = map[string]*Route{}
	for k, r := range a.Routes {
		rc := *r
		rc.LogicalID = ""
		if r.Integration != nil {
			ic := *r.Integration
			ic.LogicalID = ""
			rc.Integration = &ic
		}
		if r.Authorizer != nil {
			ac := *r.Authorizer
			ac.LogicalID = ""
			rc.Authorizer = &ac
		}
		c.Routes[k] = &rc
	}
	return &c
}

func TestGameTemplates(t *testing.T) {
	tests := []struct {
		file   string
		params map[string]string
		stage  string
		status bool
		// translated: the SAM translator's output, whose functions are
		// AWS::Lambda::Function with code on S3.
		translated bool
	}{
		{file: "game_raw.yaml", stage: "dev", status: true},
		{file: "game_sam.yaml", stage: "dev", status: true},
		{file: "game_sam_translated.json", stage: "dev", status: true, translated: true},
		{file: "game_raw.yaml", params: map[string]string{"Stage": "beta", "EnableStatus": "false"}, stage: "beta"},
		{file: "game_sam.yaml", params: map[string]string{"Stage": "beta", "EnableStatus": "false"}, stage: "beta"},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.stage, func(t *testing.T) {
			tpl, err := Load("testdata/"+tt.file, Options{Parameters: tt.params, StackName: "game"})
			if err != nil {
				t.Fatal(err)
			}
			if len(tpl.APIs) != 1 || tpl.APIs[0].LogicalID != "GameApi" {
				t.Fatalf("APIs: %+v", tpl.APIs)
			}
			got, want := withoutIDs(tpl.APIs[0]), gameAPI(tt.stage, tt.status)
			if !reflect.DeepEqual(got.Stage, want.Stage) {
				t.Errorf("stage:\n got %+v\nwant %+v", got.Stage, want.Stage)
			}
			for _, k := range slices.Sorted(maps.Keys(want.Routes)) {
				if !reflect.DeepEqual(got.Routes[k], want.Routes[k]) {
					t.Errorf("route %q:\n got %+v\nwant %+v", k, got.Routes[k], want.Routes[k])
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("API:\n got %+v\nwant %+v", got, want)
			}

			move := tpl.Functions["MoveFn"]
			if move == nil || len(tpl.Functions) != 3 {
				t.Fatalf("functions: %v", tpl.Functions)
			}
			wantEnv := map[string]string{"GAMES_TABLE": "GamesTable", "RULES": "game-rules"}
			if !tt.status {
				wantEnv["DEBUG"] = "0"
			}
			if !reflect.DeepEqual(move.Env, wantEnv) {
				t.Errorf("MoveFn env: %v, want %v", move.Env, wantEnv)
			}
			if move.MemoryMB != 1024 || move.Timeout != 5*time.Second || move.Architecture != "arm64" || move.Runtime != "provided.al2023" {
				t.Errorf("MoveFn: %+v", move)
			}
			auth := tpl.Functions["AuthFn"]
			if auth.Timeout != 3*time.Second {
				t.Errorf("AuthFn: %+v", auth)
			}
			if tt.translated {
				if move.CodeURI != "" || len(tpl.Warnings) != 3 {
					t.Errorf("translated: CodeURI %q, warnings %q", move.CodeURI, tpl.Warnings)
				}
				return
			}
			if move.CodeURI != "functions/move" || auth.BuildMethod != "go1.x" || len(tpl.Warnings) != 0 {
				t.Errorf("CodeURI %q, BuildMethod %q, warnings %q", move.CodeURI, auth.BuildMethod, tpl.Warnings)
			}
		})
	}
}

// The emulator's Resource hook decides what a function ARN and a table
// become; the integration still knows its function.
func TestResourceHook(t *testing.T) {
	hook := func(id, typ, attr string) (string, bool) {
		switch {
		case typ == "AWS::Serverless::Function" && attr == "Arn":
			return "local-fn-" + strings.ToLower(id), true
		case typ == "AWS::DynamoDB::Table":
			return "games-local", true
		}
		return "", false
	}
	for _, file := range []string{"game_raw.yaml", "game_sam.yaml"} {
		tpl, err := Load("testdata/"+file, Options{Resource: hook})
		if err != nil {
			t.Fatal(err)
		}
		r := tpl.APIs[0].Routes
		if r["move"].Integration.Function != "MoveFn" || r["$connect"].Authorizer.Function != "AuthFn" {
			t.Errorf("%s: functions not tracked through the hook: %+v", file, r["move"].Integration)
		}
		if got := tpl.Functions["MoveFn"].Env["GAMES_TABLE"]; got != "games-local" {
			t.Errorf("%s: GAMES_TABLE %q", file, got)
		}
	}
}
