package handler

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/metrics"
)

type recorded []map[string]float64

func (r *recorded) Record(v map[string]float64) error {
	*r = append(*r, v)
	return nil
}

func TestMetricsOfDeliveries(t *testing.T) {
	d := chat.Delivery{Recipients: 600, Delivered: 497, Gone: 2, Throttled: 1, Queued: 100, Batches: 1}
	for _, c := range []struct {
		name string
		call func(h *Handler)
		want recorded
	}{
		{"accepted message", func(h *Handler) { h.recordSend(d, 1500*time.Microsecond, nil) }, recorded{{
			metrics.MessagesAccepted: 1, metrics.Recipients: 600, metrics.PostsDelivered: 497, metrics.PostsGone: 2,
			metrics.PostsThrottled: 1, metrics.BatchesQueued: 1, metrics.FanoutDuration: 1.5,
		}}},
		{"duplicate clientMsgId", func(h *Handler) { h.recordSend(chat.Delivery{Duplicate: true}, time.Millisecond, nil) }, nil},
		{"failed message", func(h *Handler) { h.recordSend(chat.Delivery{}, time.Millisecond, errors.New("store down")) }, nil},
		{"bad message", func(h *Handler) {
			h.recordSend(chat.Delivery{}, time.Millisecond, &chat.ProtocolError{Code: chat.CodeEmptyText})
		}, nil},
		{"rate-limited message", func(h *Handler) {
			h.recordSend(chat.Delivery{}, time.Millisecond, &chat.ProtocolError{Code: chat.CodeRateLimited})
		}, recorded{{metrics.SendersRateLimited: 1}}},
		{"rate-limited rename", func(h *Handler) { h.recordFrame(&chat.ProtocolError{Code: chat.CodeRateLimited}) },
			recorded{{metrics.SendersRateLimited: 1}}},
		{"batch", func(h *Handler) { h.recordBatch(chat.Delivery{Recipients: 250, Delivered: 250}, 40*time.Millisecond) }, recorded{{
			metrics.PostsDelivered: 250, metrics.PostsGone: 0, metrics.PostsThrottled: 0, metrics.FanoutDuration: 40,
		}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got recorded
			c.call(&Handler{Metrics: &got})
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("recorded %v, want %v", got, c.want)
			}
			c.call(&Handler{}) // no Recorder: nothing, no panic
		})
	}
}
