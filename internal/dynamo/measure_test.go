package dynamo_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/dynamo"
)

// connectionID returns an ID shaped like API Gateway's ("L0SM9cOFvHcCIhw=").
func connectionID() string {
	var b [11]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])[:15] + "="
}

// population returns rooms×perRoom connections, realistically shaped, and
// the rooms' names.
func population(rooms, perRoom int) ([]chat.Connection, []string) {
	var conns []chat.Connection
	var names []string
	for r := range rooms {
		room := fmt.Sprintf("room-%02d", r)
		names = append(names, room)
		for i := range perRoom {
			conns = append(conns, chat.Connection{
				ID: connectionID(), Room: room, Name: fmt.Sprintf("user-%03d", i),
				ConnectedAt: t0, ExpiresAt: t0.Add(chat.TTL),
			})
		}
	}
	return conns, names
}

// TestMessageReadCost measures what DynamoDB reads for one message (the work
// of chat.Service.Send: GetItem of the sender, then Members of its room)
// with 10 rooms of 100 connections, against what a Scan of the table for the
// same room would read. Run with -v to see the numbers (BENCHMARKS.md).
func TestMessageReadCost(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	table := newTable(t, client)
	ctx := testContext(t)

	const rooms, perRoom = 10, 100
	conns, _ := population(rooms, perRoom)
	fill(t, client, table, conns)
	sender := conns[3*perRoom+7]

	c := &counting{Client: client}
	s := dynamo.New(c, table, dynamo.DefaultIndex)
	s.Now = func() time.Time { return t0 }
	got, err := s.Get(ctx, sender.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	members, err := s.Members(ctx, got.Room, t0)
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	if len(members) != perRoom {
		t.Errorf("Members = %d IDs, want %d", len(members), perRoom)
	}
	if c.gets != 1 || c.found != 1 {
		t.Errorf("GetItem calls = %d (found %d), want 1 (1)", c.gets, c.found)
	}
	if c.scanned != perRoom || c.returned != perRoom {
		t.Errorf("Query evaluated %d and returned %d items, want %d and %d", c.scanned, c.returned, perRoom, perRoom)
	}

	// The same room read by a Scan of the whole table with a filter.
	var scanPages, scanScanned, scanCount int
	var scanCapacity float64
	pages := dynamodb.NewScanPaginator(client, &dynamodb.ScanInput{
		TableName:                 aws.String(table),
		FilterExpression:          aws.String("room = :room"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":room": &types.AttributeValueMemberS{Value: got.Room}},
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		scanPages++
		scanScanned += int(page.ScannedCount)
		scanCount += int(page.Count)
		scanCapacity += consumed(page.ConsumedCapacity)
	}
	if scanScanned != rooms*perRoom {
		t.Errorf("Scan evaluated %d items, want %d", scanScanned, rooms*perRoom)
	}

	t.Logf("table of %d rooms x %d connections = %d items", rooms, perRoom, rooms*perRoom)
	t.Logf("one message: GetItem (consistent) %d item, %.1f RCU + Query %d page(s) evaluating %d index items (returned %d), %.1f RCU = %d items read, %.1f RCU",
		c.found, c.getRCU, c.queries, c.scanned, c.returned, c.queryRCU, c.found+c.scanned, c.getRCU+c.queryRCU)
	t.Logf("Scan instead: %d page(s) evaluating %d items (returned %d), %.1f RCU consumed",
		scanPages, scanScanned, scanCount, scanCapacity)
}

// BenchmarkMembers lists a room of 100 connections in a table of 10 such
// rooms, through a Query on the room index of DynamoDB Local.
func BenchmarkMembers(b *testing.B) {
	client := newClient(b)
	table := newTable(b, client)
	conns, rooms := population(10, 100)
	fill(b, client, table, conns)
	s := dynamo.New(client, table, dynamo.DefaultIndex)
	ctx := testContext(b)

	for b.Loop() {
		ids, err := s.Members(ctx, rooms[4], t0)
		if err != nil {
			b.Fatalf("Members: %v", err)
		}
		if len(ids) != 100 {
			b.Fatalf("Members = %d IDs, want 100", len(ids))
		}
	}
}

// BenchmarkMessageReads does one message's reads: GetItem of the sender and
// Members of its 100-connection room.
func BenchmarkMessageReads(b *testing.B) {
	client := newClient(b)
	table := newTable(b, client)
	conns, _ := population(10, 100)
	fill(b, client, table, conns)
	s := dynamo.New(client, table, dynamo.DefaultIndex)
	s.Now = func() time.Time { return t0 }
	ctx := testContext(b)
	sender := conns[450]

	for b.Loop() {
		c, err := s.Get(ctx, sender.ID)
		if err != nil {
			b.Fatalf("Get: %v", err)
		}
		if _, err := s.Members(ctx, c.Room, t0); err != nil {
			b.Fatalf("Members: %v", err)
		}
	}
}

// writeCounting is a HistoryAPI that records what the writes and reads of
// the history consume.
type writeCounting struct {
	*dynamodb.Client
	updates, puts, queries int
	wcu, rcu               float64
	items                  int
}

func (c *writeCounting) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	in2 := *in
	in2.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := c.Client.UpdateItem(ctx, &in2, optFns...)
	if err == nil {
		c.updates++
		c.wcu += consumed(out.ConsumedCapacity)
	}
	return out, err
}

func (c *writeCounting) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	in2 := *in
	in2.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := c.Client.PutItem(ctx, &in2, optFns...)
	if err == nil {
		c.puts++
		c.wcu += consumed(out.ConsumedCapacity)
	}
	return out, err
}

