// Package apigw delivers frames to WebSocket clients through API Gateway's
// @connections (Management) API: it is the chat.Sender of the Lambda
// functions.
//
// One SDK client is built once per process (NewClient); each request gets a
// Sender bound to the @connections endpoint of the API that sent it
// (Senders.For), passed to the client per call.
package apigw

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
	"github.com/aws/smithy-go/middleware"

	"github.com/serverless-chat/chat/internal/chat"
)

// API is the part of the @connections API the chat uses.
// *apigatewaymanagementapi.Client implements it.
type API interface {
	PostToConnection(ctx context.Context, in *apigatewaymanagementapi.PostToConnectionInput,
		optFns ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error)
	GetConnection(ctx context.Context, in *apigatewaymanagementapi.GetConnectionInput,
		optFns ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.GetConnectionOutput, error)
	DeleteConnection(ctx context.Context, in *apigatewaymanagementapi.DeleteConnectionInput,
		optFns ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.DeleteConnectionOutput, error)
}

var (
	_ chat.Sender       = (*Sender)(nil)
	_ chat.Prober       = (*Sender)(nil)
	_ chat.Disconnector = (*Sender)(nil)
	_ API               = (*apigatewaymanagementapi.Client)(nil)
)

// Defaults of the client built by NewClient.
const (
	// DefaultMaxAttempts is how many times a post is tried, the first
	// included, when it is throttled (429 LimitExceededException) or meets a
	// transient error (5xx, connection reset).
	DefaultMaxAttempts = 4
	// DefaultMaxBackoff caps the wait between two attempts. The SDK's
	// standard retryer starts throttled retries at up to 1 s and doubles
	// them; a chat message is worth less than a 20 s wait.
	DefaultMaxBackoff = time.Second
	// DefaultMaxConns is how many connections to one @connections endpoint
	// are kept open and idle for reuse. It must be at least the number of
	// concurrent posts of a broadcast (chat.Service.Workers): the SDK's
	// default keeps 10, so a broadcast with 32 workers would open and close
	// 22 TLS connections over and over.
	DefaultMaxConns = 128
)

// NewClient returns an @connections client for cfg with a retryer and an
// HTTP transport fit for broadcasting (see the Default constants). opts are
// applied after those defaults and may replace them, e.g. WithRetry.
//
// The client has no endpoint: each call names its own (Sender.Endpoint), as
// every API and stage has a different one.
func NewClient(cfg aws.Config, opts ...func(*apigatewaymanagementapi.Options)) *apigatewaymanagementapi.Client {
	defaults := []func(*apigatewaymanagementapi.Options){
		WithRetry(DefaultMaxAttempts, DefaultMaxBackoff),
		WithMaxConns(DefaultMaxConns),
		WithLeanStack(),
	}
	return apigatewaymanagementapi.NewFromConfig(cfg, append(defaults, opts...)...)
}

// WithRetry sets the client's retryer: the SDK's standard retryer, which
// retries throttling (LimitExceededException, an unmodeled 429) and
// transient errors with exponential backoff and jitter, with at most
// maxAttempts attempts and maxBackoff between two.
//
// Without the retry quota: the standard retryer's token bucket (500
// tokens, 5 a retry, shared by every call of the client) runs dry after
// about 100 retries, and from then on a throttled post fails at once with
// "retry quota exceeded" instead of waiting its backoff. A broadcast to a
// large room under the account's throttle is exactly a long run of 429s,
// each of which must wait and try again within MaxAttempts and the
// deadline, never fail fast.
func WithRetry(maxAttempts int, maxBackoff time.Duration) func(*apigatewaymanagementapi.Options) {
	return func(o *apigatewaymanagementapi.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = maxAttempts
			so.MaxBackoff = maxBackoff
			so.RateLimiter = ratelimit.None
		})
	}
}

