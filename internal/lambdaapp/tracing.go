package lambdaapp

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-xray-sdk-go/instrumentation/awsv2"
	"github.com/aws/aws-xray-sdk-go/xray"
	"github.com/aws/aws-xray-sdk-go/xraylog"
)

// traceSDK makes every call of the SDK clients built from cfg an X-Ray
// subsegment of the invocation's segment (the one Lambda records with
// Tracing: Active), sent over UDP to the daemon endpoint Lambda runs for the
// function (AWS_XRAY_DAEMON_ADDRESS). The parent comes from the trace header
// aws-lambda-go puts in each invocation's context; an invocation that is not
// sampled (Sampled=0, or no header) sends nothing.
//
// Tracing is best effort and must not fill the function's logs: the X-Ray
// SDK's own messages (a daemon that does not answer, a call outside an
// invocation) go to log at debug level, whatever their level in the SDK.
func traceSDK(cfg *aws.Config, log *slog.Logger) {
	xray.SetLogger(xrayLogger{log: log})
	awsv2.AWSV2Instrumentor(&cfg.APIOptions)
}

// xrayLogger hands the X-Ray SDK's messages to slog at debug level, with
// the SDK's own level as xrayLevel.
type xrayLogger struct{ log *slog.Logger }

func (l xrayLogger) Log(level xraylog.LogLevel, msg fmt.Stringer) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, slog.LevelDebug) {
		return // msg is formatted only when it is written
	}
	l.log.LogAttrs(ctx, slog.LevelDebug, "xray: "+msg.String(), slog.String("xrayLevel", level.String()))
}
