package chat_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/memstore"
)

// discardSender takes every post and keeps nothing: what the local
// gateway's Post costs (a queue append) is measured in internal/gateway.
type discardSender struct{}

func (discardSender) Post(context.Context, string, []byte) error { return nil }

// BenchmarkSendPath is the domain's send path as the local adapter runs it:
// a chat message with a clientMsgId into a room of N members on the
// in-memory stores, with everything on: the send limit's clock, the seq,
// the history append and its deduplication, the ack, and the broadcast
// (Workers 1, as the local host runs it). Allocations are reported, so
// that a change to the path shows its cost:
//
//	go test -run '^$' -bench SendPath -benchmem ./internal/chat/
func BenchmarkSendPath(b *testing.B) {
	for _, members := range []int{10, 200, 1000} {
		b.Run(fmt.Sprintf("room=%d", members), func(b *testing.B) {
			store := memstore.New()
			ctx := context.Background()
			svc := &chat.Service{
				Store: store, Counters: store, History: memstore.NewHistory(), Sender: discardSender{}, Workers: 1,
				// A limit that is checked and advanced on every message,
				// but never refuses within the benchmark.
				SendLimit: chat.RateLimit{Burst: 1 << 30, Every: time.Nanosecond},
				Logger:    slog.New(slog.DiscardHandler),
			}
			for i := range members {
				if _, err := svc.Connect(ctx, "c"+strconv.Itoa(i), "m"+strconv.Itoa(i), "bench"); err != nil {
					b.Fatal(err)
				}
			}
			frames := make([][]byte, b.N)
			for i := range frames {
				frames[i] = fmt.Appendf(nil, `{"action":"chat message","text":"message number %d of the benchmark","clientMsgId":"b%d"}`, i, i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, err := svc.Send(ctx, "c0", frames[i]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
