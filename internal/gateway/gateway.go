// Package gateway is a local stand-in for an API Gateway WebSocket API: it
// accepts WebSocket clients at /{stage}, builds the same Lambda proxy events
// API Gateway builds (events.APIGatewayWebsocketProxyRequest), calls the
// route's integration, and serves the @connections management API at
// /{stage}/@connections/{connectionId}. The integrations are either the
// handlers themselves, in process, or real Lambda functions reached through
// the Lambda Invoke API (sam local start-lambda, aws-lambda-rie).
//
// What it reproduces, and how (each is tested):
//
//   - $connect runs before the WebSocket upgrade. A non-2xx response refuses
//     the handshake with that status and body; an integration error or
//     timeout refuses it with 500. Without a $connect route every client is
//     accepted. The response's Sec-WebSocket-Protocol header, and only it,
//     is sent back in the handshake: a client that asked for a subprotocol
//     and gets none fails its handshake, as browsers do with API Gateway.
//     The Origin header is not checked (API Gateway does not).
//   - Messages are routed by the route selection expression,
//     $request.body.action by default (exact match of a JSON string; any
//     $request.body variables, with text between them; "$connect" and
//     "$disconnect" are never message routes; selection.go), else
//     to $default, else the client gets the Forbidden frame. An integration
//     error, panic or timeout (the route's own TimeoutInMillis, capped by
//     Limits.IntegrationTimeout) sends the Internal server error frame. Route
//     responses are discarded: the chat's routes have no route responses.
//     A connection's messages are handled one at a time, in order.
//   - Limits (Limits): a message over 128 KB or any frame over 32 KB closes
//     the connection with 1009; a binary message closes it with 1003 (no
//     binary media types); 10 minutes without a data message in either
//     direction closes it with 1001 (pings do not count, as with API
//     Gateway); after 2 hours it is closed with 1001. Messages posted
//     through @connections larger than 32 KB are sent in 32 KB frames.
//   - @connections: POST 200 / 410 GoneException (unknown, closed, or still
//     in $connect) / 413 PayloadTooLargeException; GET 200 with connectedAt,
//     lastActiveAt and identity; DELETE 204, closes the connection (1000)
//     and $disconnect runs. Errors carry X-Amzn-ErrorType so the AWS SDKs
//     decode them (errors.As(err, &types.GoneException{})). Requests may be
//     SigV4-signed (the SDKs and CLI always sign); unsigned requests are
//     accepted unless Config.RequireSignature is set, and then a request
//     must carry a valid signature by one of Config.Credentials.
//   - $disconnect runs exactly once per connection that passed $connect,
//     whatever ends it: client close (its status code, 1005 without one),
//     dropped TCP (1006), idle or duration limit (1001), DELETE (1000), a
//     limit (1009, 1003), a client that does not read (1008), shutdown
//     (1001). disconnectStatusCode and disconnectReason say which.
//
// Slow clients: each connection has a bounded write queue
// (Config.WriteQueue messages, Config.WriteBuffer bytes). A post that finds
// it full answers 429 LimitExceededException, as @connections documents for
// a full client-side buffer, and the client stays connected; one client
// that stops reading never stalls a broadcast. A write to the network that
// takes longer than Config.WriteTimeout drops the connection (1006): a
// client stuck that long is gone, and posts to it answer 410.
// The write loop sends the messages already queued together, in one write
// system call (see rawConn).
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/serverless-chat/chat/internal/chat"
)

// Route keys API Gateway reserves.
const (
	RouteConnect    = "$connect"
	RouteDisconnect = "$disconnect"
	RouteDefault    = "$default"
)

// API Gateway's limits for WebSocket APIs.
const (
	DefaultMaxMessageSize     = 128 * 1024
	DefaultMaxFrameSize       = 32 * 1024
	DefaultIdleTimeout        = 10 * time.Minute
	DefaultMaxDuration        = 2 * time.Hour
	DefaultIntegrationTimeout = 29 * time.Second
	DefaultWriteQueue         = 4096
	DefaultWriteBuffer        = 4 << 20 // bytes waiting for one client
	DefaultWriteTimeout       = 10 * time.Second
)

