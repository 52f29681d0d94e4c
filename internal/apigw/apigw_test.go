package apigw_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/aws/smithy-go"

	"github.com/serverless-chat/chat/internal/apigw"
	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/memstore"
)

func TestSenderPost(t *testing.T) {
	tests := []struct {
		name     string
		replies  []reply
		wantErr  error // a sentinel the error must wrap; nil for success
		wantSDK  any   // a pointer to an SDK error type the error must also wrap
		attempts int   // posts the server must see
	}{
		{name: "ok", replies: []reply{ok}, attempts: 1},
		{name: "gone", replies: []reply{gone}, wantErr: chat.ErrGone, wantSDK: new(*types.GoneException), attempts: 1},
		{name: "bare 410", replies: []reply{bareGone}, wantErr: chat.ErrGone, attempts: 1},
		{name: "payload too large", replies: []reply{tooLarge}, wantErr: chat.ErrPayloadTooLarge,
			wantSDK: new(*types.PayloadTooLargeException), attempts: 1},
		{name: "bare 413", replies: []reply{bareLarge}, wantErr: chat.ErrPayloadTooLarge, attempts: 1},
		{name: "forbidden", replies: []reply{forbidden}, wantSDK: new(*types.ForbiddenException), attempts: 1},
		{name: "throttled then ok", replies: []reply{throttled, throttled, ok}, attempts: 3},
		{name: "bare 429 then ok", replies: []reply{bareTooMany, ok}, attempts: 2},
		{name: "throttled throughout", replies: []reply{throttled}, wantErr: chat.ErrThrottled,
			wantSDK: new(*types.LimitExceededException), attempts: apigw.DefaultMaxAttempts},
		{name: "bare 429 throughout", replies: []reply{bareTooMany}, wantErr: chat.ErrThrottled, attempts: apigw.DefaultMaxAttempts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateway(t)
			id := "conn-" + strings.ReplaceAll(tt.name, " ", "-")
			g.script(id, tt.replies...)
			s := &apigw.Sender{Client: testClient(), Endpoint: g.endpoint("prod")}

			err := s.Post(withTimeout(t), id, []byte(`{"type":"chat message"}`))

			if got := g.postsTo(id); got != tt.attempts {
				t.Errorf("posts = %d, want %d", got, tt.attempts)
			}
			wantFail := tt.wantErr != nil || tt.wantSDK != nil
			switch {
			case !wantFail && err != nil:
				t.Fatalf("Post() error = %v, want nil", err)
			case wantFail && err == nil:
				t.Fatalf("Post() error = nil, want an error")
			case !wantFail:
				return
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Post() error = %v, want it to wrap %v", err, tt.wantErr)
			}
			for _, sentinel := range []error{chat.ErrGone, chat.ErrPayloadTooLarge, chat.ErrThrottled} {
				if sentinel != tt.wantErr && errors.Is(err, sentinel) {
					t.Errorf("Post() error = %v, must not wrap %v", err, sentinel)
				}
			}
			if tt.wantSDK != nil && !errors.As(err, tt.wantSDK) {
				t.Errorf("Post() error = %v (%T), want it to wrap %T", err, err, tt.wantSDK)
			}
			if !strings.Contains(err.Error(), id) {
				t.Errorf("Post() error = %q, want the connection ID %q in it", err, id)
			}
		})
	}
}

// The standard retryer must count API Gateway's throttling as a throttle, so
// that it is retried (TestSenderPost checks that) with the throttle backoff.
func TestThrottleIsRetryable(t *testing.T) {
	g := newGateway(t)
	g.script("x", throttled)
	_, err := testClient(apigw.WithRetry(1, time.Millisecond)).PostToConnection(withTimeout(t),
		&apigatewaymanagementapi.PostToConnectionInput{ConnectionId: ptr("x"), Data: []byte("{}")},
		func(o *apigatewaymanagementapi.Options) { o.BaseEndpoint = ptr(g.endpoint("prod")) })
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "LimitExceededException" {
		t.Fatalf("error = %v, want LimitExceededException", err)
	}
	r := testClient().Options().Retryer
	if !r.IsErrorRetryable(err) {
		t.Errorf("IsErrorRetryable(%v) = false, want true", err)
	}
	if r.MaxAttempts() != apigw.DefaultMaxAttempts {
		t.Errorf("MaxAttempts() = %d, want %d", r.MaxAttempts(), apigw.DefaultMaxAttempts)
	}
	// The production backoff is capped at DefaultMaxBackoff.
	prod := apigw.NewClient(testConfig()).Options().Retryer
	for attempt := 1; attempt <= 10; attempt++ {
		d, err := prod.RetryDelay(attempt, apiErr)
		if err != nil || d > apigw.DefaultMaxBackoff {
			t.Errorf("RetryDelay(%d) = %v, %v; want at most %v", attempt, d, err, apigw.DefaultMaxBackoff)
		}
	}
}

