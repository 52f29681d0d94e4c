package gateway_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/coder/websocket"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/gateway"
	"github.com/serverless-chat/chat/internal/testenv"
)

// management returns a real SDK client for the gateway's @connections API.
func (e *env) management() *apigatewaymanagementapi.Client {
	return apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		BaseEndpoint:     aws.String(e.api),
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDLOCAL", "local-secret", ""),
		RetryMaxAttempts: 1,
	})
}

func TestConnectionsAPIWithTheSDK(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) {
		c.RequireSignature, c.Credentials = true, map[string]string{"AKIDLOCAL": "local-secret"}
	})
	api := e.management()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	h := http.Header{}
	h.Set("User-Agent", "sdk-test-client")
	before := time.Now().Truncate(time.Millisecond)
	ws, _, err := e.dial(ctx, "name=alice", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	id := e.rec.waitFor(t, gateway.RouteConnect, nil).RequestContext.ConnectionID

	t.Run("post", func(t *testing.T) {
		if _, err := api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
			ConnectionId: aws.String(id), Data: []byte(`{"hello":"world"}`),
		}); err != nil {
			t.Fatal(err)
		}
		_, got, err := ws.Read(ctx)
		if err != nil || string(got) != `{"hello":"world"}` {
			t.Errorf("client read %q, %v", got, err)
		}
	})
	t.Run("post too large", func(t *testing.T) {
		_, err := api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
			ConnectionId: aws.String(id), Data: bytes.Repeat([]byte("x"), gateway.DefaultMaxMessageSize+1),
		})
		var tooLarge *types.PayloadTooLargeException
		if !errors.As(err, &tooLarge) {
			t.Errorf("got %v, want PayloadTooLargeException", err)
		}
	})
	t.Run("post exactly 128 KB", func(t *testing.T) {
		data := bytes.Repeat([]byte("y"), gateway.DefaultMaxMessageSize)
		if _, err := api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
			ConnectionId: aws.String(id), Data: data,
		}); err != nil {
			t.Fatal(err)
		}
		if _, got, err := ws.Read(ctx); err != nil || !bytes.Equal(got, data) {
			t.Errorf("client read %d bytes, %v; want %d", len(got), err, len(data))
		}
	})
	t.Run("get", func(t *testing.T) {
		out, err := api.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		if out.ConnectedAt == nil || out.ConnectedAt.Before(before) || out.ConnectedAt.After(time.Now()) {
			t.Errorf("connectedAt %v, want between %v and now", out.ConnectedAt, before)
		}
		if out.LastActiveAt == nil || out.LastActiveAt.Before(*out.ConnectedAt) {
			t.Errorf("lastActiveAt %v, want after connectedAt %v", out.LastActiveAt, out.ConnectedAt)
		}
		if out.Identity == nil || aws.ToString(out.Identity.SourceIp) != "127.0.0.1" || aws.ToString(out.Identity.UserAgent) != "sdk-test-client" {
			t.Errorf("identity %+v", out.Identity)
		}
	})
	t.Run("delete", func(t *testing.T) {
		if _, err := api.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
		_, _, err := ws.Read(ctx)
		if got := websocket.CloseStatus(err); got != websocket.StatusNormalClosure {
			t.Errorf("client saw %v, want close 1000", err)
		}
		if got := e.disconnectOf(t, id).RequestContext.DisconnectStatusCode; got != 1000 {
			t.Errorf("disconnectStatusCode %d, want 1000", got)
		}
	})
	t.Run("gone", func(t *testing.T) {
		for _, unknown := range []string{id, "bm90LWEtY29ubg=", "weird/../id"} {
			_, err := api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(unknown), Data: []byte("x")})
			var gone *types.GoneException
			if !errors.As(err, &gone) {
				t.Errorf("post to %s: got %v, want GoneException", unknown, err)
			}
			_, err = api.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(unknown)})
			if !errors.As(err, &gone) {
				t.Errorf("get %s: got %v, want GoneException", unknown, err)
			}
			_, err = api.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(unknown)})
			if !errors.As(err, &gone) {
				t.Errorf("delete %s: got %v, want GoneException", unknown, err)
			}
		}
	})
	t.Run("unsigned request refused", func(t *testing.T) {
		resp, err := http.Post(e.api+"/@connections/"+id, "application/json", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-ErrorType") != "ForbiddenException" {
			t.Errorf("status %d, type %q; want 403 ForbiddenException", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
		}
	})
}