// Limits are API Gateway's quotas; zero fields take the defaults above.
type Limits struct {
	MaxMessageSize     int64 // bytes of one message, in or out
	MaxFrameSize       int64 // bytes of one frame's payload
	IdleTimeout        time.Duration
	MaxDuration        time.Duration
	IntegrationTimeout time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxMessageSize <= 0 {
		l.MaxMessageSize = DefaultMaxMessageSize
	}
	if l.MaxFrameSize <= 0 {
		l.MaxFrameSize = DefaultMaxFrameSize
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.MaxDuration <= 0 {
		l.MaxDuration = DefaultMaxDuration
	}
	if l.IntegrationTimeout <= 0 {
		l.IntegrationTimeout = DefaultIntegrationTimeout
	}
	return l
}

// Config configures a Gateway.
type Config struct {
	// Stage is the first path segment: ws://host/{stage}. Required.
	Stage string
	// APIID is requestContext.apiId; empty picks a random one.
	APIID string
	// Routes maps route keys ("$connect", "$disconnect", "$default",
	// "chat message") to integrations. Every route is optional.
	Routes map[string]Integration
	Limits Limits
	// WriteQueue is how many messages may wait to be written to one
	// connection (DefaultWriteQueue if 0); the queue grows on demand up to
	// it. WriteTimeout bounds each write to a client's TCP connection, a
	// batch of messages or a control frame (DefaultWriteTimeout if 0).
	WriteQueue   int
	WriteTimeout time.Duration
	// WriteBuffer bounds the bytes waiting to be written to one connection
	// (DefaultWriteBuffer if 0). A post that would pass it answers 429
	// LimitExceededException, as @connections does "when the WebSocket
	// client-side buffer is full"; a client that stays stuck is dropped by
	// WriteTimeout, and posts to it then answer 410.
	WriteBuffer int
	// RequireSignature refuses @connections requests with 403, as AWS does,
	// unless they carry a valid SigV4 signature by one of Credentials
	// (access key ID -> secret access key), checked with the AWS SDK's
	// signer.
	RequireSignature bool
	Credentials      map[string]string
	// RouteSelection is the API's route selection expression, e.g.
	// $request.body.action (the chat's, if "") or
	// ${request.body.service}/${request.body.action}; see ParseRouteSelection.
	RouteSelection string
	// RouteTimeouts are the routes' integration timeouts (TimeoutInMillis);
	// Limits.IntegrationTimeout caps them and applies to the others.
	RouteTimeouts map[string]time.Duration
	// TwoWay are the routes with a route response: their integration's
	// response body is sent back to the client, as API Gateway does.
	TwoWay map[string]bool
	// Authorizer, if set, guards $connect.
	Authorizer *Authorizer
	// Throttle is the stage's default route throttling (none if nil);
	// RouteThrottles override it per route key.
	Throttle       *Throttle
	RouteThrottles map[string]Throttle
	// StageVariables go to the authorizer's event; Region names the
	// method ARN authorizer policies are checked against (us-east-1 if "").
	StageVariables map[string]string
	Region         string
	Logger         *slog.Logger
}

// Gateway is the emulated WebSocket API. It is an http.Handler for
// /{stage} and /{stage}/@connections/{id}, and a chat.Sender for in-process
// integrations.
type Gateway struct {
	stage  string
	apiID  string
	routes map[string]Integration
	limits Limits
	queue  int
	wbuf   int
	wtime  time.Duration
	sigv4  bool
	creds  map[string]string
	// authorizer guards $connect (nil: none); throttle is the stage's.
	selection      routeSelection
	routeTimeouts  map[string]time.Duration
	twoWay         map[string]bool
	authorizer     *Authorizer
	throttle       *throttles
	stageVariables map[string]string
	region         string
	log            *slog.Logger
	now            func() time.Time
	conns          sync.Map // connection ID -> *conn, once open
	mu             sync.Mutex
	closing        bool
	live           sync.WaitGroup // connections whose $disconnect has not finished
	// Counted, not logged one by one (a flood would log a line a post):
	// posts refused with 429, and posts to connections already closing.
	throttledPosts atomic.Int64
}

var _ chat.Sender = (*Gateway)(nil)

// New returns a Gateway.
func New(cfg Config) (*Gateway, error) {
	if cfg.Stage == "" || strings.ContainsAny(cfg.Stage, "/?#%@ ") {
		return nil, fmt.Errorf("gateway: invalid stage %q", cfg.Stage)
	}
	g := &Gateway{
		stage:          cfg.Stage,
		apiID:          cfg.APIID,
		routes:         map[string]Integration{},
		limits:         cfg.Limits.withDefaults(),
		queue:          cfg.WriteQueue,
		wbuf:           cfg.WriteBuffer,
		wtime:          cfg.WriteTimeout,
		sigv4:          cfg.RequireSignature,
		creds:          cfg.Credentials,
		log:            cfg.Logger,
		routeTimeouts:  cfg.RouteTimeouts,
		twoWay:         cfg.TwoWay,
		authorizer:     cfg.Authorizer,
		throttle:       newThrottles(cfg.Throttle, cfg.RouteThrottles),
		stageVariables: cfg.StageVariables,
		region:         cfg.Region,
		now:            time.Now,
	}
	for k, v := range cfg.Routes {
		if v != nil {
			g.routes[k] = v
		}
	}
	if g.apiID == "" {
		g.apiID = NewAPIID()
	}
	if g.queue <= 0 {
		g.queue = DefaultWriteQueue
	}
	if g.wbuf <= 0 {
		g.wbuf = DefaultWriteBuffer
	}
	if g.wtime <= 0 {
		g.wtime = DefaultWriteTimeout
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	expr := cfg.RouteSelection
	if expr == "" {
		expr = "$request.body.action"
	}
	sel, err := ParseRouteSelection(expr)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g.selection = sel
	if g.region == "" {
		g.region = "us-east-1"
	}
	return g, nil
}

// APIID returns requestContext.apiId.
func (g *Gateway) APIID() string { return g.apiID }

// Stage returns the stage name.
func (g *Gateway) Stage() string { return g.stage }

// Limits returns the limits in force.
func (g *Gateway) Limits() Limits { return g.limits }

// ThrottledPosts returns how many posts were refused with 429 because the
// client's buffer was full.
func (g *Gateway) ThrottledPosts() int64 { return g.throttledPosts.Load() }

// Connections returns how many connections are open.
func (g *Gateway) Connections() int {
	n := 0
	g.conns.Range(func(_, _ any) bool { n++; return true })
	return n
}

// ServeHTTP serves the WebSocket endpoint at /{stage} and the @connections
// API at /{stage}/@connections/{id}; anything else is 403 Forbidden, as API
// Gateway answers for unknown paths.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if refuseOversized(w, r) {
		return
	}
	path := r.URL.EscapedPath()
	base := "/" + g.stage
	switch {
	case path == base || path == base+"/":
		g.serveWebSocket(w, r)
	case strings.HasPrefix(path, base+"/@connections/"):
		id, err := url.PathUnescape(strings.TrimPrefix(path, base+"/@connections/"))
		if err != nil || id == "" {
			writeError(w, http.StatusBadRequest, "BadRequestException", "Invalid connection ID")
			return
		}
		g.serveConnections(w, r, id)
	default:
		writeError(w, http.StatusForbidden, "ForbiddenException", "Forbidden")
	}
}