func (c *writeCounting) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	in2 := *in
	in2.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := c.Client.Query(ctx, &in2, optFns...)
	if err == nil {
		c.queries++
		c.items += int(out.ScannedCount)
		c.rcu += consumed(out.ConsumedCapacity)
	}
	return out, err
}

// TestMessageWriteCost measures what storing one message costs (the seq
// counter's UpdateItem and the message's conditional PutItem, whose local
// secondary index is written too) and what a history reply of the latest
// 50 messages reads. Run with -v for the numbers (BENCHMARKS.md).
func TestMessageWriteCost(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	table := tableName(t)
	ctx := testContext(t)
	if err := dynamo.CreateHistoryTable(ctx, client, table, ""); err != nil {
		t.Fatal(err)
	}
	c := &writeCounting{Client: client}
	h := dynamo.NewHistory(c, table, "")
	const n = 200
	text := strings.Repeat("x", 100) // a typical short chat line
	for i := range n {
		m := chat.Message{Type: chat.TypeChatMessage, ID: chat.NewID(), Room: "general", From: "alice", Text: text,
			SentAt: chat.FormatTime(t0), ClientMsgID: fmt.Sprintf("cost-%d", i)}
		if _, _, err := h.Append(ctx, m, t0.Add(24*time.Hour), t0); err != nil {
			t.Fatal(err)
		}
	}
	if c.updates != n || c.puts != n {
		t.Errorf("%d UpdateItem and %d PutItem calls for %d messages, want one each a message", c.updates, c.puts, n)
	}
	writePerMessage := c.wcu / n
	// A resend of the last message: the conditional PutItem fails and
	// returns the stored message; no read.
	before := c.wcu
	if _, isNew, err := h.Append(ctx, chat.Message{ID: chat.NewID(), Room: "general", Text: text, ClientMsgID: fmt.Sprintf("cost-%d", n-1)}, t0.Add(time.Hour), t0); err != nil || isNew {
		t.Fatalf("resend: new %v, %v", isNew, err)
	}
	resend := c.wcu - before
	msgs, _, err := h.Read(ctx, "general", chat.Range{Latest: true, Limit: chat.DefaultHistory}, t0)
	if err != nil || len(msgs) != chat.DefaultHistory {
		t.Fatalf("Read = %d messages, %v", len(msgs), err)
	}
	t.Logf("one message of %d characters: 1 UpdateItem + 1 PutItem = %.1f WCU (table and LSI); a duplicate resend: %.1f WCU, no read",
		len(text), writePerMessage, resend)
	t.Logf("history, latest %d: %d Query page(s), %d items read (one more than asked, to tell if older exist), %.1f RCU (strongly consistent)",
		chat.DefaultHistory, c.queries, c.items, c.rcu)
}

// TestSendLimitWriteCost measures the send limit's price: one conditional
// UpdateItem of the connection's send clock per message, which the room
// index does not project, so its GSI is not written. A lost race costs the
// write and changes nothing. Run with -v for the numbers (BENCHMARKS.md).
func TestSendLimitWriteCost(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	table := tableName(t)
	ctx := testContext(t)
	if err := dynamo.CreateTable(ctx, client, table, ""); err != nil {
		t.Fatal(err)
	}
	c := &writeCounting{Client: client}
	s := dynamo.New(c, table, "")
	conn := chat.Connection{ID: "sender", Room: "general", Name: "a name of twenty-one", ConnectedAt: t0, ExpiresAt: t0.Add(chat.TTL)}
	if err := s.Put(ctx, conn); err != nil {
		t.Fatal(err)
	}
	prev := time.Time{}
	const n = 100
	for i := range n {
		next := t0.Add(time.Duration(i+1) * time.Second)
		if ok, err := s.SetClock(ctx, "sender", chat.SendClock, prev, next); err != nil || !ok {
			t.Fatalf("SetClock %d: %v, %v", i, ok, err)
		}
		prev = next
	}
	perMessage := c.wcu / n
	if c.updates != n {
		t.Errorf("%d UpdateItem calls for %d messages, want one each", c.updates, n)
	}
	// The clock survives a read: Get returns it, so the next frame checks against it.
	got, err := s.Get(ctx, "sender")
	if err != nil || !got.SendTAT.Equal(prev) {
		t.Errorf("Get: SendTAT %v, %v; want %v", got.SendTAT, err, prev)
	}
	if ok, _ := s.SetClock(ctx, "sender", chat.SendClock, t0, t0.Add(time.Hour)); ok {
		t.Error("SetClock from a stale value succeeded: two concurrent frames both took the same token")
	}
	t.Logf("send limit: 1 conditional UpdateItem a message = %.1f WCU (the room index not written)", perMessage)
}
