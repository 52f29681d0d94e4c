package dynamo_test

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/dynamo"
)

// changesService is a Service on DynamoDB Local: both tables fresh.
func changesService(t *testing.T) (*chat.Service, *dynamodb.Client, string) {
	t.Helper()
	store, client, _ := newStore(t)
	ctx := testContext(t)
	messages := tableName(t)
	if err := dynamo.CreateHistoryTable(ctx, client, messages, ""); err != nil {
		t.Fatal(err)
	}
	return &chat.Service{Store: store, Names: store, Blocks: store, History: dynamo.NewHistory(client, messages, ""),
		Sender: nopSender{}, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return t0 },
		SendLimit: chat.RateLimit{Burst: -1}}, client, messages
}

// A deleted message's text is gone from the table, and from its edit
// events: read the raw items.
func TestDeletedTextGoneFromTable(t *testing.T) {
	t.Parallel()
	svc, client, messages := changesService(t)
	ctx := testContext(t)
	if _, err := svc.ConnectAnonymous(ctx, "ann", "Ann", "general", "", "ann-secret-0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	d, err := svc.Send(ctx, "ann", []byte(`{"action":"chat message","text":"my secret plan","clientMsgId":"m1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Edit(ctx, "ann", []byte(fmt.Sprintf(`{"action":"edit","target":%d,"text":"my secret plan, v2","clientMsgId":"e1"}`, d.Seq))); err != nil {
		t.Fatal(err)
	}
	if err := svc.DeleteMessage(ctx, "ann", []byte(fmt.Sprintf(`{"action":"delete","target":%d,"clientMsgId":"x1"}`, d.Seq))); err != nil {
		t.Fatal(err)
	}
	out, err := client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(messages), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for _, item := range out.Items {
		for name, v := range item {
			if strings.Contains(fmt.Sprintf("%+v", v), "secret plan") {
				t.Errorf("item %+v still holds the deleted text in %s", item["msgKey"], name)
			}
		}
		if _, ok := item["deleted"]; ok {
			deleted++
		}
	}
	if deleted != 1 || len(out.Items) < 4 {
		t.Errorf("%d items marked deleted among %d, want the message (and its events kept)", deleted, len(out.Items))
	}
}

// Many people react to one message at once: each counts once per emoji.
func TestConcurrentReactions(t *testing.T) {
	t.Parallel()
	svc, _, _ := changesService(t)
	ctx := testContext(t)
	const people = 12
	ids := make([]string, people)
	for i := range people {
		c, err := svc.ConnectAnonymous(ctx, fmt.Sprint("p", i), fmt.Sprint("P", i), "general", "", fmt.Sprintf("secret-of-person-%02d-abcdefgh", i))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = c.UserID
	}
	d, err := svc.Send(ctx, "p0", []byte(`{"action":"chat message","text":"vote","clientMsgId":"m1"}`))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range people {
		for _, emoji := range []string{"👍", "🎉"} {
			wg.Go(func() {
				// Each twice: the second is a new request, not a resend.
				for k := range 2 {
					body := fmt.Sprintf(`{"action":"react","target":%d,"emoji":%q,"op":"add","clientMsgId":"r%d-%x-%d"}`, d.Seq, emoji, i, emoji, k)
					if err := svc.React(ctx, fmt.Sprint("p", i), []byte(body)); err != nil {
						t.Error(err)
					}
				}
			})
		}
	}
	wg.Wait()
	m, ok, err := svc.History.At(ctx, "general", d.Seq, t0)
	if err != nil || !ok {
		t.Fatalf("At = %v, %v", ok, err)
	}
	for _, emoji := range []string{"👍", "🎉"} {
		got := slices.Sorted(slices.Values(m.Reactions[emoji]))
		if want := slices.Sorted(slices.Values(ids)); !slices.Equal(got, want) {
			t.Errorf("%s by %d people, want each of %d once", emoji, len(got), people)
		}
	}
}

// A client away while a message is edited, reacted to and deleted, and
// another sent, catches up with one since request: every change in order.
func TestCatchUpReturnsChangesInOrder(t *testing.T) {
	t.Parallel()
	svc, _, _ := changesService(t)
	ctx := testContext(t)
	for _, p := range []string{"ann", "bob"} {
		if _, err := svc.ConnectAnonymous(ctx, p, p, "general", "", p+"-secret-0123456789abcdef"); err != nil {
			t.Fatal(err)
		}
	}
	first, err := svc.Send(ctx, "ann", []byte(`{"action":"chat message","text":"one","clientMsgId":"m1"}`))
	if err != nil {
		t.Fatal(err)
	}
	upTo := first.Seq // where the away client stopped
	steps := []struct {
		do   func() error
		want string
	}{
		{func() error {
			return svc.Edit(ctx, "ann", []byte(fmt.Sprintf(`{"action":"edit","target":%d,"text":"one!","clientMsgId":"e1"}`, first.Seq)))
		}, chat.TypeEdit},
		{func() error {
			return svc.React(ctx, "bob", []byte(fmt.Sprintf(`{"action":"react","target":%d,"emoji":"👍","op":"add","clientMsgId":"r1"}`, first.Seq)))
		}, chat.TypeReaction},
		{func() error {
			_, err := svc.Send(ctx, "bob", []byte(`{"action":"chat message","text":"two","clientMsgId":"m2"}`))
			return err
		}, chat.TypeChatMessage},
		{func() error {
			return svc.DeleteMessage(ctx, "ann", []byte(fmt.Sprintf(`{"action":"delete","target":%d,"clientMsgId":"x1"}`, first.Seq)))
		}, chat.TypeDelete},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatal(err)
		}
	}
	msgs, _, err := svc.History.Read(ctx, "general", chat.Range{After: upTo, Limit: 100}, t0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, m := range msgs {
		got = append(got, m.Type)
		if m.Seq != upTo+int64(i)+1 {
			t.Errorf("entry %d has seq %d, want %d: one order, no gap", i, m.Seq, upTo+int64(i)+1)
		}
	}
	want := []string{chat.TypeEdit, chat.TypeReaction, chat.TypeChatMessage, chat.TypeDelete}
	if !slices.Equal(got, want) {
		t.Errorf("catch-up = %v, want %v", got, want)
	}
	if len(msgs) == 4 && (msgs[0].Text != "" || msgs[1].Emoji != "👍" || msgs[3].Target != first.Seq) {
		t.Errorf("catch-up entries = %+v (the edit's text is gone with the deletion)", msgs)
	}
}

// Count counts the messages above a seq, not the events, up to its limit.
func TestCountUnread(t *testing.T) {
	t.Parallel()
	svc, _, _ := changesService(t)
	ctx := testContext(t)
	if _, err := svc.ConnectAnonymous(ctx, "bob", "Bob", "other", "", "bob-secret-0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := svc.Send(ctx, "bob", []byte(fmt.Sprintf(`{"action":"chat message","text":"m%d","clientMsgId":"c%d"}`, i, i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.React(ctx, "bob", []byte(`{"action":"react","target":1,"emoji":"👍","op":"add","clientMsgId":"r1"}`)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		after, limit int
		want         int
		more         bool
	}{{0, 99, 5, false}, {3, 99, 2, false}, {0, 3, 3, true}} {
		n, more, err := svc.History.Count(ctx, "other", int64(tt.after), tt.limit, t0)
		if err != nil || n != tt.want || more != tt.more {
			t.Errorf("Count(after %d, limit %d) = %d, %v, %v; want %d, %v", tt.after, tt.limit, n, more, err, tt.want, tt.more)
		}
	}
}
