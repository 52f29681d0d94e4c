package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/review"
	"github.com/serverless-chat/chat/local/runtimeapi"
)

// reviewFunctionName is the review function's name under the built-in
// Runtime API (its AWS_LAMBDA_FUNCTION_NAME and log attribute).
const reviewFunctionName = "ReviewFunction"

// newReview makes the -review hook, the same chat.ReviewPolicy the
// deployed message function builds from REVIEW_FUNCTION:
//
//	words:mask=darn,heck;deny=spam   the example rule, in process
//	http://127.0.0.1:9001[#Name]     a Lambda Invoke API (aws-lambda-rie:
//	                                 function name "function", the default;
//	                                 sam local start-lambda: #LogicalID)
//	path/to/bootstrap                a review function's bootstrap, run
//	                                 under the built-in Runtime API with
//	                                 -review-env
//
// The returned stop ends the bootstrap's processes.
func newReview(ctx context.Context, cfg config, log *slog.Logger) (chat.ReviewPolicy, func(), error) {
	p := chat.ReviewPolicy{Timeout: cfg.reviewTimeout, FallbackDeny: cfg.reviewFallback == "deny"}
	spec := cfg.review
	switch {
	case spec == "":
		return chat.ReviewPolicy{}, func() {}, nil
	case strings.HasPrefix(spec, "words:"):
		var mask, deny []string
		for _, part := range strings.Split(strings.TrimPrefix(spec, "words:"), ";") {
			key, list, _ := strings.Cut(part, "=")
			switch strings.TrimSpace(key) {
			case "mask":
				mask = review.ParseList(list)
			case "deny":
				deny = review.ParseList(list)
			default:
				return p, nil, fmt.Errorf("-review %q: want words:mask=a,b;deny=c", spec)
			}
		}
		p.Reviewer = review.NewWords(mask, deny)
		log.Info("message review", slog.String("mode", "words"), slog.Any("mask", mask), slog.Any("deny", deny))
		return p, func() {}, nil
	case strings.HasPrefix(spec, "http://") || strings.HasPrefix(spec, "https://"):
		u, err := url.Parse(spec)
		if err != nil {
			return p, nil, fmt.Errorf("-review: %w", err)
		}
		name := u.Fragment
		if name == "" {
			name = "function"
		}
		u.Fragment = ""
		p.Reviewer = review.Lambda{Client: lambdaClient(cfg)(u.String()), Function: name}
		log.Info("message review", slog.String("mode", "endpoint"), slog.String("endpoint", u.String()), slog.String("function", name))
		return p, func() {}, nil
	}
	pool, err := runtimeapi.Start(ctx, runtimeapi.Function{Name: reviewFunctionName, Bootstrap: spec, Env: cfg.reviewEnv,
		MaxProcs: cfg.maxProcs, Logger: log, Region: cfg.region})
	if err != nil {
		return p, nil, fmt.Errorf("-review %s: %w", spec, err)
	}
	p.Reviewer = review.Lambda{Client: pool, Function: reviewFunctionName}
	if cfg.invoke != nil {
		// The template's functions reach it as deployed ones would: by
		// name (ReviewFunctionArn=ReviewFunction), through the SDK.
		cfg.invoke.add(reviewFunctionName, pool)
	}
	log.Info("message review", slog.String("mode", "bootstrap"), slog.String("bootstrap", spec))
	return p, func() { _ = pool.Close() }, nil
}

// envFlag collects repeated KEY=VALUE values.
type envFlag map[string]string

func (f envFlag) String() string {
	var parts []string
	for k, v := range f {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, " ")
}

func (f envFlag) Set(s string) error {
	key, value, ok := strings.Cut(s, "=")
	if !ok || key == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	f[key] = value
	return nil
}
