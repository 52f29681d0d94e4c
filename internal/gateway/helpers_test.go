package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/gateway"
	"github.com/serverless-chat/chat/internal/handler"
	"github.com/serverless-chat/chat/internal/memstore"
	"github.com/serverless-chat/chat/internal/testenv"
)

func TestMain(m *testing.M) {
	raiseFileLimit()
	os.Exit(testenv.Run(m))
}

// raiseFileLimit lifts the soft limit on open files to the hard limit: the
// load test holds two descriptors per client.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// wait is how long a test waits for something that should happen at once;
// generous, for a loaded 2-core machine under -race.
const wait = 30 * time.Second

func testLogger() *slog.Logger {
	if os.Getenv("GATEWAY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// recorder wraps integrations and keeps every event they receive.
type recorder struct {
	mu     sync.Mutex
	events []events.APIGatewayWebsocketProxyRequest
	notify chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) wrap(in gateway.Integration) gateway.Integration {
	return gateway.IntegrationFunc(func(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		r.mu.Lock()
		r.events = append(r.events, req)
		r.mu.Unlock()
		select {
		case r.notify <- struct{}{}:
		default:
		}
		return in.Invoke(ctx, req)
	})
}

// all returns the events recorded so far, for routeKey ("" for all).
func (r *recorder) all(routeKey string) []events.APIGatewayWebsocketProxyRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []events.APIGatewayWebsocketProxyRequest
	for _, e := range r.events {
		if routeKey == "" || e.RequestContext.RouteKey == routeKey {
			out = append(out, e)
		}
	}
	return out
}

// waitFor waits until an event for routeKey satisfies match, and returns it.
func (r *recorder) waitFor(t testing.TB, routeKey string, match func(events.APIGatewayWebsocketProxyRequest) bool) events.APIGatewayWebsocketProxyRequest {
	t.Helper()
	deadline := time.After(wait)
	for {
		for _, e := range r.all(routeKey) {
			if match == nil || match(e) {
				return e
			}
		}
		select {
		case <-r.notify:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no %s event after %v", routeKey, wait)
		}
	}
}

// disconnectsOf counts the $disconnect events of a connection.
func (r *recorder) disconnectsOf(id string) []events.APIGatewayWebsocketProxyRequest {
	var out []events.APIGatewayWebsocketProxyRequest
	for _, e := range r.all(gateway.RouteDisconnect) {
		if e.RequestContext.ConnectionID == id {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) connectionIDs(routeKey string) []string {
	var ids []string
	for _, e := range r.all(routeKey) {
		ids = append(ids, e.RequestContext.ConnectionID)
	}
	return ids
}

// env is a gateway with the chat's handlers in process, on a test server.
type env struct {
	gw    *gateway.Gateway
	srv   *httptest.Server
	rec   *recorder
	store *memstore.Store
	ws    string // ws://host/{stage}
	api   string // http://host/{stage}, the @connections endpoint
}

// chatRoutes returns the chat's routes, served in process by h.
func chatRoutes(h *handler.Handler) map[string]gateway.Integration {
	routes := map[string]gateway.Integration{chat.ActionPing: gateway.Mock{}}
	for key, fn := range h.Routes() {
		routes[key] = gateway.IntegrationFunc(fn)
	}
	return routes
}

// newEnv starts the chat. configure may change the gateway's Config; its
// Routes hold the chat's routes, and whatever routes it leaves are recorded.
func newEnv(t testing.TB, configure ...func(*gateway.Config)) *env {
	t.Helper()
	e := &env{rec: newRecorder(), store: memstore.New()}
	h := &handler.Handler{
		Store:    e.store,
		Messages: memstore.NewHistory(),
		// These tests are about the gateway: no join and leave notices
		// among the frames they count (local/ tests presence end to end).
		PresenceLimit: -1,
		// Floods are the point here; the send limit is tested in internal/chat.
		SendLimit: chat.RateLimit{Burst: -1},
		Senders:   func(*events.APIGatewayWebsocketProxyRequest) chat.Sender { return e.gw },
		Logger:    testLogger(),
	}
	cfg := gateway.Config{Stage: "test", Routes: chatRoutes(h), Logger: testLogger()}
	for _, f := range configure {
		f(&cfg)
	}
	// Whatever the routes became, record them.
	for k, v := range cfg.Routes {
		cfg.Routes[k] = e.rec.wrap(v)
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.gw = gw
	e.srv = httptest.NewServer(gw)
	e.ws = "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/" + cfg.Stage
	e.api = e.srv.URL + "/" + cfg.Stage
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := e.gw.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		e.srv.Close()
	})
	return e
}

// client is a real WebSocket client.
type client struct {
	t  testing.TB
	ws *websocket.Conn
	id string // connection ID, when known
}

// dial connects with the query string (without '?').
func (e *env) dial(ctx context.Context, query string, opts *websocket.DialOptions) (*websocket.Conn, *http.Response, error) {
	u := e.ws
	if query != "" {
		u += "?" + query
	}
	ws, resp, err := websocket.Dial(ctx, u, opts)
	if ws != nil {
		ws.SetReadLimit(1 << 20)
	}
	return ws, resp, err
}

// connect dials as name in room and returns the client with its
// connection ID, learnt from the recorded $connect event.
func (e *env) connect(t testing.TB, name, room string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	q := "name=" + name
	if room != "" {
		q += "&room=" + room
	}
	ws, _, err := e.dial(ctx, q, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", name, err)
	}
	c := &client{t: t, ws: ws}
	t.Cleanup(func() { _ = ws.CloseNow() })
	// Find this client's $connect among the recorded ones by its name.
	ev := e.rec.waitFor(t, gateway.RouteConnect, func(ev events.APIGatewayWebsocketProxyRequest) bool {
		return ev.QueryStringParameters["name"] == name
	})
	c.id = ev.RequestContext.ConnectionID
	return c
}

func (c *client) sendText(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) say(text string) {
	c.t.Helper()
	b, _ := json.Marshal(map[string]string{"action": chat.ActionChatMessage, "text": text})
	c.sendText(string(b))
}

// next reads the next text message.
func (c *client) next() []byte {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	typ, b, err := c.ws.Read(ctx)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		c.t.Fatalf("got a %v message, want text", typ)
	}
	return b
}

// nextJSON reads the next message as a JSON object.
func (c *client) nextJSON() map[string]any {
	c.t.Helper()
	b := c.next()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("message %q is not a JSON object: %v", b, err)
	}
	return m
}

// closed reads until the connection ends and returns the close status the
// server sent (-1 if none).
func (c *client) closed() websocket.StatusCode {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		_, _, err := c.ws.Read(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				c.t.Fatalf("connection still open after %v", wait)
			}
			return websocket.CloseStatus(err)
		}
	}
}

// drain reads and drops messages in the background until the connection
// ends, as a browser does, so that the server's close handshake completes
// at once. The channel receives the close status.
func (c *client) drain() <-chan websocket.StatusCode {
	done := make(chan websocket.StatusCode, 1)
	go func() {
		for {
			if _, _, err := c.ws.Read(context.Background()); err != nil {
				done <- websocket.CloseStatus(err)
				return
			}
		}
	}()
	return done
}

// shutdown stops the gateway, so that every $disconnect has run.
func (e *env) shutdown(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := e.gw.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}
