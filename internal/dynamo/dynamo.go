// Package dynamo is the chat.Store backed by DynamoDB (aws-sdk-go-v2).
//
// One item per connection, keyed by connectionId:
//
//	connectionId (S, hash key)  room (S)  name (S)
//	connectedAt  (N, epoch milliseconds)
//	typingAt     (N, epoch milliseconds: the last typing notice passed on)
//	sendTat      (N, epoch milliseconds: the send limit's clock, see chat.RateLimit)
//	readTat      (N, epoch milliseconds: the read limit's clock)
//	person       (S, whose limits the connection counts against: chat.Person)
//	userId       (S, the public user ID: chat.AnonymousUserID or chat.SignedInUserID)
//	signedIn     (BOOL, the name comes from a token)
//	expiresAt    (N, epoch seconds: the table's TTL attribute; always
//	             connectedAt + chat.TTL, which Members relies on to tell a
//	             member's age from the index without projecting connectedAt)
//
// A global secondary index (by default "room-users": hash room, range
// connectionId, projection INCLUDE expiresAt, name and userId) lets
// Members read one room, names and users included, with a Query, never a
// Scan of the table.
//
// Migration. The index before user IDs was "room-index", which projects no
// userId; a projection cannot change in place, and a stack update may
// create or delete one global secondary index at a time. So one release
// adds room-users next to room-index (this one), and reads room-index
// (FallbackIndex) while room-users is still being built, its members then
// counted as a person per connection; the next release deletes room-index.
//
// Every write is a single-item PutItem or DeleteItem. DynamoDB applies a
// single-item write atomically, index included: a failed Put or Delete
// leaves the previous item (or its absence) intact, never half of it.
//
// Expiry. DynamoDB deletes items after their expiresAt only in the
// background, up to about 48 hours late, so the store itself treats an item
// whose expiresAt is at or before now as gone: Members skips it (with a
// filter on the Query) and Get answers chat.ErrNotFound for it. An expired
// connection therefore neither receives nor sends messages. Such a
// connection cannot really be open: API Gateway closes every WebSocket after
// two hours, before chat.TTL runs out.
//
// Consistency. Get reads the table with ConsistentRead. Members reads the
// index, and global secondary indexes are eventually consistent: a
// connection made a few milliseconds earlier may be missing from a
// broadcast, and one just deleted may still be listed (its post then fails
// with chat.ErrGone and the service deletes it again, harmlessly).
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/serverless-chat/chat/internal/chat"
)

// DefaultIndex is the name of the global secondary index on room;
// LegacyIndex is the one before user IDs (see Migration above).
const (
	DefaultIndex = "room-users"
	LegacyIndex  = "room-index"
)

// Attribute names of a connection item.
const (
	attrConnectionID = "connectionId"
	attrRoom         = "room"
	attrName         = "name"
	attrConnectedAt  = "connectedAt"
	attrTypingAt     = "typingAt"
	attrSendTAT      = "sendTat"
	attrReadTAT      = "readTat"
	attrExpiresAt    = "expiresAt"
	attrUserID       = "userId"
)

var (
	// ErrTableNotFound means the table (or the index) does not exist, or is
	// not active yet: a deployment or configuration error.
	ErrTableNotFound = errors.New("dynamodb table or index not found")
	// ErrThrottled means DynamoDB still refused the request for capacity
	// after the SDK's retries.
	ErrThrottled = errors.New("dynamodb request throttled")
)

// API is the part of the DynamoDB client the store uses; *dynamodb.Client
// implements it.
type API interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	dynamodb.QueryAPIClient
}

var (
	_ chat.Store = (*Store)(nil)
	_ API        = (*dynamodb.Client)(nil)
)

// Store is a chat.Store in a DynamoDB table. Set its fields before use, not
// while it is in use.
type Store struct {
	client API
	table  string
	index  string

	// FallbackIndex, when set, is read by Members while index is missing
	// or still being built (see Migration above).
	FallbackIndex string
	// PageSize, when positive, caps the items one Query page of Members
	// evaluates (the Query's Limit). Zero leaves DynamoDB's 1 MB pages.
	PageSize int32
	// Now is the clock Get uses to tell expired items; time.Now if nil.
	Now func() time.Time
}

// New returns a store of the connections in table, reading rooms through the
// global secondary index named index (DefaultIndex if empty).
func New(client API, table, index string) *Store {
	if index == "" {
		index = DefaultIndex
	}
	return &Store{client: client, table: table, index: index}
}