// Post sends data to the connection as one text message (in 32 KB frames
// if larger). It returns an error wrapping chat.ErrGone if the connection
// is unknown, closing, closed or still in $connect, chat.ErrThrottled if
// its write buffer is full (the client does not read fast enough), and
// chat.ErrPayloadTooLarge if data is over the message limit. data must
// not be modified after Post returns.
func (g *Gateway) Post(_ context.Context, connectionID string, data []byte) error {
	if int64(len(data)) > g.limits.MaxMessageSize {
		return fmt.Errorf("post to %s: %d bytes: %w", connectionID, len(data), chat.ErrPayloadTooLarge)
	}
	c := g.lookup(connectionID)
	if c == nil {
		return fmt.Errorf("post to %s: %w", connectionID, chat.ErrGone)
	}
	if err := c.enqueue(data); err != nil {
		return fmt.Errorf("post to %s: %w", connectionID, err)
	}
	return nil
}

// Alive reports whether the connection is open (GetConnection would
// answer it); one still in $connect is not.
func (g *Gateway) Alive(_ context.Context, connectionID string) (bool, error) {
	return g.lookup(connectionID) != nil, nil
}

// Disconnect closes a connection as DELETE @connections does.
func (g *Gateway) Disconnect(_ context.Context, connectionID string) error {
	return g.Close(connectionID)
}

// Close closes a connection with status 1000, as DELETE @connections does;
// $disconnect runs. It returns an error wrapping chat.ErrGone if the
// connection is not open.
func (g *Gateway) Close(connectionID string) error {
	c := g.lookup(connectionID)
	if c == nil {
		return fmt.Errorf("close %s: %w", connectionID, chat.ErrGone)
	}
	c.closeWith(1000, "Connection closed by the server")
	return nil
}

