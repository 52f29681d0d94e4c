package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Authorizer is a Lambda REQUEST authorizer on $connect, run as API Gateway
// runs it: the identity sources are checked first (any missing: 401, and
// the function is not called), then the function's policy decides (Deny or
// no matching Allow: 403; a failure: 500; the error "Unauthorized": 401).
// Its principalId and context reach requestContext.authorizer of every
// event of the connection.
type Authorizer struct {
	// IdentitySource are API Gateway's selection expressions:
	// route.request.querystring.NAME, route.request.header.NAME,
	// stageVariables.NAME and context.NAME (a requestContext field, e.g.
	// context.routeKey or context.identity.sourceIp).
	IdentitySource []string
	Function       AuthorizerFunction
}

// AuthorizerFunction is the function behind an Authorizer.
type AuthorizerFunction interface {
	Authorize(ctx context.Context, req AuthorizerRequest) (events.APIGatewayCustomAuthorizerResponse, error)
}

// AuthorizerRequest is the event of a REQUEST authorizer for $connect,
// shaped as API Gateway sends it (aws-lambda-go's
// APIGatewayCustomAuthorizerRequestTypeRequest decodes it).
type AuthorizerRequest struct {
	Type                            string                                        `json:"type"`
	MethodArn                       string                                        `json:"methodArn"`
	Headers                         map[string]string                             `json:"headers,omitempty"`
	MultiValueHeaders               map[string][]string                           `json:"multiValueHeaders,omitempty"`
	QueryStringParameters           map[string]string                             `json:"queryStringParameters,omitempty"`
	MultiValueQueryStringParameters map[string][]string                           `json:"multiValueQueryStringParameters,omitempty"`
	StageVariables                  map[string]string                             `json:"stageVariables,omitempty"`
	RequestContext                  events.APIGatewayWebsocketProxyRequestContext `json:"requestContext"`
}

// ErrUnauthorized is what an authorizer function returns, as the error
// message "Unauthorized", to have API Gateway answer 401.
var ErrUnauthorized = errors.New("Unauthorized")

// InProcessAuthorizer runs a Go authorizer handler in process. The event
// and the response go through JSON, as they do to and from Lambda, so the
// handler sees exactly what it would deployed.
type InProcessAuthorizer func(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error)

// Authorize calls f with req decoded as f's event type.
func (f InProcessAuthorizer) Authorize(ctx context.Context, req AuthorizerRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	var resp events.APIGatewayCustomAuthorizerResponse
	b, err := json.Marshal(req)
	if err != nil {
		return resp, err
	}
	var in events.APIGatewayCustomAuthorizerRequestTypeRequest
	if err := json.Unmarshal(b, &in); err != nil {
		return resp, err
	}
	out, err := f(ctx, in)
	if err != nil {
		if err.Error() == ErrUnauthorized.Error() {
			return resp, ErrUnauthorized
		}
		return resp, fmt.Errorf("%w: %w", ErrFunctionError, err)
	}
	b, err = json.Marshal(out)
	if err != nil {
		return resp, err
	}
	return resp, json.Unmarshal(b, &resp)
}

// Authorize invokes the authorizer function through the Lambda Invoke API.
// Its error "Unauthorized" is ErrUnauthorized.
func (l *Lambda) Authorize(ctx context.Context, req AuthorizerRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	var resp events.APIGatewayCustomAuthorizerResponse
	payload, err := l.call(ctx, req)
	var fe *functionError
	if errors.As(err, &fe) && fe.message == ErrUnauthorized.Error() {
		return resp, ErrUnauthorized
	}
	if err != nil {
		return resp, err
	}
	resp, err = decodeAuthorizerResponse(payload)
	if err != nil {
		return resp, fmt.Errorf("invoke %s: malformed authorizer response %q: %w", l.function, truncate(payload, 128), err)
	}
	return resp, nil
}

// decodeAuthorizerResponse decodes an authorizer's answer as IAM reads its
// policy: a statement's Action and Resource may each be one string or a
// list of them, and Statement one statement or a list (AWS's own
// authorizer examples write "Action": "execute-api:Invoke").
func decodeAuthorizerResponse(payload []byte) (events.APIGatewayCustomAuthorizerResponse, error) {
	var doc struct {
		PrincipalID    string         `json:"principalId"`
		Context        map[string]any `json:"context,omitempty"`
		PolicyDocument struct {
			Version   string
			Statement oneOrMany[struct {
				Action   oneOrMany[string]
				Effect   string
				Resource oneOrMany[string]
			}]
		} `json:"policyDocument"`
		UsageIdentifierKey string `json:"usageIdentifierKey,omitempty"`
	}
	if err := json.Unmarshal(payload, &doc); err != nil {
		return events.APIGatewayCustomAuthorizerResponse{}, err
	}
	resp := events.APIGatewayCustomAuthorizerResponse{
		PrincipalID:        doc.PrincipalID,
		Context:            doc.Context,
		UsageIdentifierKey: doc.UsageIdentifierKey,
		PolicyDocument:     events.APIGatewayCustomAuthorizerPolicy{Version: doc.PolicyDocument.Version},
	}
	for _, s := range doc.PolicyDocument.Statement {
		resp.PolicyDocument.Statement = append(resp.PolicyDocument.Statement,
			events.IAMPolicyStatement{Action: s.Action, Effect: s.Effect, Resource: s.Resource})
	}
	return resp, nil
}