func TestSenderRequest(t *testing.T) {
	g := newGateway(t)
	id := "Ab=+/cD1="
	data := []byte(`{"type":"chat message","text":"héllo"}`)
	s := &apigw.Sender{Client: testClient(), Endpoint: g.endpoint("dev")}
	if err := s.Post(withTimeout(t), id, data); err != nil {
		t.Fatalf("Post() error = %v", err)
	}
	posts := g.received()
	if len(posts) != 1 {
		t.Fatalf("posts = %d, want 1", len(posts))
	}
	p := posts[0]
	if p.Method != http.MethodPost {
		t.Errorf("method = %s, want POST", p.Method)
	}
	if want := "/dev/@connections/Ab%3D%2B%2FcD1%3D"; p.EscapedPath != want {
		t.Errorf("path = %s, want %s", p.EscapedPath, want)
	}
	if p.ConnectionID != id {
		t.Errorf("connection ID = %q, want %q", p.ConnectionID, id)
	}
	if !bytes.Equal(p.Body, data) {
		t.Errorf("body = %q, want %q", p.Body, data)
	}
	if want := "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"; !strings.HasPrefix(p.Authorization, want) ||
		!strings.Contains(p.Authorization, "/eu-west-1/execute-api/aws4_request") ||
		!strings.Contains(p.Authorization, "Signature=") {
		t.Errorf("Authorization = %q, want a SigV4 signature for execute-api in eu-west-1", p.Authorization)
	}
}

func TestEndpoint(t *testing.T) {
	tests := []struct{ region, suffix, want string }{
		{"eu-central-1", "", "https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/prod"},
		{"eu-central-1", "amazonaws.com", "https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/prod"},
		// China: the partition's own suffix, from URL_SUFFIX or the region.
		{"cn-north-1", "amazonaws.com.cn", "https://a1b2c3d4e5.execute-api.cn-north-1.amazonaws.com.cn/prod"},
		{"cn-northwest-1", "", "https://a1b2c3d4e5.execute-api.cn-northwest-1.amazonaws.com.cn/prod"},
	}
	for _, tt := range tests {
		if got := apigw.Endpoint("a1b2c3d4e5", tt.region, "prod", tt.suffix); got != tt.want {
			t.Errorf("Endpoint(%s, %q) = %q, want %q", tt.region, tt.suffix, got, tt.want)
		}
	}
}

// redirect sends every request to the test server, recording the URL the
// SDK meant, so that the real AWS endpoint can be checked without AWS.
type redirect struct {
	to   *url.URL
	mu   sync.Mutex
	urls []string
}

func (r *redirect) Do(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.urls = append(r.urls, req.URL.Scheme+"://"+req.URL.Host+req.URL.EscapedPath())
	r.mu.Unlock()
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host = r.to.Scheme, r.to.Host
	return http.DefaultClient.Do(req)
}

