// Command authorizer is the chat's $connect REQUEST authorizer (template
// parameter AuthMode=jwt): it verifies the JWT in ?token= against the
// issuer's JWKS and lets the connection in as the token's user. It makes no
// AWS SDK call, so it does not use internal/lambdaapp (nor link its
// tracer); sam build runs the Makefile's build-AuthorizerFunction target on
// it.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/serverless-chat/chat/internal/auth"
	"github.com/serverless-chat/chat/internal/config"
	"github.com/serverless-chat/chat/internal/lambdalog"
)

// The key set is fetched once per execution environment, at init, and kept
// across invocations.
func main() {
	ctx := context.Background()
	cfg, err := config.LoadAuthorizer(os.LookupEnv)
	if err != nil {
		slog.New(lambdacontext.NewLogHandler()).Error("authorizer cannot start", slog.Any("error", err))
		os.Exit(1)
	}
	log := lambdalog.New(cfg.LogLevel)
	v, err := auth.NewVerifier(ctx, auth.Config{Issuer: cfg.Issuer, Audience: cfg.Audience, JWKSURL: cfg.JWKSURL, Logger: log})
	if err != nil {
		log.Error("authorizer cannot start", slog.Any("error", err))
		os.Exit(1)
	}
	lambda.Start((&auth.Authorizer{Verifier: v, Logger: log}).Authorize)
}
