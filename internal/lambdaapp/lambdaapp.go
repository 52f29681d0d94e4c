// Package lambdaapp is the wiring shared by the chat's Lambda functions
// (functions/*, but the authorizer, which makes no SDK call and so links
// no tracer): configuration from the environment, the SDK clients built
// once per execution environment, traced, and the handler.
package lambdaapp

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	lambdasvc "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/serverless-chat/chat/internal/apigw"
	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/config"
	"github.com/serverless-chat/chat/internal/dynamo"
	"github.com/serverless-chat/chat/internal/handler"
	"github.com/serverless-chat/chat/internal/lambdalog"
	"github.com/serverless-chat/chat/internal/metrics"
	"github.com/serverless-chat/chat/internal/review"
	"github.com/serverless-chat/chat/internal/sqsqueue"
)

// DeadlineMargin is the time a broadcast leaves before the invocation's
// deadline to stop posting, log what it did and return.
const DeadlineMargin = 500 * time.Millisecond

// Route is the handler method a function serves, e.g. (*handler.Handler).Connect.
type Route func(*handler.Handler, context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)

// Start builds the handler from the environment and serves route until the
// Lambda runtime stops the process. A bad configuration is logged, every
// problem at once, and the process exits: the function's init fails, before
// any request.
func Start(route Route) {
	h, err := New(context.Background(), os.LookupEnv)
	if err != nil {
		slog.New(lambdacontext.NewLogHandler()).Error("cannot start", slog.Any("error", err))
		os.Exit(1)
	}
	lambda.Start(func(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		return route(h, ctx, req)
	})
}

// StartFanout serves the fan-out function: SQS events of fan-out batches.
func StartFanout() {
	h, err := New(context.Background(), os.LookupEnv)
	if err != nil {
		slog.New(lambdacontext.NewLogHandler()).Error("cannot start", slog.Any("error", err))
		os.Exit(1)
	}
	lambda.Start(h.Fanout)
}

// New returns the handler configured by the environment read through lookup.
func New(ctx context.Context, lookup func(string) (string, bool)) (*handler.Handler, error) {
	cfg, err := config.Load(lookup)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.Region))
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	log := lambdalog.New(cfg.LogLevel)
	// Every client below is built from awsCfg, so each of its calls is a
	// subsegment of the invocation's trace.
	traceSDK(&awsCfg, log)
	var opts []func(*apigatewaymanagementapi.Options)
	if cfg.PostWorkers > apigw.DefaultMaxConns {
		opts = append(opts, apigw.WithMaxConns(cfg.PostWorkers))
	}
	senders := &apigw.Senders{
		Client:    apigw.NewClient(awsCfg, opts...),
		Region:    cfg.Region,
		URLSuffix: cfg.URLSuffix,
		Override:  cfg.ManagementAPIEndpoint,
	}
	db := dynamo.NewClient(awsCfg, cfg.DynamoDBEndpoint)
	store := dynamo.New(db, cfg.TableName, cfg.RoomIndexName)
	store.FallbackIndex = cfg.RoomIndexFallback
	h := &handler.Handler{
		Store: store,
		// Per-person budgets, flood cut-offs and the room cap's count are
		// counters in the connections table, shared by every instance.
		Counters: store,
		// Names are claimed in the same table (see internal/dynamo).
		Names:  store,
		Blocks: store,
		// One for the container's life: a connection that answers 410 to
		// many broadcasts of this container is deleted once. Lambda
		// freezes a container between invocations, so it reaps in the
		// foreground, after the posts.
		Reaper:         &chat.Reaper{Store: store, Logger: log},
		Endpoints:      senders.Endpoint,
		SenderAt:       senders.At,
		InlineLimit:    cfg.InlineLimit,
		Retention:      cfg.HistoryRetention,
		PresenceLimit:  cfg.PresenceLimit,
		Senders:        senders.For,
		Workers:        cfg.PostWorkers,
		SendLimit:      chat.SendLimitOf(cfg.SendBurst, cfg.SendRate),
		ReadLimit:      chat.ReadLimitOf(cfg.ReadBurst, 0),
		Flood:          chat.FloodPolicyOf(cfg.FloodStrikes, cfg.FloodCooldown),
		RoomCap:        cfg.RoomCap,
		LeaveGrace:     cfg.LeaveGrace,
		Origins:        handler.OriginPolicy{Allowed: cfg.AllowedOrigins, AllowMissing: cfg.AllowMissingOrigin},
		Logger:         log,
		DeadlineMargin: DeadlineMargin,
	}
	if cfg.FunctionName != "" {
		// Lambda sends stdout to CloudWatch Logs, which extracts the EMF
		// lines' metrics.
		h.Metrics = &metrics.EMF{W: os.Stdout, Function: cfg.FunctionName, Level: cfg.LogLevel.String()}
	}
	if cfg.MessagesTable != "" {
		h.Messages = dynamo.NewHistory(db, cfg.MessagesTable, cfg.SeqIndexName)
	}
	if cfg.FanoutQueueURL != "" {
		h.Queue = sqsqueue.New(sqsqueue.NewClient(awsCfg, cfg.SQSEndpoint), cfg.FanoutQueueURL)
	}
	if cfg.ReviewFunction != "" {
		h.Review = chat.ReviewPolicy{
			// One attempt: the deadline is short, and the fallback decides.
			Reviewer: review.Lambda{Client: lambdasvc.NewFromConfig(awsCfg, func(o *lambdasvc.Options) { o.RetryMaxAttempts = 1 }),
				Function: cfg.ReviewFunction},
			Timeout: cfg.ReviewTimeout, FallbackDeny: cfg.ReviewFallbackDeny,
		}
	}
	return h, nil
}
