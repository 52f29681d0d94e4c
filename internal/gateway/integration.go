package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Integration is the backend of a route: what API Gateway's Lambda proxy
// integration calls with the event and whose response it reads.
type Integration interface {
	Invoke(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)
}

// IntegrationFunc adapts a function, such as a method of handler.Handler,
// to Integration: the in-process integration, which runs the same code as
// the Lambda functions.
type IntegrationFunc func(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)

// Invoke calls f.
func (f IntegrationFunc) Invoke(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return f(ctx, req)
}

var (
	// ErrIntegrationTimeout means the integration did not answer within the
	// integration timeout (API Gateway's 29 seconds).
	ErrIntegrationTimeout = errors.New("integration timed out")
	// ErrFunctionError means the Lambda function failed: it returned an
	// error, panicked or timed out (X-Amz-Function-Error).
	ErrFunctionError = errors.New("function error")
)

// LambdaAPI is the call the Lambda integration makes; *lambda.Client
// implements it.
type LambdaAPI interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

var _ LambdaAPI = (*lambda.Client)(nil)

// Lambda is an integration that calls a function through the Lambda Invoke
// API (RequestResponse), as API Gateway does. Point the client at
// `sam local start-lambda` (one endpoint; function names are the template's
// logical IDs) or at one aws-lambda-rie per function (function name
// "function").
type Lambda struct {
	client   LambdaAPI
	function string
	// slots bounds concurrent invocations; nil means no bound.
	slots chan struct{}
}

// NewLambda returns an integration invoking function through client, with
// at most concurrency invocations at once (0: no bound). The Runtime
// Interface Emulator runs one invocation at a time, so give it 1.
func NewLambda(client LambdaAPI, function string, concurrency int) *Lambda {
	l := &Lambda{client: client, function: function}
	if concurrency > 0 {
		l.slots = make(chan struct{}, concurrency)
	}
	return l
}

// Invoke sends the event to the function and decodes its proxy response. A
// function error is returned as an error wrapping ErrFunctionError.
func (l *Lambda) Invoke(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	var resp events.APIGatewayProxyResponse
	payload, err := l.call(ctx, req)
	if err != nil {
		return resp, err
	}
	if err := json.Unmarshal(payload, &resp); err != nil {
		return resp, fmt.Errorf("invoke %s: malformed proxy response %q: %w", l.function, truncate(payload, 128), err)
	}
	return resp, nil
}

// functionError is a function's failure: its error document's message.
type functionError struct {
	function, message string
	payload           []byte
}

func (e *functionError) Error() string {
	return fmt.Sprintf("invoke %s: %v: %s", e.function, ErrFunctionError, truncate(e.payload, 512))
}

func (e *functionError) Unwrap() error { return ErrFunctionError }

// call invokes the function with event (RequestResponse, as API Gateway
// does) within the concurrency bound, and returns its output. A function
// error is a *functionError.
func (l *Lambda) call(ctx context.Context, event any) ([]byte, error) {
	if l.slots != nil {
		select {
		case l.slots <- struct{}{}:
			defer func() { <-l.slots }()
		case <-ctx.Done():
			return nil, fmt.Errorf("invoke %s: waiting for a free instance: %w", l.function, ctx.Err())
		}
	}
	payload, err := json.Marshal(event)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: encode event: %w", l.function, err)
	}
	out, err := l.client.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(l.function),
		InvocationType: types.InvocationTypeRequestResponse,
		Payload:        payload,
	})
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", l.function, err)
	}
	// The emulators do not always set X-Amz-Function-Error; the runtime's
	// error document is unmistakable.
	if out.FunctionError != nil || isErrorPayload(out.Payload) {
		var doc struct {
			ErrorMessage string `json:"errorMessage"`
		}
		_ = json.Unmarshal(out.Payload, &doc)
		return nil, &functionError{function: l.function, message: doc.ErrorMessage, payload: out.Payload}
	}
	return out.Payload, nil
}

// isErrorPayload reports whether a function's output is the runtime's error
// document ({"errorMessage": ..., "errorType": ...}) rather than a response.
func isErrorPayload(p []byte) bool {
	var doc struct {
		ErrorMessage *string         `json:"errorMessage"`
		StatusCode   json.RawMessage `json:"statusCode"`
	}
	if json.Unmarshal(p, &doc) != nil {
		return false
	}
	return doc.ErrorMessage != nil && doc.StatusCode == nil
}

func truncate(p []byte, n int) string {
	p = bytes.TrimSpace(p)
	if len(p) > n {
		return string(p[:n]) + "..."
	}
	return string(p)
}
