package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/serverless-chat/chat/internal/chat"
	// The functions' configuration loader: the same rules for what both
	// hosts read.
	lambdaconfig "github.com/serverless-chat/chat/internal/config"
	"github.com/serverless-chat/chat/internal/devissuer"
	"github.com/serverless-chat/chat/internal/dynamo"
	"github.com/serverless-chat/chat/internal/gateway"
	"github.com/serverless-chat/chat/internal/handler"
)

// config is the local adapter's configuration: flags, each defaulting to an
// environment variable where one is named.
type config struct {
	addr  string
	stage string
	// stageSet says -stage (or CHAT_STAGE) named the stage; else a
	// template's StageName is served.
	stageSet bool
	apiID    string

	// Store: in memory unless dynamoEndpoint (DynamoDB Local) or dynamoAWS
	// (the real DynamoDB, default credentials) is set.
	dynamoEndpoint string
	dynamoAWS      bool
	table          string
	index          string
	// messagesTable keeps the rooms' history in DynamoDB modes.
	messagesTable    string
	seqIndex         string
	historyRetention time.Duration
	presenceLimit    int
	// Rooms over inlineLimit are delivered in batches through the in-process
	// queue, or through the SQS queue at fanoutQueueURL (at sqsEndpoint,
	// e.g. moto_server's, or the real SQS if empty).
	inlineLimit    int
	fanoutQueueURL string
	sqsEndpoint    string
	region         string

	// Lambda-invoke mode: lambdaEndpoint serves every route with the SAM
	// template's function names; lambdaRoutes sends single routes to their
	// own endpoint (one aws-lambda-rie per function, function "function").
	lambdaEndpoint string
	lambdaRoutes   map[string]string

	// Abuse limits, as the template's parameters set them deployed.
	sendBurst int
	sendRate  float64
	readBurst int
	readRate  float64
	// floodStrikes and floodCooldown: chat.FloodPolicy.
	floodStrikes  int
	floodCooldown time.Duration
	// review, reviewTimeout, reviewFallback and reviewEnv: the message
	// review hook (see newReview).
	review         string
	reviewTimeout  time.Duration
	reviewFallback string
	reviewEnv      envFlag
	// invoke serves the Lambda Invoke API of the functions the adapter
	// runs, at invokeURL (set by serve).
	invoke    *invokeAPI
	invokeURL string
	roomCap   int
	// allowedOrigins: "" means the adapter's own origin.
	allowedOrigins     string
	allowMissingOrigin bool

	// Sign-in: -auth none, dev or jwt (with jwtIssuer, jwtAudience and
	// optionally jwksURL).
	auth        string
	jwtIssuer   string
	jwtAudience string
	jwksURL     string
	devTokenTTL time.Duration

	// templatePath is the SAM template whose stage settings apply
	// (throttling); templateSet says -template was given.
	templatePath       string
	templateSet        bool
	parameterOverrides string
	// functions is how route integrations run: auto, in-process or
	// bootstrap; build builds the bootstraps first; envVarsPath is a
	// SAM-style env.json; maxProcs bounds each function's processes.
	functions string
	// functionModes are -function ID=MODE: how one function runs.
	functionModes functionFlag
	build         bool
	watch         bool
	envVarsPath   string
	maxProcs      int

	limits       gateway.Limits
	writeQueue   int
	writeBuffer  int
	requireSigV4 bool
	sigv4Key     string // ACCESS_KEY:SECRET that -require-sigv4 accepts
	maxHTTPConns int
	logLevel     slog.Level

	// cpuProfile, if set, is where a CPU profile from start to shutdown goes.
	cpuProfile string

	// caEnv is set at start, not by a flag: the variables that make
	// function processes trust the adapter's TLS certificate (tls.go).
	caEnv map[string]string
}

// samFunctions are the template's logical IDs, the function names under
// `sam local start-lambda`.
var samFunctions = map[string]string{
	gateway.RouteConnect:    "ConnectFunction",
	gateway.RouteDisconnect: "DisconnectFunction",
	"chat message":          "MessageFunction",
	"history":               "HistoryFunction",
	"direct message":        "MessageFunction",
	"who":                   "PresenceFunction",
	"typing":                "PresenceFunction",
	"rename":                "PresenceFunction",
	"block":                 "PresenceFunction",
	"edit":                  "MessageFunction",
	"delete":                "MessageFunction",
	"react":                 "MessageFunction",
	"unread":                "HistoryFunction",
	gateway.RouteDefault:    "DefaultFunction",
}