func TestConnectionsAPIWithPlainHTTP(t *testing.T) {
	e := newEnv(t) // signatures not required by default: curl works
	c := e.connect(t, "alice", "")
	resp, err := http.Post(e.api+"/@connections/"+strings.ReplaceAll(c.id, "=", "%3D"), "text/plain", strings.NewReader("plain"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := string(c.next()); got != "plain" {
		t.Errorf("got %q", got)
	}
	resp, err = http.Post(e.api+"/@connections/unknown", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 410 || resp.Header.Get("X-Amzn-ErrorType") != "GoneException" || !strings.HasPrefix(body.String(), `{"message":"`) {
		t.Errorf("got %d %q %s, want 410 GoneException with a JSON message", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body.String())
	}
}

// TestGoneDuringConnect posts to a connection from inside its own $connect:
// it does not exist yet, so API Gateway answers 410.
func TestGoneDuringConnect(t *testing.T) {
	var e *env
	results := make(chan error, 3)
	e = newEnv(t, func(c *gateway.Config) {
		c.Routes[gateway.RouteConnect] = gateway.IntegrationFunc(func(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			id := req.RequestContext.ConnectionID
			results <- e.gw.Post(ctx, id, []byte("too early"))
			api := e.management()
			_, err := api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: []byte("too early")})
			results <- err
			_, err = api.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(id)})
			results <- err
			return events.APIGatewayProxyResponse{StatusCode: 200}, nil
		})
	})
	c := e.connect(t, "alice", "")
	if err := <-results; !errors.Is(err, chat.ErrGone) {
		t.Errorf("in-process post during $connect: %v, want chat.ErrGone", err)
	}
	for _, op := range []string{"post", "get"} {
		var gone *types.GoneException
		if err := <-results; !errors.As(err, &gone) {
			t.Errorf("SDK %s during $connect: %v, want GoneException", op, err)
		}
	}
	// Once open, the same ID works.
	if err := e.gw.Post(context.Background(), c.id, []byte("now")); err != nil {
		t.Fatal(err)
	}
	if got := string(c.next()); got != "now" {
		t.Errorf("got %q", got)
	}
}

// aws runs the AWS CLI against the gateway.
func (e *env) aws(t *testing.T, cli string, args ...string) (string, error) {
	t.Helper()
	args = append([]string{"apigatewaymanagementapi"}, args...)
	args = append(args, "--endpoint-url", e.api, "--output", "json")
	cmd := exec.Command(cli, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"AWS_ACCESS_KEY_ID=AKIDLOCAL", "AWS_SECRET_ACCESS_KEY=local-secret", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestConnectionsAPIWithTheAWSCLI(t *testing.T) {
	cli := testenv.AWSCLI(t)
	e := newEnv(t, func(c *gateway.Config) {
		c.RequireSignature, c.Credentials = true, map[string]string{"AKIDLOCAL": "local-secret"}
	})
	c := e.connect(t, "alice", "")

	// CLI v2 reads blobs as base64 unless told otherwise; v1 takes them raw.
	post := []string{"post-to-connection", "--connection-id=" + c.id, "--data", "from the cli"}
	if v, _ := exec.Command(cli, "--version").CombinedOutput(); strings.HasPrefix(string(v), "aws-cli/2") {
		post = append(post, "--cli-binary-format", "raw-in-base64-out")
	}
	if out, err := e.aws(t, cli, post...); err != nil {
		t.Fatalf("post-to-connection: %v\n%s", err, out)
	}
	if got := string(c.next()); got != "from the cli" {
		t.Errorf("client got %q", got)
	}
	out, err := e.aws(t, cli, "get-connection", "--connection-id="+c.id)
	if err != nil {
		t.Fatalf("get-connection: %v\n%s", err, out)
	}
	for _, want := range []string{`"ConnectedAt"`, `"LastActiveAt"`, `"SourceIp": "127.0.0.1"`} {
		if !strings.Contains(out, want) {
			t.Errorf("get-connection output lacks %s:\n%s", want, out)
		}
	}
	closed := c.drain()
	if out, err := e.aws(t, cli, "delete-connection", "--connection-id="+c.id); err != nil {
		t.Fatalf("delete-connection: %v\n%s", err, out)
	}
	if got := <-closed; got != websocket.StatusNormalClosure {
		t.Errorf("client saw %v, want 1000", got)
	}
	e.disconnectOf(t, c.id)
	out, err = e.aws(t, cli, post...)
	if err == nil || !strings.Contains(out, "GoneException") {
		t.Errorf("post to a closed connection: %v\n%s\nwant a GoneException", err, out)
	}
}

// Forged or stale signatures are refused with 403; the signature is
// computed again with the AWS SDK's signer, not trusted for its shape.
func TestForgedSignaturesRefused(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) {
		c.RequireSignature, c.Credentials = true, map[string]string{"AKIDLOCAL": "local-secret"}
	})
	c := e.connect(t, "alice", "")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	post := func(mutate func(*http.Request, []byte) []byte, creds aws.Credentials, when time.Time) int {
		t.Helper()
		body := []byte(`{"hello":"world"}`)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.api+"/@connections/"+url.PathEscape(c.id), bytes.NewReader(body))
		sum := sha256.Sum256(body)
		if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", when); err != nil {
			t.Fatal(err)
		}
		if mutate != nil {
			body = mutate(req, body)
			req.Body = io.NopCloser(bytes.NewReader(body))
			req.ContentLength = int64(len(body))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	good := aws.Credentials{AccessKeyID: "AKIDLOCAL", SecretAccessKey: "local-secret"}
	if got := post(nil, good, time.Now()); got != http.StatusOK {
		t.Fatalf("a valid signature: %d, want 200", got)
	}
	c.next()
	for _, tt := range []struct {
		name   string
		mutate func(*http.Request, []byte) []byte
		creds  aws.Credentials
		when   time.Time
	}{
		{"wrong secret", nil, aws.Credentials{AccessKeyID: "AKIDLOCAL", SecretAccessKey: "guess"}, time.Now()},
		{"unknown key", nil, aws.Credentials{AccessKeyID: "AKIDOTHER", SecretAccessKey: "local-secret"}, time.Now()},
		{"tampered body", func(_ *http.Request, _ []byte) []byte { return []byte(`{"hello":"mallory"}`) }, good, time.Now()},
		{"signature of the right shape, forged", func(r *http.Request, b []byte) []byte {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-8]+"00000000")
			return b
		}, good, time.Now()},
		{"an hour old", nil, good, time.Now().Add(-time.Hour)},
	} {
		if got := post(tt.mutate, tt.creds, tt.when); got != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tt.name, got)
		}
	}
}

