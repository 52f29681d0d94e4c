// Package lambdalog is the Lambda functions' slog logger.
package lambdalog

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// New returns aws-lambda-go's slog logger (JSON when the function's
// LoggingConfig says so, with the request ID of each invocation) at level.
// level wins over AWS_LAMBDA_LOG_LEVEL, which that handler reads itself.
func New(level slog.Level) *slog.Logger {
	return slog.New(leveled{Handler: lambdacontext.NewLogHandler(), level: level})
}

// leveled filters records below its level and hands the rest to Handler,
// whose Handle does not check levels itself.
type leveled struct {
	slog.Handler
	level slog.Level
}

func (h leveled) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h leveled) WithAttrs(attrs []slog.Attr) slog.Handler {
	return leveled{Handler: h.Handler.WithAttrs(attrs), level: h.level}
}

func (h leveled) WithGroup(name string) slog.Handler {
	return leveled{Handler: h.Handler.WithGroup(name), level: h.level}
}