// item is a connection as stored.
type item struct {
	ConnectionID string `dynamodbav:"connectionId"`
	Room         string `dynamodbav:"room"`
	Name         string `dynamodbav:"name"`
	ConnectedAt  int64  `dynamodbav:"connectedAt,omitempty"` // epoch ms
	UserID       string `dynamodbav:"userId,omitempty"`
	SignedIn     bool   `dynamodbav:"signedIn,omitempty"`
	Person       string `dynamodbav:"person,omitempty"`
	TypingAt     int64  `dynamodbav:"typingAt,omitempty"`  // epoch ms
	SendTAT      int64  `dynamodbav:"sendTat,omitempty"`   // epoch ms
	ReadTAT      int64  `dynamodbav:"readTat,omitempty"`   // epoch ms
	ExpiresAt    int64  `dynamodbav:"expiresAt,omitempty"` // epoch s (TTL)
}

func toItem(c chat.Connection) item {
	it := item{ConnectionID: c.ID, Room: c.Room, Name: c.Name, UserID: c.UserID, SignedIn: c.SignedIn, Person: c.Person}
	if !c.ReadTAT.IsZero() {
		it.ReadTAT = c.ReadTAT.UnixMilli()
	}
	if !c.ConnectedAt.IsZero() {
		it.ConnectedAt = c.ConnectedAt.UnixMilli()
	}
	if !c.ExpiresAt.IsZero() {
		it.ExpiresAt = c.ExpiresAt.Unix()
	}
	if !c.TypingAt.IsZero() {
		it.TypingAt = c.TypingAt.UnixMilli()
	}
	if !c.SendTAT.IsZero() {
		it.SendTAT = c.SendTAT.UnixMilli()
	}
	return it
}

func (it item) connection() chat.Connection {
	c := chat.Connection{ID: it.ConnectionID, Room: it.Room, Name: it.Name, UserID: it.UserID, SignedIn: it.SignedIn, Person: it.Person}
	if it.ReadTAT != 0 {
		c.ReadTAT = time.UnixMilli(it.ReadTAT).UTC()
	}
	if it.SendTAT != 0 {
		c.SendTAT = time.UnixMilli(it.SendTAT).UTC()
	}
	if it.ConnectedAt != 0 {
		c.ConnectedAt = time.UnixMilli(it.ConnectedAt).UTC()
	}
	if it.ExpiresAt != 0 {
		c.ExpiresAt = time.Unix(it.ExpiresAt, 0).UTC()
	}
	if it.TypingAt != 0 {
		c.TypingAt = time.UnixMilli(it.TypingAt).UTC()
	}
	return c
}

// expired tells whether an item with TTL attribute expiresAt (epoch
// seconds, 0 for none) is gone at now. Members' filter says the same.
func expired(expiresAt int64, now time.Time) bool {
	return expiresAt != 0 && expiresAt <= now.Unix()
}

// Put saves c, replacing any item with its ID (so a Put may move a
// connection to another room). ExpiresAt is stored in whole seconds and
// ConnectedAt in milliseconds; a zero time is not stored.
func (s *Store) Put(ctx context.Context, c chat.Connection) error {
	if c.ID == "" || c.Room == "" {
		return fmt.Errorf("put connection %q in room %q: connection ID and room are required", c.ID, c.Room)
	}
	av, err := attributevalue.MarshalMap(toItem(c))
	if err != nil {
		return fmt.Errorf("put connection %s: encode: %w", c.ID, err)
	}
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: av})
	if err != nil {
		return s.fail("put connection "+c.ID, err)
	}
	return nil
}

// Get returns the connection with the ID. A missing or expired item is an
// error wrapping chat.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (chat.Connection, error) {
	if id == "" {
		return chat.Connection{}, fmt.Errorf("get connection: empty ID: %w", chat.ErrNotFound)
	}
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            key(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return chat.Connection{}, s.fail("get connection "+id, err)
	}
	if len(out.Item) == 0 {
		return chat.Connection{}, fmt.Errorf("get connection %s: %w", id, chat.ErrNotFound)
	}
	var it item
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return chat.Connection{}, fmt.Errorf("get connection %s: decode: %w", id, err)
	}
	if now := s.now(); expired(it.ExpiresAt, now) {
		return chat.Connection{}, fmt.Errorf("get connection %s: expired at %s: %w",
			id, time.Unix(it.ExpiresAt, 0).UTC().Format(time.RFC3339), chat.ErrNotFound)
	}
	return it.connection(), nil
}

