package handler_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/serverless-chat/chat/internal/chat"
)

type queueRecorder struct {
	mu      sync.Mutex
	batches []chat.Batch
}

func (q *queueRecorder) Enqueue(_ context.Context, bs []chat.Batch) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.batches = append(q.batches, bs...)
	return nil
}

// The fan-out function delivers each record's batch, reports a record it
// cannot read as a batch item failure (SQS retries it alone, then moves it
// to the dead-letter queue), and sends on the members still throttled.
func TestFanout(t *testing.T) {
	rec := newRecorder()
	rec.errs["carol/+"] = chat.ErrThrottled
	q := &queueRecorder{}
	h := newHandler(populated(t), rec)
	h.Queue = q
	h.SenderAt = func(endpoint string) chat.Sender {
		if endpoint != "https://api.example/prod" {
			t.Errorf("sender asked for %q, want the batch's endpoint", endpoint)
		}
		return rec
	}
	// A deadline near enough that the throttled member is handed on after
	// a few tries, as at the end of a Lambda invocation.
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	defer cancel()
	good, _ := json.Marshal(chat.Batch{Room: "general", Seq: 3, Endpoint: "https://api.example/prod",
		Frame: json.RawMessage(`{"type":"chat message","text":"hi"}`), Recipients: []chat.Member{{ID: "bob="}, {ID: "carol/+"}}})
	resp, err := h.Fanout(ctx, events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m-1", Body: string(good)},
		{MessageId: "m-2", Body: "not a batch"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m-2" {
		t.Errorf("failures = %+v, want m-2 alone", resp.BatchItemFailures)
	}
	rec.mu.Lock()
	bobGot := len(rec.frames["bob="])
	rec.mu.Unlock()
	if bobGot != 1 {
		t.Errorf("bob got %d frames, want 1", bobGot)
	}
	if len(q.batches) != 1 || len(q.batches[0].Recipients) != 1 || q.batches[0].Recipients[0].ID != "carol/+" || q.batches[0].Attempt != 1 {
		t.Errorf("sent on %+v, want carol alone, attempt 1", q.batches)
	}
}
