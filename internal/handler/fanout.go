package handler

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/metrics"
	"github.com/serverless-chat/chat/internal/sqsqueue"
)

// MaxBatchAttempts bounds how often a batch whose members are still
// throttled is sent on again. Past it they are left to catch up from
// history: a member throttled for so long has a connection that does not
// read, which API Gateway drops.
const MaxBatchAttempts = 10

// DeliverBatch posts one fan-out batch and returns what is left of it (nil
// if nothing): the consumer of the in-process queue.
func (h *Handler) DeliverBatch(ctx context.Context, b chat.Batch) *chat.Batch {
	log := h.logger().With(slog.String("room", b.Room), slog.Int64("seq", b.Seq))
	// Counters and RoomCap: a member the batch finds gone gives its place
	// in the room's count back.
	svc := &chat.Service{Store: h.Store, History: noHistory{}, Sender: h.SenderAt(b.Endpoint), Workers: h.Workers,
		Reaper: h.Reaper, Counters: h.Counters, RoomCap: h.RoomCap, Logger: log}
	start := time.Now()
	d, rest := svc.DeliverBatch(ctx, b)
	h.recordBatch(d, time.Since(start))
	level := slog.LevelDebug
	if d.Failed > 0 || rest != nil {
		level = slog.LevelWarn
	}
	log.LogAttrs(ctx, level, "batch delivered", slog.Int("recipients", d.Recipients), slog.Int("delivered", d.Delivered),
		slog.Int("gone", d.Gone), slog.Int("retried", d.Retried), slog.Int("throttled", d.Throttled), slog.Int("failed", d.Failed))
	return rest
}

// Fanout is the fan-out function: it delivers the batches of an SQS event.
// Members still throttled when the invocation nears its end are sent on as
// a new batch; a record that cannot be decoded, or whose rest cannot be
// sent on, is reported as a batch item failure, so that SQS retries it
// alone (and, past the queue's maxReceiveCount, moves it to the
// dead-letter queue). A retried record may post to some members twice:
// they drop the frame by its id.
func (h *Handler) Fanout(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	ctx, cancel := h.withMargin(ctx)
	defer cancel()
	var resp events.SQSEventResponse
	fail := func(id string) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
	}
	for _, rec := range ev.Records {
		log := h.logger().With(slog.String("messageId", rec.MessageId))
		b, err := sqsqueue.Decode(rec.Body)
		if err != nil {
			log.ErrorContext(ctx, "bad batch", slog.Any("error", err))
			fail(rec.MessageId)
			continue
		}
		rest := h.DeliverBatch(ctx, b)
		if rest == nil {
			continue
		}
		if rest.Attempt > MaxBatchAttempts {
			log.WarnContext(ctx, "members still throttled; left to catch up from history",
				slog.String("room", b.Room), slog.Int("members", len(rest.Recipients)))
			continue
		}
		if err := h.Queue.Enqueue(context.WithoutCancel(ctx), []chat.Batch{*rest}); err != nil {
			log.ErrorContext(ctx, "rest of batch not sent on", slog.Any("error", err))
			fail(rec.MessageId)
			continue
		}
		h.record(map[string]float64{metrics.BatchesQueued: 1})
	}
	return resp, nil
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}
