package sqsqueue_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/sqsqueue"
	"github.com/serverless-chat/chat/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// newQueue creates a queue in moto_server and returns a client and its URL.
func newQueue(t *testing.T) (*sqs.Client, string) {
	t.Helper()
	endpoint := testenv.Moto(t)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
	client := sqsqueue.NewClient(cfg, endpoint)
	// A failed message is received again after its visibility timeout.
	out, err := client.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String("fanout"),
		Attributes: map[string]string{"VisibilityTimeout": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	return client, aws.ToString(out.QueueUrl)
}

// Batches sent through SQS (ten to a call) come out whole, and Poll
// deletes what its handler did not report failed; a failed one comes back.
func TestEnqueueAndPoll(t *testing.T) {
	client, url := newQueue(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var sent []chat.Batch
	for i := range 23 {
		sent = append(sent, chat.Batch{Room: "big", Seq: int64(i + 1), Endpoint: "https://api.example/prod",
			Frame: []byte(fmt.Sprintf(`{"type":"chat message","text":"m%d <&>"}`, i)), Recipients: []chat.Member{{ID: "a=", Name: "ann"}, {ID: "b/+"}}})
	}
	if err := sqsqueue.New(client, url).Enqueue(ctx, sent); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	got := map[int64]chat.Batch{}
	failedOnce := false
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- sqsqueue.Poll(pctx, client, url, func(_ context.Context, msgs []types.Message) []string {
			mu.Lock()
			defer mu.Unlock()
			var failed []string
			for _, m := range msgs {
				b, err := sqsqueue.Decode(aws.ToString(m.Body))
				if err != nil {
					t.Errorf("decode %q: %v", aws.ToString(m.Body), err)
					continue
				}
				if b.Seq == 5 && !failedOnce { // fails once: received again later
					failedOnce = true
					failed = append(failed, aws.ToString(m.MessageId))
					continue
				}
				got[b.Seq] = b
			}
			if len(got) == len(sent) {
				stop()
			}
			return failed
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatalf("received %d of %d batches", len(got), len(sent))
	}
	for _, b := range sent {
		g := got[b.Seq]
		if string(g.Frame) != string(b.Frame) || g.Endpoint != b.Endpoint || !slices.Equal(g.Recipients, b.Recipients) {
			t.Errorf("batch %d came out as %+v, want %+v", b.Seq, g, b)
		}
	}
}

func TestDecodeRefusesBadBodies(t *testing.T) {
	for _, body := range []string{"", "not json", `{}`, `{"room":"x"}`, `{"frame":{}}`, `{"room":"x","frame":"text"}`} {
		if _, err := sqsqueue.Decode(body); err == nil {
			t.Errorf("Decode(%q) = nil error, want one", body)
		}
	}
}
