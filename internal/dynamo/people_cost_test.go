package dynamo_test

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/dynamo"
)

// requestCounting counts the DynamoDB requests of both tables by kind.
type requestCounting struct {
	*dynamodb.Client
	mu sync.Mutex
	n  map[string]int
}

func (c *requestCounting) add(kind string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[kind]++
}

func (c *requestCounting) take() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	reads, writes := 0, 0
	for kind, n := range c.n {
		parts = append(parts, fmt.Sprintf("%d %s", n, kind))
		switch kind {
		case "GetItem", "Query":
			reads += n
		default:
			writes += n
		}
	}
	sort.Strings(parts)
	c.n = map[string]int{}
	return fmt.Sprintf("%d reads, %d writes (%s)", reads, writes, strings.Join(parts, ", "))
}

func (c *requestCounting) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.add("GetItem")
	return c.Client.GetItem(ctx, in, o...)
}

func (c *requestCounting) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.add("PutItem")
	return c.Client.PutItem(ctx, in, o...)
}

func (c *requestCounting) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.add("UpdateItem")
	return c.Client.UpdateItem(ctx, in, o...)
}

func (c *requestCounting) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	c.add("DeleteItem")
	return c.Client.DeleteItem(ctx, in, o...)
}

func (c *requestCounting) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.add("Query")
	return c.Client.Query(ctx, in, o...)
}

// TestPeopleRequestCost counts the DynamoDB requests of each operation of
// a person, with the deployed limits on (send and read clocks, per-person
// budgets, the room cap's count), in a room of 20. Run with -v for the
// numbers (BENCHMARKS.md, "What a person's operations cost").
func TestPeopleRequestCost(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	ctx := testContext(t)
	table := newTable(t, client)
	messages := tableName(t)
	if err := dynamo.CreateHistoryTable(ctx, client, messages, ""); err != nil {
		t.Fatal(err)
	}
	c := &requestCounting{Client: client, n: map[string]int{}}
	store := dynamo.New(c, table, dynamo.DefaultIndex)
	var clock sync.Mutex
	now := t0
	svc := &chat.Service{Store: store, Names: store, Counters: store, Blocks: store, History: dynamo.NewHistory(c, messages, ""),
		Sender: nopSender{}, Logger: slog.New(slog.DiscardHandler), LeaveGrace: time.Millisecond,
		Now: func() time.Time { clock.Lock(); defer clock.Unlock(); now = now.Add(3 * time.Second); return now }}
	for i := range 18 {
		if _, err := svc.ConnectAnonymous(ctx, fmt.Sprint("member-", i), fmt.Sprint("member ", i), "general", "198.51.100.1",
			fmt.Sprintf("secret-of-member-%02d-abcdefgh", i)); err != nil {
			t.Fatal(err)
		}
	}
	c.take()
	measure := func(what string, do func() error) {
		t.Helper()
		if err := do(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		t.Logf("%-44s %s", what+":", c.take())
	}
	var ann, bob chat.Connection
	measure("a join (first connection of a person)", func() (err error) {
		ann, err = svc.ConnectAnonymous(ctx, "ann-1", "Ann", "general", "198.51.100.2", "ann-secret-0123456789abcdef")
		return err
	})
	measure("a join of a second tab", func() error {
		_, err := svc.ConnectAnonymous(ctx, "ann-2", "Ann", "general", "198.51.100.2", "ann-secret-0123456789abcdef")
		return err
	})
	measure("a join whose name is taken", func() (err error) {
		bob, err = svc.ConnectAnonymous(ctx, "bob-1", "Ann", "general", "198.51.100.3", "bob-secret-0123456789abcdef")
		return err
	})
	measure("a message", func() error {
		_, err := svc.Send(ctx, "ann-1", []byte(`{"action":"chat message","text":"hello","clientMsgId":"m1"}`))
		return err
	})
	measure("a private message (first of its conversation)", func() error {
		_, err := svc.Direct(ctx, "ann-1", []byte(`{"action":"direct message","toId":"`+bob.UserID+`","text":"psst","clientMsgId":"d1"}`))
		return err
	})
	measure("a private message", func() error {
		_, err := svc.Direct(ctx, "ann-1", []byte(`{"action":"direct message","toId":"`+bob.UserID+`","text":"again","clientMsgId":"d2"}`))
		return err
	})
	measure("who", func() error { return svc.Who(ctx, "ann-1") })
	measure("a rename", func() error {
		return svc.Rename(ctx, "ann-1", []byte(`{"action":"rename","name":"Annie"}`))
	})
	// Messages that live (issue 17).
	measure("an edit", func() error {
		return svc.Edit(ctx, "ann-1", []byte(`{"action":"edit","target":1,"text":"hello!","clientMsgId":"e1"}`))
	})
	measure("a reaction", func() error {
		return svc.React(ctx, "bob-1", []byte(`{"action":"react","target":1,"emoji":"👍","op":"add","clientMsgId":"r1"}`))
	})
	measure("a delete (of a message edited once)", func() error {
		return svc.DeleteMessage(ctx, "ann-1", []byte(`{"action":"delete","target":1,"clientMsgId":"x1"}`))
	})
	measure("a block", func() error {
		return svc.Block(ctx, "bob-1", []byte(`{"action":"block","userId":"`+ann.UserID+`","blocked":true}`))
	})
	measure("a private message from a blocked person", func() error {
		_, err := svc.Direct(ctx, "ann-1", []byte(`{"action":"direct message","toId":"`+bob.UserID+`","text":"hi","clientMsgId":"d3"}`))
		if err == nil {
			return fmt.Errorf("not refused")
		}
		return nil
	})
	measure("a leave of one of two tabs", func() error { return svc.Disconnect(ctx, "ann-2") })
	measure("a leave (last connection, after the grace)", func() error { return svc.Disconnect(ctx, "ann-1") })
}
