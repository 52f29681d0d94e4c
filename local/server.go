package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/dynamo"
	"github.com/serverless-chat/chat/internal/gateway"
	"github.com/serverless-chat/chat/internal/handler"
	"github.com/serverless-chat/chat/internal/memqueue"
	"github.com/serverless-chat/chat/internal/memstore"
	"github.com/serverless-chat/chat/internal/sqsqueue"
	"github.com/serverless-chat/chat/web"
)

// shutdownTimeout bounds the wait for every $disconnect on shutdown.
const shutdownTimeout = 30 * time.Second

// serve runs the local adapter on ln until ctx ends, then closes every
// connection with 1001, waits for their $disconnect, and returns.
func serve(ctx context.Context, cfg config, ln net.Listener, out io.Writer, log *slog.Logger) error {
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	certs, err := newLocalTLS(host)
	if err != nil {
		return fmt.Errorf("TLS certificate for @connections over https: %w", err)
	}
	defer certs.close()
	cfg.caEnv = certs.env()
	cfg.invoke, cfg.invokeURL = newInvokeAPI(), "http://"+ln.Addr().String()
	store, history, err := newStores(ctx, cfg, log)
	if err != nil {
		return err
	}
	var gw *gateway.Gateway
	// Gone connections are deleted in the background, a few at a time, so
	// that no broadcast or $disconnect waits on them (with DynamoDB each is
	// a conditional write); a connection is deleted once however many
	// broadcasts find it gone.
	reaper := &chat.Reaper{Store: store, Background: true, Logger: log}
	h := &handler.Handler{
		Reaper:   reaper,
		Store:    store,
		Counters: counters(store),
		Names:    names(store),
		Blocks:   blocks(store),
		// The leave grace runs on a timer: the adapter lives on, and
		// $disconnect need not wait for it.
		Later: func(d time.Duration, f func(context.Context)) {
			time.AfterFunc(d, func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				f(ctx)
			})
		},
		ReadLimit:     chat.ReadLimitOf(cfg.readBurst, cfg.readRate),
		Flood:         chat.FloodPolicyOf(cfg.floodStrikes, cfg.floodCooldown),
		Messages:      history,
		Retention:     cfg.historyRetention,
		PresenceLimit: cfg.presenceLimit,
		Senders:       func(*events.APIGatewayWebsocketProxyRequest) chat.Sender { return gw },
		// The gateway's Post only queues the message and never waits, and
		// gone members are reaped off the delivery path: a broadcast is
		// fastest as a plain loop, without a goroutine per recipient. (The
		// Lambda functions post over HTTP, 32 at once.)
		Workers:        1,
		SendLimit:      chat.SendLimitOf(cfg.sendBurst, cfg.sendRate),
		RoomCap:        cfg.roomCap,
		Origins:        cfg.originPolicy(ln.Addr().String(), log),
		Logger:         log,
		DeadlineMargin: time.Second,
	}
	var stopReview func()
	if h.Review, stopReview, err = newReview(ctx, cfg, log); err != nil {
		return err
	}
	defer stopReview()
	routes, err := newRoutes(cfg, h)
	if err != nil {
		return err
	}
	signIn, err := newSignIn(cfg, ln.Addr().String(), lambdaClient(cfg), log)
	if err != nil {
		return err
	}
	tpl, err := loadTemplate(cfg, ln.Addr().String(), log)
	if err != nil {
		return err
	}
	if tpl != nil && !cfg.stageSet && !isChatTemplate(tpl) {
		// The template's stage is the one served, as deployed. This
		// project's own template keeps the local stage ("local"): its
		// StageName is the deployed one (prod), and the page learns the
		// URL from /config.json anyway.
		cfg.stage = tpl.APIs[0].Stage.Name
	}
	stage := stageOf(tpl)
	api, err := servedAPI(ctx, cfg, tpl, routes, signIn, ln.Addr().String(), h.Origins.Allowed, log)
	if err != nil {
		return err
	}
	defer api.close()
	gw, err = gateway.New(gateway.Config{
		Stage: cfg.stage, APIID: cfg.apiID, Routes: api.routes, Limits: cfg.limits,
		WriteQueue: cfg.writeQueue, WriteBuffer: cfg.writeBuffer, RequireSignature: cfg.requireSigV4, Credentials: sigv4Credentials(cfg.sigv4Key), Logger: log,
		Authorizer: api.authorizer, Region: cfg.region,
		Throttle: stage.throttle, RouteThrottles: stage.routeThrottles, StageVariables: stage.variables,
		RouteSelection: api.selection, TwoWay: api.twoWay, RouteTimeouts: api.timeouts,
	})
	if err != nil {
		return err
	}
	stopFanout, err := startFanout(ctx, cfg, h, gw, log)
	if err != nil {
		return err
	}
	defer stopFanout()

	limiter := newConnLimiter(cfg.maxHTTPConns)
	srv := &http.Server{
		Handler:           limiter.wrap(withRequestHeadLimit(withRequestTimeout(newMux(cfg.stage, gw, wsHost(ln.Addr()), signIn, cfg.invoke)))),
		ReadHeaderTimeout: readHeaderTimeout,
		MaxHeaderBytes:    maxRequestHead,
		IdleTimeout:       httpIdleTimeout,
		ConnState:         limiter.track,
		ConnContext:       limiter.connContext,
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "chat page:         %s/\n", base)
	fmt.Fprintf(out, "WebSocket URL:     ws://%s/%s\n", ln.Addr(), cfg.stage)
	fmt.Fprintf(out, "@connections API:  %s/%s/@connections/{connectionId}  (MANAGEMENT_API_ENDPOINT=%s/%s)\n", base, cfg.stage, base, cfg.stage)
	fmt.Fprintf(out, "                   https://%s/%s/@connections/{connectionId} too, as functions build it from the event (CA: %s)\n", ln.Addr(), cfg.stage, certs.caFile)
	log.Info("listening", slog.String("addr", ln.Addr().String()), slog.String("stage", cfg.stage),
		slog.String("apiId", gw.APIID()), slog.String("store", storeName(cfg)), slog.Int("lambdaRoutes", lambdaRoutes(cfg)))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(newSniffListener(ln, certs.config, cfg.maxHTTPConns)) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down: closing every connection (1001)", slog.Int("connections", gw.Connections()))
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	// The HTTP server keeps serving while the connections close: Lambda
	// functions may still call @connections.
	gwErr := gw.Shutdown(sctx)
	srvErr := srv.Shutdown(sctx)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		srvErr = errors.Join(srvErr, err)
	}
	log.Info("stale connections", slog.String("summary", reaper.String()), slog.Bool("accounted", reaper.Accounted()))
	return errors.Join(gwErr, srvErr)
}