// Shutdown refuses new connections, closes every connection with 1001
// ("Going away"), and waits until each $disconnect has run or ctx ends.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	g.closing = true
	g.mu.Unlock()
	g.conns.Range(func(_, v any) bool {
		v.(*conn).closeWith(1001, "Going away")
		return true
	})
	done := make(chan struct{})
	go func() { g.live.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("gateway shutdown: %w", ctx.Err())
	}
}

func (g *Gateway) lookup(id string) *conn {
	v, ok := g.conns.Load(id)
	if !ok {
		return nil
	}
	return v.(*conn)
}

// invoke calls the integration with the integration timeout. A panic or a
// timeout is an integration failure, as a crashed or slow Lambda is; the
// integration's goroutine is left to finish on its own after a timeout.
func (g *Gateway) invoke(ctx context.Context, in Integration, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	timeout := g.timeoutOf(req.RequestContext.RouteKey)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if rk := req.RequestContext.RouteKey; rk == RouteConnect || rk == RouteDisconnect {
		// $connect and $disconnect carry the connection's life: their
		// latency is what a reconnect storm stretches (debug level).
		began := time.Now()
		defer func() {
			g.log.Debug("integration latency", slog.String("routeKey", rk),
				slog.String("connectionId", req.RequestContext.ConnectionID), slog.Int64("latencyMs", time.Since(began).Milliseconds()))
		}()
	}
	type result struct {
		resp events.APIGatewayProxyResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("%w: integration panicked: %v", ErrFunctionError, p)}
			}
		}()
		resp, err := in.Invoke(ctx, req)
		done <- result{resp, err}
	}()
	select {
	case r := <-done:
		return r.resp, r.err
	case <-ctx.Done():
		return events.APIGatewayProxyResponse{}, fmt.Errorf("%s after %v: %w", req.RequestContext.RouteKey, timeout, ErrIntegrationTimeout)
	}
}

// timeoutOf is a route's integration timeout: its own (TimeoutInMillis),
// capped by Limits.IntegrationTimeout, which is also the default.
func (g *Gateway) timeoutOf(routeKey string) time.Duration {
	if t, ok := g.routeTimeouts[routeKey]; ok && t > 0 && t < g.limits.IntegrationTimeout {
		return t
	}
	return g.limits.IntegrationTimeout
}

// baseContext returns the requestContext fields every event of c shares.
func (g *Gateway) baseContext(c *conn, routeKey, eventType string, now time.Time) events.APIGatewayWebsocketProxyRequestContext {
	id := newID()
	return events.APIGatewayWebsocketProxyRequestContext{
		RouteKey:          routeKey,
		EventType:         eventType,
		ExtendedRequestID: id,
		RequestID:         id,
		RequestTime:       requestTime(now),
		RequestTimeEpoch:  now.UnixMilli(),
		MessageDirection:  "IN",
		Stage:             g.stage,
		ConnectedAt:       c.connectedAt.UnixMilli(),
		Identity:          events.APIGatewayRequestIdentity{SourceIP: c.sourceIP, UserAgent: c.userAgent},
		DomainName:        c.domain,
		ConnectionID:      c.id,
		APIID:             g.apiID,
		Authorizer:        authorizerContext(c.authorizer),
	}
}

// authorizerContext is requestContext.authorizer: nil (absent) without an
// authorizer, else a copy, as each event carries its own.
func authorizerContext(a map[string]any) any {
	if a == nil {
		return nil
	}
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	return out
}

// connectEvent builds the CONNECT event from the handshake request.
func (g *Gateway) connectEvent(c *conn, r *http.Request, now time.Time) events.APIGatewayWebsocketProxyRequest {
	multi := map[string][]string{}
	for k, vs := range r.Header {
		multi[headerName(k)] = append([]string(nil), vs...)
	}
	multi["Host"] = []string{r.Host}
	if _, ok := multi["X-Forwarded-For"]; !ok {
		multi["X-Forwarded-For"] = []string{c.sourceIP}
	}
	multi["X-Forwarded-Port"] = []string{port(r)}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	multi["X-Forwarded-Proto"] = []string{proto}
	multi["X-Amzn-Trace-Id"] = []string{traceID(now)}
	req := events.APIGatewayWebsocketProxyRequest{
		Headers:           lastValues(multi),
		MultiValueHeaders: multi,
		RequestContext:    g.baseContext(c, RouteConnect, "CONNECT", now),
	}
	if q := parseQuery(r.URL.RawQuery); len(q) > 0 {
		req.QueryStringParameters = lastValues(q)
		req.MultiValueQueryStringParameters = q
	}
	return req
}