// WithLeanStack trims the per-call work of the client to what a post needs.
// A broadcast to a large room is a run of thousands of identical calls, each
// paying the SDK's whole middleware stack (BenchmarkPostClient); two parts of
// it are dropped:
//
//   - two headers that only feed AWS's telemetry of SDK use, built anew on
//     every call: User-Agent's SDK, OS and feature list (the UserAgent
//     middleware) and amz-sdk-invocation-id (a random UUID,
//     ClientRequestID). API Gateway neither requires nor answers them. The
//     RetryMetricsHeader middleware goes too: this SDK version deprecates
//     it and sets its header (amz-sdk-request) in the retry loop already, so
//     it only wrote the same header twice.
//   - the endpoint rules engine: with an endpoint given (BaseEndpoint, as
//     Sender gives it), the rules only check and parse that URL, on every
//     call; the resolver parses each endpoint once.
//
// Retries, clock-skew correction, the payload hash and the SigV4 signature,
// the error deserializers and the X-Amzn-Trace-Id of RecursionDetection all
// stay.
func WithLeanStack() func(*apigatewaymanagementapi.Options) {
	return func(o *apigatewaymanagementapi.Options) {
		next := o.EndpointResolverV2
		if next == nil {
			next = apigatewaymanagementapi.NewDefaultEndpointResolverV2()
		}
		o.EndpointResolverV2 = &parsedEndpoints{next: next}
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			// Remove fails only for an ID the stack does not have: an SDK
			// that no longer adds it has nothing to trim.
			_, _ = s.Build.Remove("UserAgent")
			_, _ = s.Build.Remove("ClientRequestID")
			_, _ = s.Finalize.Remove("RetryMetricsHeader")
			return nil
		})
	}
}

// parsedEndpoints resolves a given endpoint (BaseEndpoint) to its URL,
// parsed once per endpoint. Without one, or with FIPS or dual-stack asked
// for (which the rules refuse with a custom endpoint), it asks next, the
// SDK's resolver.
type parsedEndpoints struct {
	next apigatewaymanagementapi.EndpointResolverV2
	urls sync.Map // endpoint -> *url.URL
}

func (p *parsedEndpoints) ResolveEndpoint(ctx context.Context, params apigatewaymanagementapi.EndpointParameters) (smithyendpoints.Endpoint, error) {
	if params.Endpoint == nil || *params.Endpoint == "" || aws.ToBool(params.UseFIPS) || aws.ToBool(params.UseDualStack) {
		return p.next.ResolveEndpoint(ctx, params)
	}
	if u, ok := p.urls.Load(*params.Endpoint); ok {
		return smithyendpoints.Endpoint{URI: *u.(*url.URL)}, nil
	}
	u, err := url.Parse(*params.Endpoint)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return smithyendpoints.Endpoint{}, fmt.Errorf("endpoint %q is not a URL with a scheme and a host: %v", *params.Endpoint, err)
	}
	p.urls.Store(*params.Endpoint, u)
	return smithyendpoints.Endpoint{URI: *u}, nil
}

// WithMaxConns sets the client's HTTP client to the SDK's buildable client
// keeping up to n idle connections per host, so that n concurrent posts reuse
// their connections instead of dialing new ones.
func WithMaxConns(n int) func(*apigatewaymanagementapi.Options) {
	return func(o *apigatewaymanagementapi.Options) {
		o.HTTPClient = HTTPClient(n)
	}
}

// HTTPClient returns the SDK's buildable HTTP client with room for n
// concurrent connections per host, idle ones included.
func HTTPClient(n int) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConnsPerHost = n
		if tr.MaxIdleConns < n {
			tr.MaxIdleConns = n
		}
		if tr.MaxConnsPerHost != 0 && tr.MaxConnsPerHost < n {
			tr.MaxConnsPerHost = n
		}
	})
}

// Endpoint returns the @connections base URL of a WebSocket API's stage. It
// is built from the API ID, not from the request's domainName, which is a
// custom domain when one is mapped, and with the partition's DNS suffix
// (the template's AWS::URLSuffix): amazonaws.com, amazonaws.com.cn in the
// China regions; empty means URLSuffix(region).
func Endpoint(apiID, region, stage, suffix string) string {
	if suffix == "" {
		suffix = URLSuffix(region)
	}
	return "https://" + apiID + ".execute-api." + region + "." + suffix + "/" + url.PathEscape(stage)
}

// URLSuffix returns the DNS suffix of the region's partition, for when the
// environment does not say it (URL_SUFFIX).
func URLSuffix(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return "amazonaws.com.cn"
	}
	return "amazonaws.com"
}

// Sender posts frames to connections through the @connections API.
type Sender struct {
	Client API
	// Endpoint is the base URL of the API's stage, e.g. Endpoint(apiID,
	// region, stage) or MANAGEMENT_API_ENDPOINT; empty uses the client's own.
	Endpoint string
}