// The signed X-Amz-Content-Sha256 must be the body's hash, an unsigned
// payload is refused, and the credential scope must name execute-api in the
// gateway's region: each is refused with 403 and an X-Amzn-ErrorType.
func TestSignedPayloadAndScopeChecked(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) {
		c.RequireSignature, c.Credentials = true, map[string]string{"AKIDLOCAL": "local-secret"}
	})
	c := e.connect(t, "alice", "")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	good := aws.Credentials{AccessKeyID: "AKIDLOCAL", SecretAccessKey: "local-secret"}
	signed := []byte(`{"hello":"world"}`)
	sum := sha256.Sum256(signed)
	hash := hex.EncodeToString(sum[:])
	for _, tt := range []struct {
		name            string
		header, payload string // X-Amz-Content-Sha256 (signed) and the hash signed
		body            []byte // what is sent
		service, region string
		want            int
	}{
		{"hash header of the body", hash, hash, signed, "execute-api", "us-east-1", http.StatusOK},
		{"swapped body under a signed hash", hash, hash, []byte(`{"hello":"mallory"}`), "execute-api", "us-east-1", http.StatusForbidden},
		{"UNSIGNED-PAYLOAD", "UNSIGNED-PAYLOAD", "UNSIGNED-PAYLOAD", []byte(`{"hello":"mallory"}`), "execute-api", "us-east-1", http.StatusForbidden},
		{"s3 scope", "", hash, signed, "s3", "us-east-1", http.StatusForbidden},
		{"another region", "", hash, signed, "execute-api", "eu-west-3", http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.api+"/@connections/"+url.PathEscape(c.id), bytes.NewReader(tt.body))
			if tt.header != "" {
				req.Header.Set("X-Amz-Content-Sha256", tt.header)
			}
			if err := v4.NewSigner().SignHTTP(ctx, good, req, tt.payload, tt.service, tt.region, time.Now()); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d (%s), want %d", resp.StatusCode, msg, tt.want)
			}
			if tt.want == http.StatusOK {
				c.next()
				return
			}
			if got := resp.Header.Get("X-Amzn-ErrorType"); got == "" || !strings.Contains(string(msg), `"message"`) {
				t.Errorf("X-Amzn-ErrorType = %q, body %s: want the error shape", got, msg)
			}
		})
	}
}
