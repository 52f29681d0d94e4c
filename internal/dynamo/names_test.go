package dynamo_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/dynamo"
)

// Two people joining at once with one name end with two names: the claim
// is a conditional write, which the room index (eventually consistent)
// could not give. Each member is listed with its user.
func TestNamesUniqueUnderConcurrentJoins(t *testing.T) {
	t.Parallel()
	store, _, _ := newStore(t)
	h, _ := newHistory(t)
	ctx := testContext(t)
	svc := &chat.Service{Store: store, Names: store, History: h, Sender: nopSender{},
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return t0 }}
	const people = 6
	var wg sync.WaitGroup
	got := make([]chat.Connection, people)
	for i := range people {
		wg.Go(func() {
			c, err := svc.ConnectAnonymous(ctx, fmt.Sprint("conn-", i), "Ann", "general", "", fmt.Sprintf("secret-of-person-%02d-abcdefgh", i))
			if err != nil {
				t.Error(err)
			}
			got[i] = c
		})
	}
	wg.Wait()
	var keys []string
	for _, c := range got {
		keys = append(keys, chat.NameKey(c.Name))
	}
	slices.Sort(keys)
	if len(slices.Compact(slices.Clone(keys))) != people {
		t.Errorf("names %q: want %d distinct", keys, people)
	}
	members, err := store.Members(ctx, "general", t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if !chat.IsUserID(m.UserID) {
			t.Errorf("member %+v listed without its user", m)
		}
	}
}

// A claim is one user's: another cannot take it or release it; its owner
// can renew it; a claim released only while its leftAt still holds is
// kept for a user who came back.
func TestNameClaims(t *testing.T) {
	t.Parallel()
	store, client, table := newStore(t)
	ctx := testContext(t)
	exp := t0.Add(time.Hour)
	ann := chat.NameClaim{UserID: "a-ann", Name: "Ann", ExpiresAt: exp}
	if _, ok, err := store.Claim(ctx, "general", "ann", ann, t0); err != nil || !ok {
		t.Fatalf("Claim = %v, %v", ok, err)
	}
	other := chat.NameClaim{UserID: "a-other", Name: "ANN", ExpiresAt: exp}
	if prev, ok, err := store.Claim(ctx, "general", "ann", other, t0); err != nil || ok || prev.UserID != "a-ann" {
		t.Errorf("another user's Claim = %+v, %v, %v; want refused, held by a-ann", prev, ok, err)
	}
	if ok, _ := store.Release(ctx, "general", "ann", "a-other", time.Time{}); ok {
		t.Errorf("another user released the claim")
	}
	left := t0.Add(time.Second)
	if ok, err := store.MarkLeft(ctx, "general", "ann", "a-ann", left); err != nil || !ok {
		t.Fatalf("MarkLeft = %v, %v", ok, err)
	}
	// Ann comes back within the grace: her claim is hers, with leftAt.
	prev, ok, err := store.Claim(ctx, "general", "ann", ann, t0.Add(2*time.Second))
	if err != nil || !ok || !prev.LeftAt.Equal(left) {
		t.Fatalf("Claim on return = %+v, %v, %v; want hers, left at %v", prev, ok, err, left)
	}
	// So the release after the grace does nothing.
	if ok, _ := store.Release(ctx, "general", "ann", "a-ann", left); ok {
		t.Errorf("the grace's release took the claim of a user who came back")
	}
	// Claims are kept outside the room index.
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table),
		Key: map[string]types.AttributeValue{"connectionId": &types.AttributeValueMemberS{Value: "#name#general#ann"}}})
	if err != nil || len(out.Item) == 0 {
		t.Fatalf("claim item = %v, %v", out, err)
	}
	if _, hasRoom := out.Item["room"]; hasRoom {
		t.Errorf("claim item %v has a room attribute: the room index would list it", out.Item)
	}
	// An expired claim is nobody's.
	if _, ok, err := store.Claim(ctx, "general", "ann", other, exp.Add(time.Second)); err != nil || !ok {
		t.Errorf("Claim of an expired name = %v, %v; want taken", ok, err)
	}
}

// While the room-users index is missing (being built during the
// migration), Members reads the legacy index, without users.
func TestMembersFallbackIndex(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	ctx := testContext(t)
	table := tableName(t)
	// The table as the release before user IDs made it.
	s := func(v string) *string { return aws.String(v) }
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   s(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: s("connectionId"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: s("room"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema: []types.KeySchemaElement{{AttributeName: s("connectionId"), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: s(dynamo.LegacyIndex),
			KeySchema: []types.KeySchemaElement{{AttributeName: s("room"), KeyType: types.KeyTypeHash},
				{AttributeName: s("connectionId"), KeyType: types.KeyTypeRange}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: []string{"expiresAt", "name"}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := dynamodb.NewTableExistsWaiter(client).Wait(ctx, &dynamodb.DescribeTableInput{TableName: s(table)}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := dynamo.CreateTable(ctx, client, table, dynamo.DefaultIndex); err == nil {
		t.Error("a table without the room-users index passed the layout check")
	}
	store := dynamo.New(client, table, dynamo.DefaultIndex)
	store.FallbackIndex = dynamo.LegacyIndex
	store.Now = func() time.Time { return t0 }
	if err := store.Put(ctx, chat.Connection{ID: "c1", Room: "general", Name: "Ann", UserID: "a-ann",
		ConnectedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	members, err := store.Members(ctx, "general", t0)
	if err != nil || len(members) != 1 || members[0].Name != "Ann" {
		t.Errorf("Members through the fallback = %+v, %v; want Ann", members, err)
	}
}

type nopSender struct{}

func (nopSender) Post(context.Context, string, []byte) error { return nil }
