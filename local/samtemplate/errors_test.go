package samtemplate

import (
	"strings"
	"testing"
)

func TestUnsupported(t *testing.T) {
	_, err := Load("testdata/unsupported.yaml", Options{})
	if err == nil {
		t.Fatal("loaded a template the emulator cannot honour")
	}
	msg := err.Error()
	for _, want := range []string{
		"testdata/unsupported.yaml: BadApi (AWS::ApiGatewayV2::Api): property ApiKeySelectionExpression is not supported",
		"IamRoute (AWS::ApiGatewayV2::Route): property AuthorizationType \"AWS_IAM\" is not supported",
		"KeyRoute (AWS::ApiGatewayV2::Route): property ApiKeyRequired true is not supported",
		"LostRoute (AWS::ApiGatewayV2::Route): property Target \"integrations/abc123\" names no integration",
		"ProxyIntegration (AWS::ApiGatewayV2::Integration): property ContentHandlingStrategy is not supported",
		"ProxyIntegration (AWS::ApiGatewayV2::Integration): property RequestParameters is not supported",
		"HttpIntegration (AWS::ApiGatewayV2::Integration): property IntegrationType \"HTTP_PROXY\" is not supported",
		"JwtAuthorizer (AWS::ApiGatewayV2::Authorizer): property AuthorizerType \"JWT\" is not supported",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(msg)
	}
}

// inline builds a template around a WebSocket API whose extra resources
// (and Api properties) are given.
func inline(apiProps, resources string) string {
	return `
Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      ProtocolType: WEBSOCKET
      RouteSelectionExpression: $request.body.action
` + apiProps + `
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties: {ApiId: !Ref Api, StageName: s}
  Route:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: $default, Target: !Sub "integrations/${Integ}"}
  Integ:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/${Fn.Arn}/invocations"
` + resources
}

const inlineFn = `
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: x, Handler: bootstrap, Runtime: provided.al2023}
`

func TestErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string // substrings of the error; none: loads
	}{
		{"loads", inline("", inlineFn), nil},
		{"not a template", "just text", []string{"template is not a mapping"}},
		{"bad yaml", "Resources: [", []string{"parse YAML"}},
		{"bad json", `{"Resources": `, []string{"parse JSON"}},
		{"unknown tag", "Resources: !Foo x", []string{"unknown tag !Foo"}},
		{"no resources", "Parameters: {}", []string{"Resources is missing"}},
		{"no api", "Resources:\n  T: {Type: AWS::SNS::Topic}", []string{"no WebSocket API"}},
		{"route selection", inline("      ApiKeySelectionExpression: !Ref AWS::NoValue\n", inlineFn+`
  Api2:
    Type: AWS::ApiGatewayV2::Api
    Properties: {ProtocolType: WEBSOCKET, RouteSelectionExpression: "$request.header.x"}
`), []string{"Api2 (AWS::ApiGatewayV2::Api): property RouteSelectionExpression: \"$request.header.x\" is not supported",
			"Api2 (AWS::ApiGatewayV2::Api): has no AWS::ApiGatewayV2::Stage"}},
		{"no function", inline("", ""), []string{"Integ (AWS::ApiGatewayV2::Integration): property IntegrationUri: Fn::Sub ${Fn.Arn}: Fn::GetAtt to unknown resource Fn"}},
		{"env unresolved", inline("", `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: x
      Runtime: provided.al2023
      Environment:
        Variables:
          QUEUE_ARN: !GetAtt Queue.Arn
          MISSING: !Ref Nope
  Queue: {Type: AWS::SQS::Queue}
`), []string{
			"Fn (AWS::Serverless::Function): environment variable MISSING: Ref to unknown name Nope",
			"Fn (AWS::Serverless::Function): environment variable QUEUE_ARN: Fn::GetAtt Queue.Arn cannot be resolved locally",
		}},
		{"two architectures", inline("", `
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: x, Runtime: provided.al2023, Architectures: [arm64, x86_64]}
`), []string{"property Architectures: want one architecture"}},
		{"parameter without value", "Parameters:\n  P: {Type: String}\n" + inline("", inlineFn+`
  Api2:
    Type: AWS::ApiGatewayV2::Api
    Properties: {ProtocolType: WEBSOCKET, RouteSelectionExpression: !Ref P}
`), []string{"property RouteSelectionExpression: parameter P has no Default"}},
		{"allowed values", "Parameters:\n  P: {Type: String, Default: a, AllowedValues: [a, b]}\n" + inline("", inlineFn), nil},
		{"condition cycle", "Conditions:\n  A: !Condition B\n  B: !Not [!Condition A]\n" + inline("", inlineFn+`
  Extra:
    Type: AWS::SNS::Topic
    Condition: A
`), []string{"refers to itself"}},
		{"second stage, mock VTL, route response key", inline("", inlineFn+`
  Stage2:
    Type: AWS::ApiGatewayV2::Stage
    Properties: {ApiId: !Ref Api, StageName: t}
  MockRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: m, Target: !Sub "integrations/${Mock}"}
  Mock:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationType: MOCK
      RequestTemplates: {$default: "#set($x = 1) {\"statusCode\": 200}"}
  MockRouteResponse:
    Type: AWS::ApiGatewayV2::RouteResponse
    Properties: {ApiId: !Ref Api, RouteId: !Ref MockRoute, RouteResponseKey: error}
`), []string{
			"Stage2 (AWS::ApiGatewayV2::Stage): API Api has a second stage",
			"Mock (AWS::ApiGatewayV2::Integration): property RequestTemplates.$default",
			"MockRouteResponse (AWS::ApiGatewayV2::RouteResponse): property RouteResponseKey \"error\" is not supported",
		}},
		{"custom auth off $connect", inline("", inlineFn+`
  Auth:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref Api
      Name: a
      AuthorizerType: REQUEST
      AuthorizerUri: !Sub "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/${Fn.Arn}/invocations"
      IdentitySource: [route.request.header.Auth]
      AuthorizerResultTtlInSeconds: 300
  AuthRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: x, AuthorizationType: CUSTOM, AuthorizerId: !Ref Auth, Target: !Sub "integrations/${Integ}"}
`), []string{
			"Auth (AWS::ApiGatewayV2::Authorizer): property AuthorizerResultTtlInSeconds is not supported",
			"AuthRoute (AWS::ApiGatewayV2::Route): property AuthorizationType CUSTOM is not supported on route \"x\"",
		}},
		{"sam websocket", `
Resources:
  Ws:
    Type: AWS::Serverless::WebSocketApi
    Properties:
      RouteSelectionExpression: $request.body.action
      ApiKeySelectionExpression: $request.header.x-api-key
      Auth: {AuthType: AWS_IAM}
      Routes:
        $connect: {FunctionArn: !GetAtt Fn.Arn, RequestParameters: {route.request.querystring.t: {Required: true}}}
        chat-message: {FunctionArn: !GetAtt Fn.Arn}
        send: {FunctionArn: !GetAtt Fn.Arn, ApiKeyRequired: true}
` + inlineFn, []string{
			"Ws (AWS::Serverless::WebSocketApi): property ApiKeySelectionExpression is not supported",
			"Ws (AWS::Serverless::WebSocketApi): property Auth.AuthType \"AWS_IAM\" is not supported",
			"Ws (AWS::Serverless::WebSocketApi): property Routes.$connect.RequestParameters is not supported",
			"Ws (AWS::Serverless::WebSocketApi): property Routes.chat-message: the route key must be alphanumeric",
			"Ws (AWS::Serverless::WebSocketApi): property Routes.send.ApiKeyRequired true is not supported",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), Options{})
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	tpl, err := Parse([]byte(inline("", `
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: x, Handler: app.handler, Runtime: ruby3.3, Layers: [arn:aws:lambda:us-east-1:1:layer:l:1]}
`)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(tpl.Warnings, "\n")
	for _, w := range []string{"Runtime \"ruby3.3\"", "need -lambda-endpoint", "Layers: layers are not mounted"} {
		if !strings.Contains(got, w) {
			t.Errorf("warnings lack %q: %q", w, tpl.Warnings)
		}
	}
}

// TestSelectionOfSeveralVariables: AWS documents route selection
// expressions of several variables with text between them; they load,
// with the expression kept as written for the gateway.
func TestSelectionOfSeveralVariables(t *testing.T) {
	src := strings.Replace(inline("", inlineFn), "RouteSelectionExpression: $request.body.action",
		`RouteSelectionExpression: "${request.body.service}/${request.body.action}"`, 1)
	tpl, err := Parse([]byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tpl.APIs[0].RouteSelectionExpression, "${request.body.service}/${request.body.action}"; got != want {
		t.Errorf("RouteSelectionExpression %q, want %q", got, want)
	}
	if tpl.APIs[0].RouteSelectionPath != nil {
		t.Errorf("RouteSelectionPath %q, want nil for several variables", tpl.APIs[0].RouteSelectionPath)
	}
}
