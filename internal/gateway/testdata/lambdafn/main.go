// Command lambdafn is a Lambda function for the gateway's Lambda-invoke
// tests, run under aws-lambda-rie. What it does depends on the event:
//
//   - $connect: 403 if the query has refuse=1, else 200 echoing a requested
//     Sec-WebSocket-Protocol.
//   - {"action":"echo"}: posts the event it received, as JSON, to its own
//     connection through MANAGEMENT_API_ENDPOINT/@connections/{id}.
//   - {"action":"fail"}: returns an error (a function error).
//   - {"action":"sleep"}: sleeps past the gateway's integration timeout.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func handle(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	ok := events.APIGatewayProxyResponse{StatusCode: 200}
	if req.RequestContext.RouteKey == "$connect" {
		if req.QueryStringParameters["refuse"] == "1" {
			return events.APIGatewayProxyResponse{StatusCode: 403, Body: "refused by the function"}, nil
		}
		if p := req.Headers["Sec-WebSocket-Protocol"]; p != "" {
			ok.Headers = map[string]string{"Sec-WebSocket-Protocol": p}
		}
		return ok, nil
	}
	var body struct{ Action string }
	_ = json.Unmarshal([]byte(req.Body), &body)
	switch body.Action {
	case "fail":
		return ok, errors.New("the function failed")
	case "sleep":
		time.Sleep(3 * time.Second)
	case "echo":
		event, _ := json.Marshal(req)
		u := os.Getenv("MANAGEMENT_API_ENDPOINT") + "/@connections/" + url.PathEscape(req.RequestContext.ConnectionID)
		r, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(event))
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			return ok, err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return ok, fmt.Errorf("post: %s", resp.Status)
		}
	}
	return ok, nil
}

func main() { lambda.Start(handle) }