func TestSendersFor(t *testing.T) {
	g := newGateway(t)
	to, _ := url.Parse(g.srv.URL)
	rd := &redirect{to: to}
	client := testClient(func(o *apigatewaymanagementapi.Options) { o.HTTPClient = rd })
	req := &events.APIGatewayWebsocketProxyRequest{RequestContext: events.APIGatewayWebsocketProxyRequestContext{
		APIID: "a1b2c3d4e5", Stage: "prod", ConnectionID: "sender=",
		DomainName: "chat.example.com", // a custom domain: must not be used
	}}
	tests := []struct {
		name    string
		senders *apigw.Senders
		want    string
	}{
		{name: "from the request", senders: &apigw.Senders{Client: client, Region: "eu-west-1"},
			want: "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod/@connections/to%3D"},
		{name: "China", senders: &apigw.Senders{Client: client, Region: "cn-north-1", URLSuffix: "amazonaws.com.cn"},
			want: "https://a1b2c3d4e5.execute-api.cn-north-1.amazonaws.com.cn/prod/@connections/to%3D"},
		{name: "override", senders: &apigw.Senders{Client: client, Region: "eu-west-1", Override: "http://127.0.0.1:8080/local/"},
			want: "http://127.0.0.1:8080/local/@connections/to%3D"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd.mu.Lock()
			rd.urls = nil
			rd.mu.Unlock()
			if err := tt.senders.For(req).Post(withTimeout(t), "to=", []byte("{}")); err != nil {
				t.Fatalf("Post() error = %v", err)
			}
			rd.mu.Lock()
			defer rd.mu.Unlock()
			if len(rd.urls) != 1 || rd.urls[0] != tt.want {
				t.Errorf("requested %q, want [%q]", rd.urls, tt.want)
			}
		})
	}
}

