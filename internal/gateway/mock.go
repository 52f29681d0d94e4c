package gateway

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
)

// Mock is a MOCK integration: API Gateway answers it from the
// integration's own templates and calls no backend, so it costs no Lambda
// invocation. The chat's "ping" route is one: its only purpose is to count
// as activity against the 10-minute idle timeout. As with any route, the
// response reaches the client only through a route response, which this
// gateway does not emulate (see the package documentation), so a Mock
// route sends nothing back.
type Mock struct {
	// StatusCode is the integration response's status (200 if 0).
	StatusCode int
	Body       string
}

// Invoke answers at once, without looking at the request.
func (m Mock) Invoke(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	status := m.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	return events.APIGatewayProxyResponse{StatusCode: status, Body: m.Body}, nil
}