// newMux serves the gateway at /{stage}, the page at / and its generated
// configuration at /config.json. The WebSocket URL and the page's
// connect-src come from host, the address the adapter listens on, never
// from the request's Host header, which any client sets as it likes.
func newMux(stage string, gw http.Handler, host string, signIn *signIn, invoke http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle(invokePrefix, invoke)
	mux.Handle("/"+stage, gw)
	mux.Handle("/"+stage+"/", gw)
	var files http.Handler = http.FileServerFS(web.FS)
	if c, err := newCompressedFiles(web.FS, files); err == nil {
		files = c
	} else {
		slog.Warn("the page's files are served uncompressed", slog.Any("error", err))
	}
	page := map[string]any{"websocketUrl": "ws://" + host + "/" + stage}
	connectSources := []string{"ws://" + host}
	if signIn.page != nil {
		page["auth"] = signIn.page
		// The page fetches the issuer's discovery document and tokens.
		connectSources = append(connectSources, originOf(signIn.page.Issuer))
		if strings.Contains(signIn.page.Issuer, "://cognito-idp.") {
			// Cognito's token endpoint is on the pool's hosted UI domain.
			connectSources = append(connectSources, "https://*.amazoncognito.com")
		}
	}
	if signIn.issuer != nil {
		mux.Handle(devIssuerPath+"/", signIn.issuer)
	}
	body, _ := json.Marshal(page)
	csp := web.ContentSecurityPolicy(connectSources...)
	mux.HandleFunc("/config.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			// A WebSocket handshake for another stage: API Gateway answers
			// 403 {"message":"Forbidden"}, not the page's 404.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"message":"Forbidden"}`)
			return
		}
		w.Header().Set("Content-Security-Policy", csp)
		files.ServeHTTP(w, r)
	})
	return mux
}

// sigv4Credentials turns ACCESS_KEY_ID:SECRET into the gateway's credentials.
func sigv4Credentials(key string) map[string]string {
	id, secret, _ := strings.Cut(key, ":")
	return map[string]string{id: secret}
}

// wsHost is the host:port clients reach the listener at: the listen
// address, with an unspecified IP (0.0.0.0, ::) replaced by loopback.
func wsHost(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// startFanout gives h the queue that delivers rooms over the inline limit,
// as the deployed fan-out does: an in-process queue, or the SQS queue at
// -fanout-queue-url (polled here, as Lambda's event source mapping does).
// It returns the function that stops it.
func startFanout(ctx context.Context, cfg config, h *handler.Handler, gw *gateway.Gateway, log *slog.Logger) (func(), error) {
	h.InlineLimit = cfg.inlineLimit
	h.SenderAt = func(string) chat.Sender { return gw }
	if cfg.fanoutQueueURL == "" {
		q := memqueue.New(h.DeliverBatch, fanoutWorkers)
		h.Queue = q
		return q.Close, nil
	}
	awsCfg, err := awsConfig(ctx, cfg, cfg.sqsEndpoint == "")
	if err != nil {
		return nil, err
	}
	client := sqsqueue.NewClient(awsCfg, cfg.sqsEndpoint)
	h.Queue = sqsqueue.New(client, cfg.fanoutQueueURL)
	pctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		handle := func(ctx context.Context, msgs []sqstypes.Message) []string {
			ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
			for i, m := range msgs {
				ev.Records[i] = events.SQSMessage{MessageId: aws.ToString(m.MessageId), Body: aws.ToString(m.Body)}
			}
			resp, _ := h.Fanout(ctx, ev)
			var failed []string
			for _, f := range resp.BatchItemFailures {
				failed = append(failed, f.ItemIdentifier)
			}
			return failed
		}
		if err := sqsqueue.Poll(pctx, client, cfg.fanoutQueueURL, handle); err != nil {
			log.Error("fan-out queue", slog.Any("error", err))
		}
	}()
	log.Info("fan-out through SQS", slog.String("queue", cfg.fanoutQueueURL), slog.Int("inlineLimit", cfg.inlineLimit))
	return func() { cancel(); <-done }, nil
}

