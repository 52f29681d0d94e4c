package functions_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"

	"github.com/serverless-chat/chat/internal/devissuer"
	"github.com/serverless-chat/chat/internal/testenv"
)

// TestAuthorizerUnderRIE runs the built authorizer binary under
// aws-lambda-rie against a development issuer's key set, with the event
// API Gateway sends a REQUEST authorizer for $connect.
func TestAuthorizerUnderRIE(t *testing.T) {
	bins := bootstraps(t)
	iss := testenv.Issuer(t, "chat-client")
	fnURL, logPath := startRIE(t, "authorizer", bins["AuthorizerFunction"], map[string]string{
		"JWT_ISSUER": iss.URL(), "JWT_AUDIENCE": "chat-client", "AWS_REGION": "eu-west-1", "LOG_LEVEL": "info",
	})
	const arn = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/$connect"
	event := func(token string) map[string]any {
		return map[string]any{
			"type": "REQUEST", "methodArn": arn,
			"headers":               map[string]string{"Host": "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"},
			"queryStringParameters": map[string]string{"room": "general", "token": token},
			"requestContext": map[string]any{"routeKey": "$connect", "eventType": "CONNECT", "connectionId": "Bq3xTdT+joECFJw=",
				"apiId": "a1b2c3d4e5", "stage": "prod", "requestId": "Bq3xTFhRDoEFSxw="},
		}
	}
	authorize := func(token string) (events.APIGatewayCustomAuthorizerResponse, error) {
		var resp events.APIGatewayCustomAuthorizerResponse
		body, err := invokeRaw(fnURL, event(token))
		if err != nil {
			return resp, err
		}
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return resp, nil
	}

	good, _ := iss.IDToken("Alice")
	resp, err := authorize(good)
	if err != nil {
		t.Fatalf("valid token: %v\n%s", err, testenv.ReadLog(logPath))
	}
	if resp.PolicyDocument.Statement[0].Effect != "Allow" || resp.PolicyDocument.Statement[0].Resource[0] != arn ||
		resp.PrincipalID != devissuer.Subject("Alice") || resp.Context["name"] != "Alice" {
		t.Errorf("valid token: %+v", resp)
	}
	expired, _ := iss.Sign(jwt.MapClaims{"iss": iss.URL(), "aud": "chat-client", "sub": "x", "exp": time.Now().Add(-time.Hour).Unix()})
	if resp, err := authorize(expired); err != nil || resp.PolicyDocument.Statement[0].Effect != "Deny" {
		t.Errorf("expired token: %+v, %v; want a Deny", resp, err)
	}
	// A rotated key: fetched on first sight.
	if _, err := iss.AddKey("ES256"); err != nil {
		t.Fatal(err)
	}
	rotated, _ := iss.IDToken("Bob")
	if resp, err := authorize(rotated); err != nil || resp.PolicyDocument.Statement[0].Effect != "Allow" {
		t.Errorf("token of a new key: %+v, %v; want Allow\n%s", resp, err, testenv.ReadLog(logPath))
	}
	if _, err := authorize(""); err == nil || !strings.Contains(err.Error(), `"errorMessage":"Unauthorized"`) {
		t.Errorf("no token: err = %v, want the error \"Unauthorized\" (API Gateway's 401)", err)
	}
}