// Delete removes the connection's item and returns it, read from the same
// DeleteItem (ReturnValues ALL_OLD). Deleting an unknown ID succeeds and
// returns the zero Connection.
func (s *Store) Delete(ctx context.Context, id string) (chat.Connection, error) {
	if id == "" {
		return chat.Connection{}, nil
	}
	out, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table), Key: key(id), ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return chat.Connection{}, s.fail("delete connection "+id, err)
	}
	return decodeConnection(out.Attributes)
}

// Rename sets the connection's name and returns the item as it was, with a
// conditional UpdateItem: an unknown ID is chat.ErrNotFound, never created.
func (s *Store) Rename(ctx context.Context, id, name string) (chat.Connection, error) {
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(id),
		UpdateExpression:          aws.String("SET #name = :name"),
		ConditionExpression:       aws.String("attribute_exists(#id)"),
		ExpressionAttributeNames:  map[string]string{"#name": attrName, "#id": attrConnectionID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":name": &types.AttributeValueMemberS{Value: name}},
		ReturnValues:              types.ReturnValueAllOld,
	})
	var missing *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &missing):
		return chat.Connection{}, fmt.Errorf("rename connection %s: %w", id, chat.ErrNotFound)
	case err != nil:
		return chat.Connection{}, s.fail("rename connection "+id, err)
	}
	return decodeConnection(out.Attributes)
}

// clockAttrs are the attributes that hold the connections' clocks.
var clockAttrs = map[chat.Clock]string{chat.TypingClock: attrTypingAt, chat.SendClock: attrSendTAT, chat.ReadClock: attrReadTAT}

// SetClock sets the clock's attribute to next if it still holds prev (or
// is absent and prev is zero), with one conditional UpdateItem: a lost race
// costs the write's capacity and changes nothing.
func (s *Store) SetClock(ctx context.Context, id string, clock chat.Clock, prev, next time.Time) (bool, error) {
	attr, ok := clockAttrs[clock]
	if !ok {
		return false, fmt.Errorf("set clock of %s: unknown clock %d", id, clock)
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      key(id),
		UpdateExpression:         aws.String("SET #clock = :next"),
		ExpressionAttributeNames: map[string]string{"#clock": attr, "#id": attrConnectionID},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":next": &types.AttributeValueMemberN{Value: strconv.FormatInt(next.UnixMilli(), 10)},
		},
		ConditionExpression: aws.String("attribute_exists(#id) AND attribute_not_exists(#clock)"),
	}
	if !prev.IsZero() {
		in.ConditionExpression = aws.String("#clock = :prev")
		in.ExpressionAttributeNames = map[string]string{"#clock": attr}
		in.ExpressionAttributeValues[":prev"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(prev.UnixMilli(), 10)}
	}
	_, err := s.client.UpdateItem(ctx, in)
	var lost *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &lost):
		return false, nil
	case err != nil:
		return false, s.fail("set clock of "+id, err)
	}
	return true, nil
}

// decodeConnection decodes an item; an empty one is the zero Connection.
func decodeConnection(av map[string]types.AttributeValue) (chat.Connection, error) {
	if len(av) == 0 {
		return chat.Connection{}, nil
	}
	var it item
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return chat.Connection{}, fmt.Errorf("decode connection: %w", err)
	}
	return it.connection(), nil
}

// DeleteStale removes the connection's item only if it is there and
// connected before cutoff, with a conditional DeleteItem: one that
// connected later is kept, and one deleted already (by $disconnect or
// another broadcast) is not deleted again; for both it reports false, so
// that a departure is announced once.
func (s *Store) DeleteStale(ctx context.Context, id string, cutoff time.Time) (bool, error) {
	if id == "" {
		return false, nil
	}
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(s.table),
		Key:                      key(id),
		ConditionExpression:      aws.String("attribute_exists(#at) AND #at < :cutoff"),
		ExpressionAttributeNames: map[string]string{"#at": attrConnectedAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":cutoff": &types.AttributeValueMemberN{Value: strconv.FormatInt(cutoff.UnixMilli(), 10)},
		},
	})
	var young *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &young):
		return false, nil
	case err != nil:
		return false, s.fail("delete stale connection "+id, err)
	}
	return true, nil
}