// messageEvent builds the MESSAGE event for a text message.
func (g *Gateway) messageEvent(c *conn, routeKey string, body []byte, now time.Time) events.APIGatewayWebsocketProxyRequest {
	rc := g.baseContext(c, routeKey, "MESSAGE", now)
	rc.MessageID = newID()
	return events.APIGatewayWebsocketProxyRequest{RequestContext: rc, Body: string(body), IsBase64Encoded: false}
}

// disconnectEvent builds the DISCONNECT event, with the few headers API
// Gateway sends with it.
func (g *Gateway) disconnectEvent(c *conn, code int, reason string, now time.Time) events.APIGatewayWebsocketProxyRequest {
	multi := map[string][]string{
		"Host":            {c.domain},
		"x-api-key":       {""},
		"X-Forwarded-For": {""},
		"x-restapi":       {""},
	}
	rc := g.baseContext(c, RouteDisconnect, "DISCONNECT", now)
	rc.DisconnectStatusCode = int64(code)
	rc.DisconnectReason = &reason
	return events.APIGatewayWebsocketProxyRequest{Headers: lastValues(multi), MultiValueHeaders: multi, RequestContext: rc}
}

// parseQuery splits a query string on "&" alone. Go's url.ParseQuery drops
// every pair that holds a ";" (it was a separator once), so ?room=a;b
// would arrive without its room and the chat would put the client in the
// default room without a word; here ";" is part of the value, which the
// chat then refuses (400). A pair whose escapes do not decode is kept raw.
func parseQuery(raw string) map[string][]string {
	q := map[string][]string{}
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		q[k] = append(q[k], v)
	}
	return q
}

// headerName undoes Go's canonicalisation where it differs from the names
// clients send and API Gateway passes on: Sec-Websocket-Key arrives as
// Sec-WebSocket-Key.
//
// Header casing in $connect events: API Gateway passes header names on as
// the client sent them, without lower-casing them (AWS's own subprotocol
// example lower-cases event.headers itself before looking one up, and the
// other emulators keep the client's casing). net/http keeps only the
// canonical form (Sec-Websocket-Key), so the client's exact casing is not
// recoverable here without parsing the raw request ourselves. Browsers send
// the canonical casing (Host, User-Agent, Sec-WebSocket-Key, ...), which
// this function restores, so for the page the event matches API Gateway's;
// a client that sends "sec-websocket-key" in lower case would see it in
// canonical form here and lower case on AWS. Handlers should look headers
// up ignoring case, as AWS's example does (handler.header does).
func headerName(k string) string {
	if rest, ok := strings.CutPrefix(k, "Sec-Websocket-"); ok {
		return "Sec-WebSocket-" + rest
	}
	return k
}

func lastValues(m map[string][]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, vs := range m {
		if len(vs) > 0 {
			out[k] = vs[len(vs)-1]
		}
	}
	return out
}

func port(r *http.Request) string {
	if _, p, err := net.SplitHostPort(r.Host); err == nil {
		return p
	}
	return "80"
}

func sourceIP(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// internalError and forbidden are the frames API Gateway sends, byte for byte.
func internalError(connectionID, requestID string) []byte {
	return statusFrame("Internal server error", connectionID, requestID)
}

// tooManyRequests is the frame of a message the stage's throttle dropped.
// AWS documents "429 Too Many Requests" for throttled requests but not
// what a WebSocket client receives: this follows the shape of API
// Gateway's other error frames.
func tooManyRequests(connectionID, requestID string) []byte {
	return statusFrame("Too Many Requests", connectionID, requestID)
}

func forbidden(connectionID, requestID string) []byte {
	return statusFrame("Forbidden", connectionID, requestID)
}

func statusFrame(message, connectionID, requestID string) []byte {
	return fmt.Appendf(nil, `{"message": %q, "connectionId":%q, "requestId":%q}`, message, connectionID, requestID)
}

// errClosing refuses handshakes once Shutdown has begun.
var errClosing = errors.New("gateway is shutting down")
