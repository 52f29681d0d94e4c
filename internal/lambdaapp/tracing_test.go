package lambdaapp_test

import (
	"context"
	"encoding/json"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-xray-sdk-go/xray"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/lambdaapp"
	"github.com/serverless-chat/chat/internal/testenv"
)

// TestSDKCallsAreSubsegments calls each SDK client New builds (DynamoDB,
// @connections, SQS) in an invocation's context and reads what reaches a UDP
// listener standing in for the X-Ray daemon: one subsegment per call, in
// the invocation's trace, under the function's segment. An unsampled
// invocation sends nothing.
func TestSDKCallsAreSubsegments(t *testing.T) {
	daemon := testenv.NewXRayDaemon(t)
	// Every service refuses every call: a failed call is traced too.
	aws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		const refused = `{"__type":"com.amazonaws#ValidationException","message":"refused"}`
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(refused))), 10)) // DynamoDB's
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, refused)
	}))
	defer aws.Close()
	// The SDK's credentials come from the process's environment.
	t.Setenv("AWS_ACCESS_KEY_ID", "fake")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "fake")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	h, err := lambdaapp.New(context.Background(), lookup(map[string]string{
		"TABLE_NAME": "chat", "AWS_REGION": "eu-west-1",
		"DYNAMODB_ENDPOINT": aws.URL, "MANAGEMENT_API_ENDPOINT": aws.URL + "/prod",
		"FANOUT_QUEUE_URL": aws.URL + "/123456789012/fanout", "SQS_ENDPOINT": aws.URL,
	}))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	// In Lambda the SDK reads the daemon's address from
	// AWS_XRAY_DAEMON_ADDRESS when the process starts.
	if err := xray.Configure(xray.Config{DaemonAddr: daemon.Addr()}); err != nil {
		t.Fatal(err)
	}
	calls := func(ctx context.Context) {
		_, _ = h.Store.Get(ctx, "TraceConnID001=")
		_ = h.SenderAt("").Post(ctx, "TraceConnID002=", []byte(`{}`))
		_ = h.Queue.Enqueue(ctx, []chat.Batch{{Room: "general", Frame: json.RawMessage(`{}`)}})
	}
	const root, parent = "1-5759e988-bd862e3fe1be46a994272793", "53995c3f42cd8ad8"
	// aws-lambda-go puts each invocation's trace header in its context
	// under this key.
	invocation := func(sampled string) context.Context {
		return context.WithValue(context.Background(), xray.LambdaTraceHeaderKey, //nolint:staticcheck // aws-lambda-go's key
			"Root="+root+";Parent="+parent+";Sampled="+sampled)
	}

	t.Run("sampled", func(t *testing.T) {
		calls(invocation("1"))
		got := map[string]testenv.Subsegment{}
		for _, s := range daemon.Read(t, 3, 5*time.Second) {
			got[s.Name] = s
			t.Logf("%s %v", s.Name, s.AWS)
		}
		for name, op := range map[string]string{"DynamoDB": "GetItem", "ApiGatewayManagementApi": "PostToConnection", "SQS": "SendMessageBatch"} {
			s, ok := got[name]
			if !ok {
				t.Errorf("no subsegment named %s; got %v", name, got)
				continue
			}
			if s.Type != "subsegment" || s.TraceID != root || s.ParentID != parent || s.Namespace != "aws" || s.ID == "" {
				t.Errorf("%s: type, trace_id, parent_id, namespace = %q, %q, %q, %q, want subsegment, %s, %s, aws",
					name, s.Type, s.TraceID, s.ParentID, s.Namespace, root, parent)
			}
			if s.AWS["operation"] != op {
				t.Errorf("%s: operation = %v, want %s", name, s.AWS["operation"], op)
			}
		}
	})
	t.Run("not sampled", func(t *testing.T) {
		calls(invocation("0"))
		calls(context.Background()) // no invocation at all: nothing to trace, no panic
		if got := daemon.Read(t, 1, 500*time.Millisecond); len(got) > 0 {
			t.Errorf("got %d subsegments, want none: %+v", len(got), got)
		}
	})
}
