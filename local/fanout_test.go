package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/coder/websocket"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/sqsqueue"
	"github.com/serverless-chat/chat/internal/testenv"
)

// TestLargeRoomFanout runs the sharded path end to end: in a room over the
// inline limit, a message reaches every other member once, through the
// in-process queue and through SQS (moto_server) polled by the adapter.
func TestLargeRoomFanout(t *testing.T) {
	t.Run("in-process queue", func(t *testing.T) {
		s := start(t, "-inline-limit", "3")
		largeRoomScenario(t, "ws://"+s.addr+"/local")
	})
	t.Run("sqs", func(t *testing.T) {
		endpoint := testenv.Moto(t)
		cfg, _ := awsConfig(context.Background(), config{region: "us-east-1"}, false)
		out, err := sqsqueue.NewClient(cfg, endpoint).CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String("fanout")})
		if err != nil {
			t.Fatal(err)
		}
		s := start(t, "-inline-limit", "3", "-fanout-queue-url", aws.ToString(out.QueueUrl), "-sqs-endpoint", endpoint)
		largeRoomScenario(t, "ws://"+s.addr+"/local")
	})
}

func largeRoomScenario(t *testing.T, wsURL string) {
	t.Helper()
	const members = 12 // batches of chat.DefaultBatchSize: one; of the sender's 11 others
	var clients []*chatClient
	for i := range members {
		clients = append(clients, dial(t, wsURL, fmt.Sprintf("m%02d", i), "large"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := clients[0].ws.Write(ctx, websocket.MessageText, []byte(`{"action":"chat message","text":"to all","clientMsgId":"large-1"}`)); err != nil {
		t.Fatal(err)
	}
	for i, c := range clients {
		want := chat.TypeChatMessage
		if i == 0 {
			want = chat.TypeAck
		}
		if m := c.next(); m["type"] != want || (i > 0 && (m["text"] != "to all" || m["seq"] != float64(1))) {
			t.Errorf("m%02d got %v, want a %s of seq 1", i, m, want)
		}
	}
	// And exactly once: a second message is the next frame everyone gets.
	if err := clients[1].ws.Write(ctx, websocket.MessageText, []byte(`{"action":"chat message","text":"again"}`)); err != nil {
		t.Fatal(err)
	}
	for i, c := range clients {
		if i == 1 {
			continue
		}
		if m := c.next(); m["text"] != "again" {
			t.Errorf("m%02d got %v, want the second message (the first only once)", i, m)
		}
	}
}
