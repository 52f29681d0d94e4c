// Command fn is the functions of the test game API, by ROLE: "authorizer"
// lets token "good" in (as user-1), "game" answers the routes.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	if os.Getenv("ROLE") == "authorizer" {
		lambda.Start(authorize)
	}
	lambda.Start(game)
}

func authorize(_ context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	effect := "Deny"
	if req.QueryStringParameters["token"] == "good" {
		effect = "Allow"
	}
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: "user-1",
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{Version: "2012-10-17", Statement: []events.IAMPolicyStatement{
			{Action: []string{"execute-api:Invoke"}, Effect: effect, Resource: []string{req.MethodArn}},
		}},
		Context: map[string]any{"player": "p1"},
	}, nil
}

// game answers move (two-way: the reply goes back), boom (fails), slow
// (after 3 s) and
// anything else (one-way: nothing goes back).
func game(_ context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	var body struct {
		Meta struct{ Kind string } `json:"meta"`
		X    int                   `json:"x"`
	}
	_ = json.Unmarshal([]byte(req.Body), &body)
	switch req.RequestContext.RouteKey {
	case "move":
		auth, _ := req.RequestContext.Authorizer.(map[string]any)
		reply, _ := json.Marshal(map[string]any{"moved": body.X, "player": auth["player"], "greeting": os.Getenv("GREETING")})
		return events.APIGatewayProxyResponse{StatusCode: 200, Body: string(reply)}, nil
	case "boom":
		return events.APIGatewayProxyResponse{}, errors.New("boom")
	case "slow":
		time.Sleep(3 * time.Second)
	}
	return events.APIGatewayProxyResponse{StatusCode: 200, Body: "not sent: one-way route"}, nil
}
