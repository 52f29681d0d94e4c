package auth

import (
	"context"
	"errors"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/serverless-chat/chat/internal/chat"
)

// TokenParameter is the query string parameter that carries the token:
// browsers cannot set headers on a WebSocket handshake. The authorizer's
// identity source is route.request.querystring.token.
const TokenParameter = "token"

// ErrUnauthorized is the error whose message, exactly "Unauthorized", makes
// API Gateway answer 401 instead of 500 for a failed authorizer.
var ErrUnauthorized = errors.New("Unauthorized")

// Context keys the authorizer passes to $connect (and every later event of
// the connection) in requestContext.authorizer, with principalId.
const (
	ContextSubject = "sub"
	ContextIssuer  = "iss"
	ContextName    = "name"
)

// TokenVerifier is what the authorizer needs of a Verifier.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (chat.User, error)
}

// Authorizer is the $connect REQUEST authorizer.
type Authorizer struct {
	Verifier TokenVerifier
	Logger   *slog.Logger
}

// Authorize answers API Gateway: an Allow policy on the method ARN (this
// API, stage and $connect) with the user in the context for a valid token,
// a Deny for any other (403), and ErrUnauthorized (401) for none, which API
// Gateway already answers itself when the identity source is missing.
func (a *Authorizer) Authorize(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	log := a.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With(slog.String("apiRequestId", req.RequestContext.RequestID))
	user, err := a.Verifier.Verify(ctx, req.QueryStringParameters[TokenParameter])
	switch {
	case errors.Is(err, ErrNoToken):
		log.InfoContext(ctx, "no token")
		return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
	case err != nil:
		// Which check failed is logged, never told to the client.
		log.InfoContext(ctx, "token refused", slog.Any("error", err))
		return policy("anonymous", "Deny", req.MethodArn, nil), nil
	}
	log.InfoContext(ctx, "token accepted", slog.String("sub", user.ID))
	return policy(user.ID, "Allow", req.MethodArn, map[string]any{ContextSubject: user.ID, ContextIssuer: user.Issuer, ContextName: user.Name}), nil
}

func policy(principal, effect, resource string, context map[string]any) events.APIGatewayCustomAuthorizerResponse {
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: principal,
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
			Version: "2012-10-17",
			Statement: []events.IAMPolicyStatement{{
				Action:   []string{"execute-api:Invoke"},
				Effect:   effect,
				Resource: []string{resource},
			}},
		},
		Context: context,
	}
}
