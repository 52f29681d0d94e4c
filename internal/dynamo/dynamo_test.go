package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/dynamo"
	"github.com/serverless-chat/chat/internal/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m))
}

// newClient returns a real SDK client for DynamoDB Local.
func newClient(t testing.TB) *dynamodb.Client {
	t.Helper()
	endpoint := testenv.DynamoDB(t)
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}
	return dynamo.NewClient(cfg, endpoint)
}

var tableSeq atomic.Int64

// tableName returns a table name of the test's own.
func tableName(t testing.TB) string {
	name := strings.NewReplacer("/", "-", "#", "-", " ", "-").Replace(t.Name())
	if len(name) > 200 {
		name = name[:200]
	}
	return fmt.Sprintf("%s-%d", name, tableSeq.Add(1))
}

// newTable creates a table of the test's own with dynamo.CreateTable and
// deletes it when the test ends.
func newTable(t testing.TB, client *dynamodb.Client) string {
	t.Helper()
	table := tableName(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := dynamo.CreateTable(ctx, client, table, dynamo.DefaultIndex); err != nil {
		t.Fatalf("CreateTable(%s): %v", table, err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	return table
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// t0 is the tests' "now": a time as the store keeps it (whole milliseconds,
// UTC), a day ahead of the real clock. DynamoDB Local runs TTL deletion, so
// an expiresAt before the real time may vanish during a test; one after t0
// minus a day never does.
var t0 = time.Now().Add(24 * time.Hour).UTC().Truncate(time.Millisecond)

func conn(id, room string) chat.Connection {
	return chat.Connection{
		ID: id, Room: room, Name: "name-" + id,
		ConnectedAt: t0, ExpiresAt: t0.Add(chat.TTL).Truncate(time.Second),
	}
}

func sameConnection(a, b chat.Connection) bool {
	return a.ID == b.ID && a.Room == b.Room && a.Name == b.Name &&
		a.ConnectedAt.Equal(b.ConnectedAt) && a.ExpiresAt.Equal(b.ExpiresAt)
}

// newStore returns a store on a fresh table whose clock reads t0.
func newStore(t *testing.T) (*dynamo.Store, *dynamodb.Client, string) {
	t.Helper()
	client := newClient(t)
	table := newTable(t, client)
	s := dynamo.New(client, table, dynamo.DefaultIndex)
	s.Now = func() time.Time { return t0 }
	return s, client, table
}

func TestPutGetDelete(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := testContext(t)

	alice := conn("alice-1", "general")
	if err := s.Put(ctx, alice); err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, err := s.Get(ctx, alice.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !sameConnection(got, alice) {
		t.Errorf("Get = %+v, want %+v", got, alice)
	}

	t.Run("put replaces, room included", func(t *testing.T) {
		moved := alice
		moved.Room, moved.Name = "other", "alice2"
		if err := s.Put(ctx, moved); err != nil {
			t.Fatalf("Put: %v", err)
		}
		got, err := s.Get(ctx, alice.ID)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if !sameConnection(got, moved) {
			t.Errorf("Get = %+v, want %+v", got, moved)
		}
		if ids, err := memberIDs(s.Members(ctx, "general", t0)); err != nil || len(ids) != 0 {
			t.Errorf("Members(general) = %v, %v; want none", ids, err)
		}
		if ids, err := memberIDs(s.Members(ctx, "other", t0)); err != nil || !slices.Equal(ids, []string{alice.ID}) {
			t.Errorf("Members(other) = %v, %v; want [%s]", ids, err, alice.ID)
		}
	})

	t.Run("unknown id is not found", func(t *testing.T) {
		for _, id := range []string{"nobody", ""} {
			_, err := s.Get(ctx, id)
			if !errors.Is(err, chat.ErrNotFound) {
				t.Errorf("Get(%q) error = %v, want chat.ErrNotFound", id, err)
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		if _, err := s.Delete(ctx, alice.ID); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := s.Get(ctx, alice.ID); !errors.Is(err, chat.ErrNotFound) {
			t.Errorf("Get after Delete error = %v, want chat.ErrNotFound", err)
		}
		if ids, err := memberIDs(s.Members(ctx, "other", t0)); err != nil || len(ids) != 0 {
			t.Errorf("Members after Delete = %v, %v; want none", ids, err)
		}
	})

	t.Run("delete unknown id", func(t *testing.T) {
		for _, id := range []string{"nobody", alice.ID, ""} {
			if _, err := s.Delete(ctx, id); err != nil {
				t.Errorf("Delete(%q) = %v, want nil", id, err)
			}
		}
	})

	t.Run("put refuses missing key fields", func(t *testing.T) {
		for _, c := range []chat.Connection{conn("", "general"), conn("x", "")} {
			if err := s.Put(ctx, c); err == nil {
				t.Errorf("Put(%+v) = nil, want an error", c)
			}
		}
	})

	t.Run("zero times", func(t *testing.T) {
		c := chat.Connection{ID: "zero", Room: "general", Name: "z"}
		if err := s.Put(ctx, c); err != nil {
			t.Fatalf("Put: %v", err)
		}
		got, err := s.Get(ctx, c.ID)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if !sameConnection(got, c) {
			t.Errorf("Get = %+v, want %+v", got, c)
		}
		if ids, err := memberIDs(s.Members(ctx, "general", t0)); err != nil || !slices.Equal(ids, []string{"zero"}) {
			t.Errorf("Members = %v, %v; want [zero] (no expiresAt means no expiry)", ids, err)
		}
	})
}

func TestGetExpired(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := testContext(t)

	tests := []struct {
		name      string
		expiresAt time.Time
		wantFound bool
	}{
		{"expires later", t0.Add(time.Second), true},
		{"expires now", t0.Truncate(time.Second), false},
		{"expired", t0.Add(-time.Hour), false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := conn(fmt.Sprint("c", i), "general")
			c.ExpiresAt = tt.expiresAt
			if err := s.Put(ctx, c); err != nil {
				t.Fatalf("Put: %v", err)
			}
			_, err := s.Get(ctx, c.ID)
			if gotFound := err == nil; gotFound != tt.wantFound {
				t.Errorf("Get error = %v, want found %v", err, tt.wantFound)
			}
			if err != nil && !errors.Is(err, chat.ErrNotFound) {
				t.Errorf("Get error = %v, want chat.ErrNotFound", err)
			}
			ids, err := memberIDs(s.Members(ctx, "general", t0))
			if err != nil {
				t.Fatalf("Members: %v", err)
			}
			if got := slices.Contains(ids, c.ID); got != tt.wantFound {
				t.Errorf("Members contains %s = %v, want %v", c.ID, got, tt.wantFound)
			}
		})
	}
}

func TestMembers(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := testContext(t)

	var puts []chat.Connection
	for i := range 5 {
		puts = append(puts, conn(fmt.Sprint("a", i), "alpha"), conn(fmt.Sprint("b", i), "beta"))
	}
	stale := conn("a-stale", "alpha")
	stale.ExpiresAt = t0.Add(-time.Minute)
	puts = append(puts, stale)
	for _, c := range puts {
		if err := s.Put(ctx, c); err != nil {
			t.Fatalf("Put(%s): %v", c.ID, err)
		}
	}

	tests := []struct {
		name string
		room string
		now  time.Time
		want []string
	}{
		{"one room, expired skipped", "alpha", t0, []string{"a0", "a1", "a2", "a3", "a4"}},
		{"other room", "beta", t0, []string{"b0", "b1", "b2", "b3", "b4"}},
		{"before the stale one expired", "alpha", t0.Add(-2 * time.Minute), []string{"a-stale", "a0", "a1", "a2", "a3", "a4"}},
		{"all expired", "alpha", t0.Add(chat.TTL), nil},
		{"unknown room", "empty", t0, nil},
		{"empty room name", "", t0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := memberIDs(s.Members(ctx, tt.room, tt.now))
			if err != nil {
				t.Fatalf("Members: %v", err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Members(%q) = %v, want %v", tt.room, got, tt.want)
			}
		})
	}
}

// counting is a DynamoDB client that counts the pages and items its Query
// and GetItem calls read, asking each for its consumed capacity.
type counting struct {
	*dynamodb.Client

	mu       sync.Mutex
	queries  int     // Query calls (pages)
	scanned  int     // items the Queries evaluated
	returned int     // items the Queries returned
	gets     int     // GetItem calls
	found    int     // items GetItem returned
	queryRCU float64 // read capacity units the Queries consumed
	getRCU   float64 // read capacity units the GetItems consumed
}

func (c *counting) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	in2 := *in
	in2.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := c.Client.Query(ctx, &in2, optFns...)
	if err == nil {
		c.mu.Lock()
		c.queries++
		c.scanned += int(out.ScannedCount)
		c.returned += int(out.Count)
		c.queryRCU += consumed(out.ConsumedCapacity)
		c.mu.Unlock()
	}
	return out, err
}

func (c *counting) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	in2 := *in
	in2.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := c.Client.GetItem(ctx, &in2, optFns...)
	if err == nil {
		c.mu.Lock()
		c.gets++
		if len(out.Item) > 0 {
			c.found++
		}
		c.getRCU += consumed(out.ConsumedCapacity)
		c.mu.Unlock()
	}
	return out, err
}

func consumed(cc *types.ConsumedCapacity) float64 {
	if cc == nil {
		return 0
	}
	return aws.ToFloat64(cc.CapacityUnits)
}

// fill writes the connections with BatchWriteItem, 25 items a batch, a few
// batches at a time, retrying unprocessed items.
func fill(t testing.TB, client *dynamodb.Client, table string, conns []chat.Connection) {
	t.Helper()
	ctx := testContext(t)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for batch := range slices.Chunk(conns, 25) {
		g.Go(func() error {
			reqs := make([]types.WriteRequest, 0, len(batch))
			for _, c := range batch {
				av := map[string]types.AttributeValue{
					"connectionId": &types.AttributeValueMemberS{Value: c.ID},
					"room":         &types.AttributeValueMemberS{Value: c.Room},
					"name":         &types.AttributeValueMemberS{Value: c.Name},
					"connectedAt":  &types.AttributeValueMemberN{Value: fmt.Sprint(c.ConnectedAt.UnixMilli())},
					"expiresAt":    &types.AttributeValueMemberN{Value: fmt.Sprint(c.ExpiresAt.Unix())},
				}
				reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
			}
			pending := map[string][]types.WriteRequest{table: reqs}
			for len(pending[table]) > 0 {
				out, err := client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
				if err != nil {
					return err
				}
				pending = out.UnprocessedItems
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("fill %s: %v", table, err)
	}
}

func TestMembersPages(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	table := newTable(t, client)

	tests := []struct {
		name      string
		members   int
		idLen     int   // connection ID length, to make items big
		pageSize  int32 // Store.PageSize
		wantPages int   // at least
	}{
		{"page size 7", 60, 16, 7, 60 / 7},
		// Index items of ~1 KB (the range key may hold 1024 bytes): 1,500
		// of them exceed the 1 MB a Query page reads at most.
		{"past 1 MB", 1500, 1000, 0, 2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			room := fmt.Sprint("room-", i)
			var conns []chat.Connection
			var want []string
			for j := range tt.members {
				id := fmt.Sprintf("%s-%05d-", room, j)
				id += strings.Repeat("x", tt.idLen-len(id))
				conns = append(conns, conn(id, room))
				want = append(want, id)
			}
			stale := conn(room+"-stale", room)
			stale.ExpiresAt = t0.Add(-time.Second)
			conns = append(conns, stale, conn("elsewhere", "other-room"))
			fill(t, client, table, conns)

			c := &counting{Client: client}
			s := dynamo.New(c, table, dynamo.DefaultIndex)
			s.PageSize = tt.pageSize
			got, err := memberIDs(s.Members(testContext(t), room, t0))
			if err != nil {
				t.Fatalf("Members: %v", err)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("Members returned %d IDs, want the %d members", len(got), len(want))
			}
			if c.queries < tt.wantPages {
				t.Errorf("Members read %d pages, want at least %d", c.queries, tt.wantPages)
			}
			t.Logf("%d members: %d pages, %d items evaluated, %d returned", tt.members, c.queries, c.scanned, c.returned)
		})
	}
}

func TestStoredItem(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t)
	ctx := testContext(t)

	c := conn("ttl-1", "general")
	if err := s.Put(ctx, c); err != nil {
		t.Fatalf("Put: %v", err)
	}
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(table),
		Key:       map[string]types.AttributeValue{"connectionId": &types.AttributeValueMemberS{Value: c.ID}},
	})
	if err != nil {
		t.Fatalf("GetItem: %v", err)
	}
	want := map[string]types.AttributeValue{
		"connectionId": &types.AttributeValueMemberS{Value: c.ID},
		"room":         &types.AttributeValueMemberS{Value: c.Room},
		"name":         &types.AttributeValueMemberS{Value: c.Name},
		"connectedAt":  &types.AttributeValueMemberN{Value: fmt.Sprint(c.ConnectedAt.UnixMilli())},
		"expiresAt":    &types.AttributeValueMemberN{Value: fmt.Sprint(c.ExpiresAt.Unix())},
	}
	if len(out.Item) != len(want) {
		t.Errorf("item has %d attributes, want %d: %v", len(out.Item), len(want), out.Item)
	}
	for name, w := range want {
		switch g := out.Item[name].(type) {
		case *types.AttributeValueMemberS:
			if w, ok := w.(*types.AttributeValueMemberS); !ok || g.Value != w.Value {
				t.Errorf("%s = S %q, want %#v", name, g.Value, w)
			}
		case *types.AttributeValueMemberN:
			if w, ok := w.(*types.AttributeValueMemberN); !ok || g.Value != w.Value {
				t.Errorf("%s = N %s, want %#v", name, g.Value, w)
			}
		default:
			t.Errorf("%s = %#v, want %#v", name, g, w)
		}
	}

	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatalf("DescribeTimeToLive: %v", err)
	}
	d := ttl.TimeToLiveDescription
	if d == nil || d.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(d.AttributeName) != "expiresAt" {
		t.Errorf("time to live = %+v, want ENABLED on expiresAt", d)
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	ctx := testContext(t)

	missing := dynamo.New(client, "no-such-table", dynamo.DefaultIndex)
	existing := newTable(t, client)
	badIndex := dynamo.New(client, existing, "no-such-index")

	tests := []struct {
		name string
		call func() error
		want string // in the message
	}{
		{"put", func() error { return missing.Put(ctx, conn("x", "general")) }, "no-such-table"},
		{"get", func() error { _, err := missing.Get(ctx, "x"); return err }, "no-such-table"},
		{"delete", func() error { _, err := missing.Delete(ctx, "x"); return err }, "no-such-table"},
		{"members", func() error { _, err := memberIDs(missing.Members(ctx, "general", t0)); return err }, "no-such-table"},
		{"members of missing index", func() error { _, err := memberIDs(badIndex.Members(ctx, "general", t0)); return err }, "no-such-index"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, dynamo.ErrTableNotFound) {
				t.Fatalf("error = %v, want dynamo.ErrTableNotFound", err)
			}
			if errors.Is(err, chat.ErrNotFound) {
				t.Errorf("error = %v, must not be chat.ErrNotFound", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to name %q", err, tt.want)
			}
		})
	}

	t.Run("canceled context", func(t *testing.T) {
		s := dynamo.New(client, existing, dynamo.DefaultIndex)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Put(ctx, conn("x", "general")); !errors.Is(err, context.Canceled) {
			t.Errorf("Put error = %v, want context.Canceled", err)
		}
	})
}

// memberIDs keeps the IDs of Members' answer.
func memberIDs(members []chat.Member, err error) ([]string, error) {
	var ids []string
	for _, m := range members {
		ids = append(ids, m.ID)
	}
	return ids, err
}
