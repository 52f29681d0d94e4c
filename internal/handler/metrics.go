package handler

import (
	"errors"
	"log/slog"
	"time"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/metrics"
)

// Recorder takes the values of the chat's custom metrics, by the names of
// internal/metrics (whose EMF writer is the Lambda functions' Recorder).
type Recorder interface {
	Record(values map[string]float64) error
}

var _ Recorder = (*metrics.EMF)(nil)

// recordSend records what became of a chat or direct message: its delivery
// when it was accepted, or a sender over its send limit.
func (h *Handler) recordSend(d chat.Delivery, elapsed time.Duration, err error) {
	switch {
	case rateLimited(err):
		h.record(map[string]float64{metrics.SendersRateLimited: 1})
	case err == nil && !d.Duplicate:
		v := deliveryValues(d, elapsed)
		v[metrics.MessagesAccepted] = 1
		v[metrics.Recipients] = float64(d.Recipients)
		v[metrics.BatchesQueued] = float64(d.Batches)
		h.record(v)
	}
}

// recordFrame records a frame other than a message (a rename) refused
// for the send limit.
func (h *Handler) recordFrame(err error) {
	if rateLimited(err) {
		h.record(map[string]float64{metrics.SendersRateLimited: 1})
	}
}

// recordBatch records the delivery of one fan-out batch.
func (h *Handler) recordBatch(d chat.Delivery, elapsed time.Duration) {
	h.record(deliveryValues(d, elapsed))
}

func deliveryValues(d chat.Delivery, elapsed time.Duration) map[string]float64 {
	return map[string]float64{
		metrics.PostsDelivered: float64(d.Delivered),
		metrics.PostsGone:      float64(d.Gone),
		metrics.PostsThrottled: float64(d.Throttled),
		metrics.FanoutDuration: float64(elapsed.Microseconds()) / 1000,
	}
}

func (h *Handler) record(values map[string]float64) {
	if h.Metrics == nil {
		return
	}
	if err := h.Metrics.Record(values); err != nil {
		h.logger().Warn("metrics not written", slog.Any("error", err))
	}
}

func rateLimited(err error) bool {
	var pe *chat.ProtocolError
	return errors.As(err, &pe) && pe.Code == chat.CodeRateLimited
}