// oneOrMany is a JSON value that is either one T or a list of them, as
// IAM policy elements are.
type oneOrMany[T any] []T

func (o *oneOrMany[T]) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, (*[]T)(o))
	}
	var one T
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*o = oneOrMany[T]{one}
	return nil
}

// authorize runs the authorizer for a handshake. It returns the
// requestContext.authorizer value of the connection, or the status and
// body that refuse the handshake.
func (g *Gateway) authorize(ctx context.Context, c *conn, connect events.APIGatewayWebsocketProxyRequest) (map[string]any, int, string) {
	a := g.authorizer
	for _, src := range a.IdentitySource {
		if g.identityValue(src, connect) == "" {
			return nil, http.StatusUnauthorized, `{"message":"Unauthorized"}`
		}
	}
	req := AuthorizerRequest{
		Type:                            "REQUEST",
		MethodArn:                       g.methodARN(RouteConnect),
		Headers:                         connect.Headers,
		MultiValueHeaders:               connect.MultiValueHeaders,
		QueryStringParameters:           connect.QueryStringParameters,
		MultiValueQueryStringParameters: connect.MultiValueQueryStringParameters,
		StageVariables:                  g.stageVariables,
		RequestContext:                  connect.RequestContext,
	}
	ctx, cancel := context.WithTimeout(ctx, g.limits.IntegrationTimeout)
	defer cancel()
	start := time.Now()
	resp, err := a.Function.Authorize(ctx, req)
	switch {
	case errors.Is(err, ErrUnauthorized):
		return nil, http.StatusUnauthorized, `{"message":"Unauthorized"}`
	case err != nil:
		g.log.Error("authorizer failed", slog.String("connectionId", c.id), slog.Any("error", err))
		return nil, http.StatusInternalServerError, `{"message":"Internal server error"}`
	case !allows(resp.PolicyDocument, req.MethodArn):
		return nil, http.StatusForbidden, `{"message":"Forbidden"}`
	}
	out := map[string]any{}
	for k, v := range resp.Context {
		out[k] = v
	}
	out["principalId"] = resp.PrincipalID
	out["integrationLatency"] = time.Since(start).Milliseconds()
	return out, 0, ""
}

// identityValue returns the value an identity source selects, or "": a
// query string parameter, a header (any case), a stage variable, or a
// field of the request context (context.routeKey,
// context.identity.sourceIp), named as in the event.
func (g *Gateway) identityValue(src string, connect events.APIGatewayWebsocketProxyRequest) string {
	if name, ok := strings.CutPrefix(src, "route.request.querystring."); ok {
		return connect.QueryStringParameters[name]
	}
	if name, ok := strings.CutPrefix(src, "route.request.header."); ok {
		for k, v := range connect.Headers {
			if strings.EqualFold(k, name) {
				return v
			}
		}
	}
	if name, ok := strings.CutPrefix(src, "stageVariables."); ok {
		return g.stageVariables[name]
	}
	if name, ok := strings.CutPrefix(src, "context."); ok {
		return contextValue(connect.RequestContext, strings.Split(name, "."))
	}
	return ""
}

// contextValue is the scalar at path in the request context as its event
// JSON names it, as text; "" when absent, empty or not a scalar.
func contextValue(rc events.APIGatewayWebsocketProxyRequestContext, path []string) string {
	b, err := json.Marshal(rc)
	if err != nil {
		return ""
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return ""
	}
	for _, member := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[member]
	}
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return fmt.Sprint(v)
	}
	return ""
}

// methodARN is the ARN of a route of this API and stage, as authorizer
// policies name it.
func (g *Gateway) methodARN(routeKey string) string {
	return fmt.Sprintf("arn:aws:execute-api:%s:%s:%s/%s/%s", g.region, AccountID, g.apiID, g.stage, routeKey)
}

// AccountID is the account of the emulated API, in ARNs.
const AccountID = "123456789012"

// allows evaluates a policy as IAM does for one action on one resource: an
// explicit Deny wins, else an Allow is needed.
func allows(p events.APIGatewayCustomAuthorizerPolicy, resource string) bool {
	allowed := false
	for _, s := range p.Statement {
		if !matchesAny(s.Action, "execute-api:Invoke") || !matchesAny(s.Resource, resource) {
			continue
		}
		switch s.Effect {
		case "Deny":
			return false
		case "Allow":
			allowed = true
		}
	}
	return allowed
}

// matchesAny reports whether one of the patterns (with IAM's * and ?
// wildcards, case-sensitive) matches s.
func matchesAny(patterns []string, s string) bool {
	for _, p := range patterns {
		// path.Match's * stops at "/"; IAM's does not: match with "/"
		// made ordinary on both sides.
		p2 := strings.ReplaceAll(strings.ReplaceAll(p, "[", `\[`), "/", "\x00")
		if ok, err := path.Match(p2, strings.ReplaceAll(s, "/", "\x00")); err == nil && ok {
			return true
		}
	}
	return false
}
