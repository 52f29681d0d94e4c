package apigw_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"

	"github.com/serverless-chat/chat/internal/apigw"
)

// reply is one answer of the fake @connections API.
type reply struct {
	status int
	// errorType goes to the X-Amzn-ErrorType header, as API Gateway sends
	// it; empty sends a bare status without a header or body.
	errorType string
}

var (
	ok          = reply{status: http.StatusOK}
	gone        = reply{status: http.StatusGone, errorType: "GoneException"}
	bareGone    = reply{status: http.StatusGone}
	tooLarge    = reply{status: http.StatusRequestEntityTooLarge, errorType: "PayloadTooLargeException"}
	bareLarge   = reply{status: http.StatusRequestEntityTooLarge}
	throttled   = reply{status: http.StatusTooManyRequests, errorType: "LimitExceededException"}
	bareTooMany = reply{status: http.StatusTooManyRequests}
	forbidden   = reply{status: http.StatusForbidden, errorType: "ForbiddenException"}
)

// post is a request the fake received.
type post struct {
	Method        string
	Stage         string
	ConnectionID  string // decoded
	EscapedPath   string
	Authorization string
	Header        http.Header
	Host          string
	Body          []byte
}

// gateway is an httptest server answering as API Gateway's @connections API:
// POST /{stage}/@connections/{connectionId}.
type gateway struct {
	srv *httptest.Server
	// delay is how long each post takes, for the benchmark.
	delay time.Duration

	conns atomic.Int64 // connections opened by clients

	mu      sync.Mutex
	scripts map[string][]reply // per connection ID; the last reply repeats; none is 200
	posts   []post
}

func newGateway(t testing.TB) *gateway {
	g := &gateway{scripts: map[string][]reply{}}
	g.srv = httptest.NewUnstartedServer(http.HandlerFunc(g.serve))
	g.srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			g.conns.Add(1)
		}
	}
	g.srv.Start()
	t.Cleanup(g.srv.Close)
	return g
}

// script sets the replies to the posts to id, in order.
func (g *gateway) script(id string, replies ...reply) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.scripts[id] = replies
}

// endpoint is the base URL of a stage, as MANAGEMENT_API_ENDPOINT.
func (g *gateway) endpoint(stage string) string { return g.srv.URL + "/" + stage }

func (g *gateway) received() []post {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]post(nil), g.posts...)
}

func (g *gateway) postsTo(id string) int {
	n := 0
	for _, p := range g.received() {
		if p.ConnectionID == id {
			n++
		}
	}
	return n
}

func (g *gateway) serve(w http.ResponseWriter, r *http.Request) {
	stage, rest, found := strings.Cut(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/@connections/")
	id, err := url.PathUnescape(rest)
	if !found || err != nil || strings.Contains(rest, "/") {
		writeError(w, reply{status: http.StatusForbidden, errorType: "ForbiddenException"}, "Forbidden")
		return
	}
	body, _ := io.ReadAll(r.Body)
	if g.delay > 0 {
		time.Sleep(g.delay)
	}
	g.mu.Lock()
	g.posts = append(g.posts, post{
		Method: r.Method, Stage: stage, ConnectionID: id, EscapedPath: r.URL.EscapedPath(),
		Authorization: r.Header.Get("Authorization"), Header: r.Header.Clone(), Host: r.Host, Body: body,
	})
	rep := ok
	if s := g.scripts[id]; len(s) > 0 {
		rep = s[0]
		if len(s) > 1 {
			g.scripts[id] = s[1:]
		}
	}
	g.mu.Unlock()
	if r.Method != http.MethodPost {
		writeError(w, reply{status: http.StatusForbidden, errorType: "ForbiddenException"}, "Forbidden")
		return
	}
	writeError(w, rep, http.StatusText(rep.status))
}

func writeError(w http.ResponseWriter, rep reply, message string) {
	w.Header().Set("X-Amzn-Requestid", "b3a1c0de-0000-4000-8000-000000000000")
	if rep.status == http.StatusOK {
		w.WriteHeader(http.StatusOK)
		return
	}
	if rep.errorType == "" {
		w.WriteHeader(rep.status)
		return
	}
	w.Header().Set("X-Amzn-Errortype", rep.errorType)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	fmt.Fprintf(w, `{"message":%q}`, message)
}

// testConfig is an aws.Config with static credentials, so requests are
// signed as in Lambda without looking for real ones.
func testConfig() aws.Config {
	return aws.Config{
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
	}
}

// testClient is the production client with short backoffs.
func testClient(opts ...func(*apigatewaymanagementapi.Options)) *apigatewaymanagementapi.Client {
	return apigw.NewClient(testConfig(), append([]func(*apigatewaymanagementapi.Options){
		apigw.WithRetry(apigw.DefaultMaxAttempts, 5*time.Millisecond),
	}, opts...)...)
}

func withTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