// A broadcast through the real client: stale connections are deleted, other
// failures counted, the rest delivered, and the sender skipped.
func TestBroadcastThroughAPI(t *testing.T) {
	ctx := withTimeout(t)
	g := newGateway(t)
	store := memstore.New()
	now := time.Now()
	for _, c := range []struct{ id, name string }{
		{"sender=", "alice"}, {"live/1+", "bob"}, {"live2", "carol"},
		{"gone1", "dave"}, {"gone2", "erin"}, {"forbidden", "frank"}, {"throttled", "grace"},
	} {
		// Connected a minute ago: past chat.ConnectGrace, a 410 proves them gone.
		if err := store.Put(ctx, chat.Connection{ID: c.id, Room: "general", Name: c.name, ConnectedAt: now.Add(-time.Minute),
			ExpiresAt: now.Add(chat.TTL)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Put(ctx, chat.Connection{ID: "elsewhere", Room: "other", Name: "zed", ExpiresAt: now.Add(chat.TTL)}); err != nil {
		t.Fatal(err)
	}
	g.script("gone1", gone)
	g.script("gone2", bareGone)
	g.script("forbidden", forbidden)
	g.script("throttled", throttled, ok)

	svc := &chat.Service{
		Store:   store,
		History: memstore.NewHistory(),
		// The broadcast alone: no "left" notices for the gone.
		PresenceLimit: -1,
		Sender:        &apigw.Sender{Client: testClient(), Endpoint: g.endpoint("prod")},
		Logger:        slog.New(slog.DiscardHandler),
	}
	d, err := svc.Send(ctx, "sender=", []byte(`{"action":"chat message","text":"hi all"}`))
	if err != nil {
		t.Fatalf("Send() error = %v", err)
	}
	if want := (chat.Delivery{Seq: 1, Recipients: 6, Delivered: 3, Gone: 2, Failed: 1}); d != want {
		t.Errorf("Send() = %+v, want %+v", d, want)
	}

	roster, err := store.Members(ctx, "general", now)
	if err != nil {
		t.Fatal(err)
	}
	var members []string
	for _, m := range roster {
		members = append(members, m.ID)
	}
	slices.Sort(members)
	if want := []string{"forbidden", "live/1+", "live2", "sender=", "throttled"}; !slices.Equal(members, want) {
		t.Errorf("members after send = %q, want %q", members, want)
	}

	for _, id := range []string{"sender=", "elsewhere"} {
		if n := g.postsTo(id); n != 0 {
			t.Errorf("posts to %s = %d, want 0", id, n)
		}
	}
	for _, p := range g.received() {
		if p.ConnectionID != "live/1+" {
			continue
		}
		var m chat.Message
		if err := json.Unmarshal(p.Body, &m); err != nil {
			t.Fatalf("frame %q: %v", p.Body, err)
		}
		if m.Type != chat.TypeChatMessage || m.From != "alice" || m.Text != "hi all" || m.Room != "general" {
			t.Errorf("frame = %+v, want a chat message from alice in general", m)
		}
		return
	}
	t.Errorf("no post to live/1+")
}

// Concurrent posts keep their connections: a second broadcast dials none.
func TestConnectionsReused(t *testing.T) {
	ctx := withTimeout(t)
	g := newGateway(t)
	g.delay = 5 * time.Millisecond // so that posts overlap
	store := memstore.New()
	for i := range 101 {
		c := chat.Connection{ID: fmt.Sprintf("c%03d", i), Room: "general", Name: "n", ExpiresAt: time.Now().Add(chat.TTL)}
		if err := store.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	svc := &chat.Service{Store: store, History: memstore.NewHistory(), Workers: 32, Logger: slog.New(slog.DiscardHandler),
		Sender: &apigw.Sender{Client: apigw.NewClient(testConfig()), Endpoint: g.endpoint("prod")}}
	body := []byte(`{"action":"chat message","text":"hi"}`)
	if d, err := svc.Send(ctx, "c000", body); err != nil || d.Delivered != 100 {
		t.Fatalf("Send() = %+v, %v; want 100 delivered", d, err)
	}
	// About one per worker; the transport may dial a spare while a busy
	// connection is being returned to the pool.
	first := g.conns.Load()
	t.Logf("first broadcast opened %d connections", first)
	if d, err := svc.Send(ctx, "c000", body); err != nil || d.Delivered != 100 {
		t.Fatalf("Send() = %+v, %v; want 100 delivered", d, err)
	}
	// With the SDK's default of 10 idle connections per host, about 22
	// of the 32 would be closed and dialed again on every broadcast.
	if n := g.conns.Load() - first; n > 4 {
		t.Errorf("second broadcast opened %d new connections, want (nearly) none: idle pool too small", n)
	}
}

func TestNewClientTransport(t *testing.T) {
	bc, ok := apigw.NewClient(testConfig()).Options().HTTPClient.(*awshttp.BuildableClient)
	if !ok {
		t.Fatalf("HTTPClient is %T, want *awshttp.BuildableClient", apigw.NewClient(testConfig()).Options().HTTPClient)
	}
	tr := bc.GetTransport()
	if tr.MaxIdleConnsPerHost < apigw.DefaultMaxConns || tr.MaxIdleConns < apigw.DefaultMaxConns {
		t.Errorf("MaxIdleConnsPerHost, MaxIdleConns = %d, %d; want at least %d", tr.MaxIdleConnsPerHost, tr.MaxIdleConns, apigw.DefaultMaxConns)
	}
	if tr.MaxConnsPerHost != 0 && tr.MaxConnsPerHost < apigw.DefaultMaxConns {
		t.Errorf("MaxConnsPerHost = %d, want at least %d", tr.MaxConnsPerHost, apigw.DefaultMaxConns)
	}
}

func ptr[T any](v T) *T { return &v }

// Under a long run of 429s (a large room against the account's throttle)
// every post keeps its MaxAttempts: none fails fast because a retry quota
// shared by the client's calls ran dry. With the SDK's default quota (500
// tokens, 5 a retry) the 101st retry failed with "retry quota exceeded".
func TestSustainedThrottlingKeepsRetrying(t *testing.T) {
	g := newGateway(t)
	s := &apigw.Sender{Client: testClient(), Endpoint: g.endpoint("prod")}
	const posts = 60 // 60 × 3 retries = 180 retries, past the default quota's 100
	for i := range posts {
		id := fmt.Sprintf("storm-%d", i)
		g.script(id, throttled)
		err := s.Post(withTimeout(t), id, []byte("{}"))
		if !errors.Is(err, chat.ErrThrottled) || strings.Contains(err.Error(), "quota") {
			t.Fatalf("post %d: error = %v, want throttled after its retries, no quota error", i, err)
		}
		if n := g.postsTo(id); n != apigw.DefaultMaxAttempts {
			t.Fatalf("post %d: %d attempts, want %d", i, n, apigw.DefaultMaxAttempts)
		}
	}
}