// routeFlag collects repeated -lambda-route routeKey=URL values.
type routeFlag map[string]string

func (f routeFlag) String() string {
	var parts []string
	for k, v := range f {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func (f routeFlag) Set(s string) error {
	key, endpoint, ok := strings.Cut(s, "=")
	if !ok || key == "" {
		return fmt.Errorf("want routeKey=URL, got %q", s)
	}
	if _, known := samFunctions[key]; !known {
		return fmt.Errorf("unknown route %q (routes: $connect, $disconnect, $default, chat message, history, direct message, who, typing, rename)", key)
	}
	if err := checkURL(endpoint); err != nil {
		return err
	}
	f[key] = endpoint
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	return nil
}

// parseConfig reads the flags in args, with defaults from getenv.
func parseConfig(args []string, getenv func(string) string, output io.Writer) (config, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	cfg := config{lambdaRoutes: routeFlag{}, functionModes: functionFlag{}}
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	// A wrong flag is one line (the caller prints it with flagHint), not
	// the error and the whole usage; -h prints the usage by group.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&cfg.addr, "addr", env("CHAT_ADDR", "127.0.0.1:8080"), "listen address (env CHAT_ADDR)")
	fs.StringVar(&cfg.stage, "stage", env("CHAT_STAGE", "local"), "stage name, the URL's first path segment (env CHAT_STAGE; default: a template's StageName, local for this project's)")
	fs.StringVar(&cfg.apiID, "api-id", env("CHAT_API_ID", ""), "requestContext.apiId (env CHAT_API_ID; default: random, 10 characters)")
	fs.StringVar(&cfg.dynamoEndpoint, "dynamodb-endpoint", env("CHAT_DYNAMODB_ENDPOINT", ""),
		"store connections in DynamoDB at this endpoint, e.g. DynamoDB Local's http://127.0.0.1:8000, with access key \"local\" (env CHAT_DYNAMODB_ENDPOINT; default: in memory). DynamoDB Local keeps one database per access key and region: give Lambda functions sharing the table AWS_ACCESS_KEY_ID=local and the same -region, or run it with -sharedDb")
	fs.BoolVar(&cfg.dynamoAWS, "dynamodb", false, "store connections in the real DynamoDB, with the default AWS credentials and region")
	fs.StringVar(&cfg.table, "table", env("CHAT_TABLE", "chat-connections"), "DynamoDB table, created if missing (env CHAT_TABLE)")
	fs.StringVar(&cfg.index, "room-index", env("ROOM_INDEX_NAME", dynamo.DefaultIndex), "the table's room index (env ROOM_INDEX_NAME)")
	fs.StringVar(&cfg.messagesTable, "messages-table", env("CHAT_MESSAGES_TABLE", "chat-messages"), "DynamoDB table of the rooms' history, created if missing (env CHAT_MESSAGES_TABLE)")
	fs.StringVar(&cfg.seqIndex, "seq-index", env("SEQ_INDEX_NAME", dynamo.DefaultSeqIndex), "the messages table's seq index (env SEQ_INDEX_NAME)")
	fs.IntVar(&cfg.inlineLimit, "inline-limit", chat.DefaultInlineLimit, "largest room delivered inline; larger ones go through the fan-out queue in batches")
	fs.StringVar(&cfg.fanoutQueueURL, "fanout-queue-url", env("CHAT_FANOUT_QUEUE_URL", ""), "deliver large rooms through this SQS queue, polled by the adapter (env CHAT_FANOUT_QUEUE_URL; default: an in-process queue)")
	fs.StringVar(&cfg.sqsEndpoint, "sqs-endpoint", env("CHAT_SQS_ENDPOINT", ""), "SQS endpoint for -fanout-queue-url, e.g. moto_server's http://127.0.0.1:5000, with access key \"local\" (env CHAT_SQS_ENDPOINT; default: the real SQS)")
	fs.IntVar(&cfg.presenceLimit, "presence-limit", chat.DefaultPresenceLimit, "largest room told of joins, leaves and typing (-1: none)")
	fs.DurationVar(&cfg.historyRetention, "history-retention", chat.DefaultRetention, "how long messages are kept for history and clientMsgId deduplication")
	fs.StringVar(&cfg.region, "region", env("AWS_REGION", env("AWS_DEFAULT_REGION", "us-east-1")), "AWS region for the SDK clients (env AWS_REGION)")
	fs.StringVar(&cfg.lambdaEndpoint, "lambda-endpoint", env("CHAT_LAMBDA_ENDPOINT", ""),
		"invoke every function of the template's API (routes and authorizer) through the Lambda Invoke API at this endpoint, by logical ID, e.g. the http://127.0.0.1:3001 of sam local start-lambda; the template's routes, selection, MOCK integrations and authorizer still apply (env CHAT_LAMBDA_ENDPOINT)")
	fs.Var(routeFlag(cfg.lambdaRoutes), "lambda-route",
		"`routeKey=URL`: invoke this route's function at its own aws-lambda-rie (function name \"function\", one invocation at a time); repeatable, wins over -lambda-endpoint")
	fs.IntVar(&cfg.sendBurst, "send-burst", chat.DefaultSendLimit.Burst, "frames (chat messages, direct messages, renames) one connection may send at once before -send-rate applies; 0 for no send limit")
	fs.Float64Var(&cfg.sendRate, "send-rate", 1/chat.DefaultSendLimit.Every.Seconds(), "frames a second one connection may send after its burst")
	fs.IntVar(&cfg.readBurst, "read-burst", chat.DefaultReadLimit.Burst, "reads (history, who) one connection may make at once before -read-rate applies; 0 for no read limit")
	fs.Float64Var(&cfg.readRate, "read-rate", 1/chat.DefaultReadLimit.Every.Seconds(), "reads a second one connection may make after its burst")
	fs.IntVar(&cfg.floodStrikes, "flood-strikes", int(chat.DefaultFloodPolicy.Strikes), "frames refused for a limit within 10 s after which a connection is closed and its person refused for -flood-cooldown; 0: never")
	fs.DurationVar(&cfg.floodCooldown, "flood-cooldown", chat.DefaultFloodPolicy.Cooldown, "how long a person cut off for flooding is refused at $connect")
	cfg.reviewEnv = envFlag{}
	fs.StringVar(&cfg.review, "review", env("CHAT_REVIEW", ""), "message review hook: words:mask=a,b;deny=c (in process), a Lambda Invoke API URL (http://127.0.0.1:9001 for aws-lambda-rie; #Name picks the function), or a review function's bootstrap run under the built-in Runtime API (env CHAT_REVIEW)")
	fs.DurationVar(&cfg.reviewTimeout, "review-timeout", chat.DefaultReviewTimeout, "the review's deadline")
	fs.StringVar(&cfg.reviewFallback, "review-fallback", "allow", "what a message whose review timed out or failed gets: allow or deny")
	fs.Var(cfg.reviewEnv, "review-env", "`KEY=VALUE` in the review bootstrap's environment, e.g. MASK_WORDS=darn; repeatable")
	fs.IntVar(&cfg.roomCap, "room-cap", chat.DefaultRoomCap, "most connections in one room; $connect beyond it answers 429 (-1: no cap)")
	fs.StringVar(&cfg.allowedOrigins, "allowed-origins", env("CHAT_ALLOWED_ORIGINS", ""), "comma-separated origins whose pages may connect, or * for any (env CHAT_ALLOWED_ORIGINS; default: the adapter's own, http://127.0.0.1:PORT and http://localhost:PORT on loopback)")
	fs.BoolVar(&cfg.allowMissingOrigin, "allow-missing-origin", true, "let clients that send no Origin header (not browsers) connect")
	fs.StringVar(&cfg.auth, "auth", env("CHAT_AUTH", authNone), "sign-in: none (anonymous), dev (a development issuer at /dev-issuer that signs in any name; loopback only) or jwt (a real issuer: -jwt-issuer, -jwt-audience) (env CHAT_AUTH)")
	fs.StringVar(&cfg.jwtIssuer, "jwt-issuer", env("CHAT_JWT_ISSUER", ""), "with -auth jwt: the tokens' iss, e.g. https://cognito-idp.REGION.amazonaws.com/POOL_ID (env CHAT_JWT_ISSUER)")
	fs.StringVar(&cfg.jwtAudience, "jwt-audience", env("CHAT_JWT_AUDIENCE", ""), "with -auth jwt: the client ID the tokens are for (env CHAT_JWT_AUDIENCE)")
	fs.DurationVar(&cfg.devTokenTTL, "dev-token-ttl", devissuer.DefaultTokenTTL, "with -auth dev: how long its tokens are valid (the page refreshes them a minute before)")
	fs.StringVar(&cfg.jwksURL, "jwks-url", env("CHAT_JWKS_URL", ""), "with -auth jwt: the issuer's JWKS (default: ISSUER/.well-known/jwks.json)")
	fs.StringVar(&cfg.templatePath, "template", "template.yaml", "SAM template whose WebSocket API is served: routes, selection, authorizer, stage (name, throttling, variables), tables; \"\" for none")
	fs.StringVar(&cfg.parameterOverrides, "parameter-overrides", env("CHAT_PARAMETER_OVERRIDES", ""), "template parameters, in SAM's syntax: Key=Value Key2=\"a value\" (env CHAT_PARAMETER_OVERRIDES)")
	fs.StringVar(&cfg.functions, "functions", functionsAuto, "how the template's functions run: in-process (this project's handlers), bootstrap (the template's own functions, each as -function says: by default its built bootstrap, or node or python3, under the built-in Lambda Runtime API), or auto (in-process for this project's template)")
	fs.Var(cfg.functionModes, "function", "`ID=MODE`: run one of the template's functions as bootstrap (its .aws-sam/build/ID/bootstrap), native (Node.js, Python: the machine's node or python3) or endpoint (-lambda-endpoint); repeatable. Default: endpoint with -lambda-endpoint, else by the function's runtime")
	fs.BoolVar(&cfg.build, "build", false, "with bootstrap functions: build them first (BuildMethod makefile: make build-ID ARTIFACTS_DIR=.aws-sam/build/ID)")
	fs.BoolVar(&cfg.watch, "watch", false, "with the template's functions: restart a function when its files change (rebuilding a bootstrap first with -build); connections stay open")
	fs.StringVar(&cfg.envVarsPath, "env-vars", "", "SAM-style env.json for the template's functions: {\"Parameters\": {...}, \"FunctionId\": {...}}")
	fs.IntVar(&cfg.maxProcs, "max-procs", 4, "most processes of one of the template's functions at once (each runs one invocation at a time)")
	fs.Int64Var(&cfg.limits.MaxMessageSize, "max-message-size", gateway.DefaultMaxMessageSize, "message size limit in bytes (closes with 1009; 413 on @connections)")
	fs.Int64Var(&cfg.limits.MaxFrameSize, "max-frame-size", gateway.DefaultMaxFrameSize, "frame size limit in bytes (closes with 1009)")
	fs.DurationVar(&cfg.limits.IdleTimeout, "idle-timeout", gateway.DefaultIdleTimeout, "close connections without data messages for this long (1001)")
	fs.DurationVar(&cfg.limits.MaxDuration, "max-duration", gateway.DefaultMaxDuration, "close connections this old (1001)")
	fs.DurationVar(&cfg.limits.IntegrationTimeout, "integration-timeout", gateway.DefaultIntegrationTimeout, "integration timeout (Internal server error frame; 500 on $connect)")
	fs.IntVar(&cfg.writeBuffer, "write-buffer", gateway.DefaultWriteBuffer, "bytes waiting for one client before posts to it answer 429")
	fs.IntVar(&cfg.writeQueue, "write-queue", gateway.DefaultWriteQueue, "messages queued per connection before a client that does not read is dropped (1008)")
	fs.IntVar(&cfg.maxHTTPConns, "max-http-conns", DefaultMaxHTTPConns, "plain HTTP connections (not WebSockets) open at once; more are closed at once")
	fs.BoolVar(&cfg.requireSigV4, "require-sigv4", false, "refuse @connections requests without a valid SigV4 signature by -sigv4-key with 403, as AWS does")
	fs.StringVar(&cfg.sigv4Key, "sigv4-key", env("CHAT_SIGV4_KEY", "local:local"), "ACCESS_KEY_ID:SECRET_ACCESS_KEY whose signatures -require-sigv4 accepts (env CHAT_SIGV4_KEY)")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile (go tool pprof) from start to shutdown to this file")
	level := fs.String("log-level", env("LOG_LEVEL", "info"), "debug, info, warn or error (env LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(output, fs)
		}
		return cfg, err
	}
	fs.Visit(func(f *flag.Flag) {
		cfg.templateSet = cfg.templateSet || f.Name == "template"
		cfg.stageSet = cfg.stageSet || f.Name == "stage"
	})
	cfg.stageSet = cfg.stageSet || getenv("CHAT_STAGE") != ""
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	var errs []error
	if err := cfg.logLevel.UnmarshalText([]byte(*level)); err != nil {
		errs = append(errs, fmt.Errorf("-log-level: %w", err))
	}
	if cfg.lambdaEndpoint != "" {
		if err := checkURL(cfg.lambdaEndpoint); err != nil {
			errs = append(errs, fmt.Errorf("-lambda-endpoint: %w", err))
		}
	}
	if k, sec, ok := strings.Cut(cfg.sigv4Key, ":"); !ok || k == "" || sec == "" {
		errs = append(errs, errors.New("-sigv4-key: want ACCESS_KEY_ID:SECRET_ACCESS_KEY"))
	}
	if cfg.dynamoEndpoint != "" && cfg.dynamoAWS {
		errs = append(errs, errors.New("-dynamodb and -dynamodb-endpoint exclude each other"))
	}
	if cfg.dynamoEndpoint != "" {
		if err := checkURL(cfg.dynamoEndpoint); err != nil {
			errs = append(errs, fmt.Errorf("-dynamodb-endpoint: %w", err))
		}
	}
	for name, v := range map[string]int64{
		"-max-message-size": cfg.limits.MaxMessageSize, "-max-frame-size": cfg.limits.MaxFrameSize,
		"-idle-timeout": int64(cfg.limits.IdleTimeout), "-max-duration": int64(cfg.limits.MaxDuration),
		"-integration-timeout": int64(cfg.limits.IntegrationTimeout), "-write-queue": int64(cfg.writeQueue),
		"-history-retention": int64(cfg.historyRetention), "-inline-limit": int64(cfg.inlineLimit),
		"-max-http-conns": int64(cfg.maxHTTPConns), "-write-buffer": int64(cfg.writeBuffer),
	} {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		}
	}
	if cfg.functions != functionsAuto && cfg.functions != functionsInProcess && cfg.functions != functionsBootstrap {
		errs = append(errs, fmt.Errorf("-functions %q: want auto, in-process or bootstrap", cfg.functions))
	}
	if cfg.maxProcs < 1 {
		errs = append(errs, errors.New("-max-procs must be positive"))
	}
	if _, err := lambdaconfig.ParseOrigins(cfg.allowedOrigins); err != nil {
		errs = append(errs, fmt.Errorf("-allowed-origins: %w", err))
	}
	if err := checkAuthFlags(cfg); err != nil {
		errs = append(errs, err)
	}
	if cfg.sendBurst < 0 || cfg.sendRate <= 0 {
		errs = append(errs, errors.New("-send-burst must be 0 or more and -send-rate more than 0"))
	}
	if cfg.readBurst < 0 || cfg.readRate <= 0 {
		errs = append(errs, errors.New("-read-burst must be 0 or more and -read-rate more than 0"))
	}
	if cfg.reviewFallback != "allow" && cfg.reviewFallback != "deny" {
		errs = append(errs, fmt.Errorf("-review-fallback: want allow or deny, got %q", cfg.reviewFallback))
	}
	if cfg.floodStrikes < 0 || cfg.floodCooldown <= 0 {
		errs = append(errs, errors.New("-flood-strikes must be 0 or more and -flood-cooldown more than 0"))
	}
	if cfg.roomCap == 0 || cfg.roomCap < -1 {
		errs = append(errs, errors.New("-room-cap must be positive, or -1 for no cap"))
	}
	if cfg.stage == "" || strings.ContainsAny(cfg.stage, "/?#%@ ") {
		errs = append(errs, fmt.Errorf("-stage %q: want one path segment", cfg.stage))
	}
	return cfg, errors.Join(errs...)
}

// usesDynamo reports whether connections go to DynamoDB.
func (c config) usesDynamo() bool { return c.dynamoEndpoint != "" || c.dynamoAWS }

// originPolicy is -allowed-origins, or the adapter's own origin at addr
// (the listening address): on loopback both http://127.0.0.1:PORT and
// http://localhost:PORT, as a browser may name either. An unspecified
// address (0.0.0.0) has no one origin: it allows any, and says so.
func (c config) originPolicy(addr string, log *slog.Logger) handler.OriginPolicy {
	p := handler.OriginPolicy{AllowMissing: c.allowMissingOrigin}
	if c.allowedOrigins != "" {
		p.Allowed, _ = lambdaconfig.ParseOrigins(c.allowedOrigins) // checked by parseConfig
		return p
	}
	host, port, err := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	switch {
	case err != nil || ip == nil || ip.IsUnspecified():
		log.Warn("no Origin check: listening on every address; name the pages with -allowed-origins", slog.String("addr", addr))
		p.Allowed = []string{"*"}
	case ip.IsLoopback():
		p.Allowed = []string{"http://" + addr, "http://localhost:" + port}
	default:
		p.Allowed = []string{"http://" + addr}
	}
	return p
}