// Members returns the room's connections that have not expired at now,
// reading every page of a Query on the room index. Expired items are
// dropped by a filter expression: they still cost their read capacity, but
// never reach the client.
func (s *Store) Members(ctx context.Context, room string, now time.Time) ([]chat.Member, error) {
	if room == "" {
		return nil, nil // Put refuses an empty room, so none is stored
	}
	members, err := s.members(ctx, s.index, room, now, true)
	if s.FallbackIndex != "" && unreadableIndex(err) {
		// The legacy index projects no userId, and a Query of a global
		// secondary index cannot ask for what it does not project.
		return s.members(ctx, s.FallbackIndex, room, now, false)
	}
	return members, err
}

// unreadableIndex reports whether err says the index is missing, or is
// still being built ("Cannot read from backfilling global secondary
// index"): both ValidationExceptions that name it.
func unreadableIndex(err error) bool {
	var apiErr smithy.APIError
	return errors.Is(err, ErrTableNotFound) ||
		errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationException" && strings.Contains(strings.ToLower(apiErr.ErrorMessage()), "index")
}

func (s *Store) members(ctx context.Context, index, room string, now time.Time, withUser bool) ([]chat.Member, error) {
	projection := "#id, #name, #exp"
	names := map[string]string{"#room": attrRoom, "#exp": attrExpiresAt, "#id": attrConnectionID, "#name": attrName}
	if withUser {
		projection += ", #user"
		names["#user"] = attrUserID
	}
	in := &dynamodb.QueryInput{
		TableName:                aws.String(s.table),
		IndexName:                aws.String(index),
		KeyConditionExpression:   aws.String("#room = :room"),
		FilterExpression:         aws.String("attribute_not_exists(#exp) OR #exp > :now"),
		ProjectionExpression:     aws.String(projection),
		ExpressionAttributeNames: names,
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":room": &types.AttributeValueMemberS{Value: room},
			":now":  &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Unix(), 10)},
		},
	}
	if s.PageSize > 0 {
		in.Limit = aws.Int32(s.PageSize)
	}
	var members []chat.Member
	pages := dynamodb.NewQueryPaginator(s.client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, s.fail("list room "+room, err)
		}
		for _, av := range page.Items {
			id, ok := av[attrConnectionID].(*types.AttributeValueMemberS)
			if !ok {
				return nil, fmt.Errorf("list room %s: item without string %s", room, attrConnectionID)
			}
			m := chat.Member{ID: id.Value}
			if name, ok := av[attrName].(*types.AttributeValueMemberS); ok {
				m.Name = name.Value
			}
			if user, ok := av[attrUserID].(*types.AttributeValueMemberS); ok {
				m.UserID = user.Value
			}
			// The index projects expiresAt, not connectedAt: a connection
			// expires chat.TTL after it connected (to the second), which
			// is all a broadcast needs to tell a handshake's 410 apart.
			if exp, ok := av[attrExpiresAt].(*types.AttributeValueMemberN); ok {
				if sec, err := strconv.ParseInt(exp.Value, 10, 64); err == nil {
					m.ConnectedAt = time.Unix(sec, 0).Add(-chat.TTL)
				}
			}
			members = append(members, m)
		}
	}
	return members, nil
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrConnectionID: &types.AttributeValueMemberS{Value: id}}
}

// fail wraps an error of the SDK with the operation and the table.
func (s *Store) fail(op string, err error) error {
	return translate(op, s.table, s.index, err)
}

// translate is the one place SDK errors become this package's: a missing
// table or index becomes ErrTableNotFound, throttling ErrThrottled. The SDK's
// error stays wrapped too, for errors.As.
func translate(op, table, index string, err error) error {
	var notFound *types.ResourceNotFoundException
	var apiErr smithy.APIError
	switch {
	case errors.As(err, &notFound):
		return fmt.Errorf("%s: table %q: %w: %w", op, table, ErrTableNotFound, err)
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationException" &&
		strings.Contains(apiErr.ErrorMessage(), "specified index"):
		return fmt.Errorf("%s: table %q has no index %q: %w: %w", op, table, index, ErrTableNotFound, err)
	case errors.As(err, &apiErr) && isThrottle(apiErr.ErrorCode()):
		return fmt.Errorf("%s: table %q: %w: %w", op, table, ErrThrottled, err)
	default:
		return fmt.Errorf("%s: table %q: %w", op, table, err)
	}
}

func isThrottle(code string) bool {
	switch code {
	case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded":
		return true
	}
	return false
}