// fanoutWorkers is how many batches the in-process queue delivers at once.
const fanoutWorkers = 4

// newStores returns the connection store and the history the in-process
// handlers use: in memory, or in DynamoDB (tables created if missing).
func newStores(ctx context.Context, cfg config, log *slog.Logger) (chat.Store, chat.History, error) {
	if !cfg.usesDynamo() {
		return memstore.New(), memstore.NewHistory(), nil
	}
	awsCfg, err := awsConfig(ctx, cfg, cfg.dynamoAWS)
	if err != nil {
		return nil, nil, err
	}
	client := dynamo.NewClient(awsCfg, cfg.dynamoEndpoint)
	tctx, cancel := context.WithTimeout(ctx, dynamo.TableWait)
	defer cancel()
	if err := dynamo.CreateTable(tctx, client, cfg.table, cfg.index); err != nil {
		return nil, nil, fmt.Errorf("table %s: %w", cfg.table, err)
	}
	if err := dynamo.CreateHistoryTable(tctx, client, cfg.messagesTable, cfg.seqIndex); err != nil {
		return nil, nil, fmt.Errorf("table %s: %w", cfg.messagesTable, err)
	}
	log.Info("using DynamoDB", slog.String("table", cfg.table), slog.String("messagesTable", cfg.messagesTable),
		slog.String("endpoint", cfg.dynamoEndpoint))
	store := dynamo.New(client, cfg.table, cfg.index)
	store.FallbackIndex = dynamo.LegacyIndex
	return store, dynamo.NewHistory(client, cfg.messagesTable, cfg.seqIndex), nil
}

// awsConfig returns the SDK configuration: the default chain for the real
// AWS, fixed dummy credentials for local emulators (which ignore them).
func awsConfig(ctx context.Context, cfg config, real bool) (aws.Config, error) {
	if real {
		c, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.region))
		if err != nil {
			return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
		}
		return c, nil
	}
	return aws.Config{
		Region:      cfg.region,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}, nil
}

// newRoutes returns the routes: in process (h), or Lambda functions for the
// routes the Lambda flags name; "ping" is a MOCK integration, as deployed.
func newRoutes(cfg config, h *handler.Handler) (map[string]gateway.Integration, error) {
	routes := map[string]gateway.Integration{chat.ActionPing: gateway.Mock{}}
	for key, fn := range h.Routes() {
		routes[key] = gateway.IntegrationFunc(fn)
	}
	newClient := lambdaClient(cfg)
	if cfg.lambdaEndpoint != "" {
		client := newClient(cfg.lambdaEndpoint)
		for route, function := range samFunctions {
			routes[route] = gateway.NewLambda(client, function, 0)
		}
	}
	for route, endpoint := range cfg.lambdaRoutes {
		routes[route] = gateway.NewLambda(newClient(endpoint), "function", 1)
	}
	return routes, nil
}

func storeName(cfg config) string {
	switch {
	case cfg.dynamoAWS:
		return "dynamodb (AWS) table " + cfg.table
	case cfg.dynamoEndpoint != "":
		return "dynamodb " + cfg.dynamoEndpoint + " table " + cfg.table
	}
	return "memory"
}

func lambdaRoutes(cfg config) int {
	if cfg.lambdaEndpoint != "" {
		return len(samFunctions)
	}
	return len(cfg.lambdaRoutes)
}

// lambdaClient returns a maker of Lambda clients for Lambda-invoke mode.
func lambdaClient(cfg config) func(endpoint string) *lambda.Client {
	lambdaCfg, _ := awsConfig(context.Background(), cfg, false)
	return func(endpoint string) *lambda.Client {
		return lambda.NewFromConfig(lambdaCfg, func(o *lambda.Options) {
			o.BaseEndpoint = aws.String(endpoint)
			o.RetryMaxAttempts = 1 // a retried invocation would run the function twice
		})
	}
}

// counters returns the store's chat.Counters (both stores have them).
func blocks(store chat.Store) chat.Blocks {
	b, _ := store.(chat.Blocks)
	return b
}

func names(store chat.Store) chat.Names {
	n, _ := store.(chat.Names)
	return n
}

func counters(store chat.Store) chat.Counters {
	c, _ := store.(chat.Counters)
	return c
}