// Post sends data to the connection. A closed or unknown connection gives an
// error wrapping chat.ErrGone, a frame API Gateway refuses as too large one
// wrapping chat.ErrPayloadTooLarge. Throttled posts have already been retried
// by the client.
func (s *Sender) Post(ctx context.Context, connectionID string, data []byte) error {
	_, err := s.Client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
		ConnectionId: &connectionID,
		Data:         data,
	}, s.endpoint()...)
	if err != nil {
		return translate(connectionID, err)
	}
	return nil
}

// Alive asks @connections about the connection (GetConnection): false
// when it answers 410 Gone.
func (s *Sender) Alive(ctx context.Context, connectionID string) (bool, error) {
	_, err := s.Client.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: &connectionID}, s.endpoint()...)
	switch err := translate(connectionID, err); {
	case err == nil:
		return true, nil
	case errors.Is(err, chat.ErrGone):
		return false, nil
	default:
		return false, err
	}
}

// Disconnect closes the connection (DELETE @connections); API Gateway
// then runs $disconnect. A connection gone already is chat.ErrGone.
func (s *Sender) Disconnect(ctx context.Context, connectionID string) error {
	_, err := s.Client.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: &connectionID}, s.endpoint()...)
	return translate(connectionID, err)
}

func (s *Sender) endpoint() []func(*apigatewaymanagementapi.Options) {
	if s.Endpoint == "" {
		return nil
	}
	endpoint := s.Endpoint
	return []func(*apigatewaymanagementapi.Options){func(o *apigatewaymanagementapi.Options) { o.BaseEndpoint = &endpoint }}
}

// translate maps an @connections error onto the domain's sentinels, keeping
// the SDK's error in the chain. A plain 410 or 413 without an error type (as
// some emulators send) counts the same as the modeled exception.
func translate(connectionID string, err error) error {
	if err == nil {
		return nil
	}
	var (
		gone     *types.GoneException
		tooLarge *types.PayloadTooLargeException
		limited  *types.LimitExceededException
		// awshttp.ResponseError and smithyhttp.ResponseError both have it.
		resp   interface{ HTTPStatusCode() int }
		status int
	)
	if errors.As(err, &resp) {
		status = resp.HTTPStatusCode()
	}
	switch {
	case errors.As(err, &gone) || status == http.StatusGone:
		return fmt.Errorf("post to connection %s: %w: %w", connectionID, chat.ErrGone, err)
	case errors.As(err, &tooLarge) || status == http.StatusRequestEntityTooLarge:
		return fmt.Errorf("post to connection %s: %w: %w", connectionID, chat.ErrPayloadTooLarge, err)
	case errors.As(err, &limited) || status == http.StatusTooManyRequests:
		// Still throttled after the client's retries: the caller may try
		// again later (a fan-out batch does).
		return fmt.Errorf("post to connection %s: %w: %w", connectionID, chat.ErrThrottled, err)
	}
	return fmt.Errorf("post to connection %s: %w", connectionID, err)
}

// Senders makes the Sender of each request: handler.Handler{Senders: s.For}.
type Senders struct {
	Client API
	// Region is the region of the APIs, normally AWS_REGION, and
	// URLSuffix its partition's DNS suffix (URL_SUFFIX; empty: from Region).
	Region    string
	URLSuffix string
	// Override, when set, is the endpoint of every request
	// (MANAGEMENT_API_ENDPOINT), e.g. the local adapter's
	// http://127.0.0.1:8080/local.
	Override string
}

// For returns the Sender reaching the connections of the API and stage that
// sent req.
func (s *Senders) For(req *events.APIGatewayWebsocketProxyRequest) chat.Sender {
	return &Sender{Client: s.Client, Endpoint: s.Endpoint(req)}
}

// At returns the Sender reaching the connections at endpoint, as Endpoint
// named it for an earlier request (a fan-out batch carries it).
func (s *Senders) At(endpoint string) chat.Sender {
	if s.Override != "" {
		endpoint = strings.TrimRight(s.Override, "/")
	}
	return &Sender{Client: s.Client, Endpoint: endpoint}
}

// Endpoint returns the @connections endpoint of the API and stage that sent
// req: Override if set, else built from its apiId, the region and its stage.
func (s *Senders) Endpoint(req *events.APIGatewayWebsocketProxyRequest) string {
	if s.Override != "" {
		return strings.TrimRight(s.Override, "/")
	}
	rc := req.RequestContext
	if rc.APIID == "" || rc.Stage == "" || s.Region == "" {
		// No way to build it: leave it to the client's own configuration,
		// whose error names what is missing.
		return ""
	}
	return Endpoint(rc.APIID, s.Region, rc.Stage, s.URLSuffix)
}
