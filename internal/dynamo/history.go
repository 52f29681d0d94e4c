package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-chat/chat/internal/chat"
)

// The messages table, one partition per room:
//
//	room (S, hash key)  msgKey (S, range key)
//	  "#counter"            lastSeq (N): the room's last seq, never expires;
//	                        epoch (S): the name of this order, made with the
//	                        counter (a replaced table, or a lost counter,
//	                        starts a new one)
//	  "c#" + clientMsgId    a message sent with a clientMsgId
//	  "m#" + id             a message sent without one
//	seq (N)  id  from  fromId  text  sentAt  clientMsgId  (S)  expiresAt (N, TTL)
//	conversation  to  toId  (S, a direct message's)
//
// A private conversation's messages, and a user's list of conversations,
// are partitions of their own ("room/a…+u…", "room/inbox/a…"; room names
// hold no "/"), with their own counter and epoch.
//
// A local secondary index (DefaultSeqIndex: room + seq, projecting every
// attribute) orders a room by seq. It is local so that history reads can be
// strongly consistent: a member that asks for the messages after seq N right
// after N+1 was stored gets it. The counter item has no seq and is not in it.
//
// Appending a message costs two writes: an UpdateItem ADD on the counter
// (atomic, so concurrent senders get distinct, increasing seqs) and a
// conditional PutItem of the message. The message's key is its clientMsgId,
// so the PutItem itself is the deduplication: a second send with the same
// clientMsgId fails the condition and gets the stored message back
// (ReturnValuesOnConditionCheckFailure), with no read. Its seq is then
// skipped: seqs increase strictly but may have gaps, as they may when a
// function fails between the two writes. A client that knows it is
// resending says so, and the resend is looked up first (Find, one
// consistent read) so that it takes no seq at all.
//
// An LSI caps one room's items at 10 GB: about five million messages of
// 2 KB, far beyond a day's retention of any chat room.
const (
	DefaultSeqIndex = "seq-index"

	attrMsgKey   = "msgKey"
	attrSeq      = "seq"
	attrLastSeq  = "lastSeq"
	attrEpoch    = "epoch"
	counterKey   = "#counter"
	clientPrefix = "c#"
	idPrefix     = "m#"
)

// HistoryAPI is the part of the DynamoDB client History uses;
// *dynamodb.Client implements it.
type HistoryAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	dynamodb.QueryAPIClient
}

var (
	_ chat.History = (*History)(nil)
	_ HistoryAPI   = (*dynamodb.Client)(nil)
)

// History is a chat.History in a DynamoDB table (see above).
type History struct {
	client HistoryAPI
	table  string
	index  string
}

// NewHistory returns the history kept in table, read through the local
// secondary index named index (DefaultSeqIndex if empty).
func NewHistory(client HistoryAPI, table, index string) *History {
	if index == "" {
		index = DefaultSeqIndex
	}
	return &History{client: client, table: table, index: index}
}

// messageItem is a message as stored.
type messageItem struct {
	Room         string `dynamodbav:"room"`
	MsgKey       string `dynamodbav:"msgKey"`
	Seq          int64  `dynamodbav:"seq"`
	Epoch        string `dynamodbav:"epoch,omitempty"`
	ID           string `dynamodbav:"id"`
	From         string `dynamodbav:"from"`
	FromID       string `dynamodbav:"fromId,omitempty"`
	Conversation string `dynamodbav:"conversation,omitempty"`
	To           string `dynamodbav:"to,omitempty"`
	ToID         string `dynamodbav:"toId,omitempty"`
	Text         string `dynamodbav:"text"`
	Type         string `dynamodbav:"type,omitempty"` // an event's: edit, delete, reaction
	Target       int64  `dynamodbav:"target,omitempty"`
	TargetID     string `dynamodbav:"targetId,omitempty"`
	Emoji        string `dynamodbav:"emoji,omitempty"`
	Op           string `dynamodbav:"op,omitempty"`
	EditedAt     string `dynamodbav:"editedAt,omitempty"`
	Deleted      bool   `dynamodbav:"deleted,omitempty"`
	// Reactions maps each emoji to the string set of users who reacted.
	Reactions   map[string][]string `dynamodbav:"reactions,omitempty"`
	SentAt      string              `dynamodbav:"sentAt"`
	ClientMsgID string              `dynamodbav:"clientMsgId,omitempty"`
	ExpiresAt   int64               `dynamodbav:"expiresAt"`
}

func (it messageItem) message() chat.Message {
	m := chat.Message{Type: chat.TypeChatMessage, ID: it.ID, Room: it.Room, Seq: it.Seq, Epoch: it.Epoch, From: it.From,
		FromID: it.FromID, Conversation: it.Conversation, To: it.To, ToID: it.ToID,
		Text: it.Text, SentAt: it.SentAt, ClientMsgID: it.ClientMsgID,
		Target: it.Target, TargetID: it.TargetID, Emoji: it.Emoji, Op: it.Op, EditedAt: it.EditedAt, Deleted: it.Deleted}
	if len(it.Reactions) > 0 {
		m.Reactions = it.Reactions
	}
	switch {
	case it.Type != "":
		m.Type = it.Type
	case it.Conversation != "":
		m.Type = chat.TypeDirect
	}
	return m
}

// Append stores m with the room's next seq, unless a message with its
// ClientMsgID is stored and has not expired.
func (h *History) Append(ctx context.Context, m chat.Message, expiresAt, now time.Time) (chat.Message, bool, error) {
	seq, epoch, err := h.nextSeq(ctx, m.Room)
	if err != nil {
		return chat.Message{}, false, err
	}
	m.Seq, m.Epoch = seq, epoch
	it := messageItem{Room: m.Room, MsgKey: idPrefix + m.ID, Seq: seq, Epoch: epoch, ID: m.ID, From: m.From, Text: m.Text,
		FromID: m.FromID, Conversation: m.Conversation, To: m.To, ToID: m.ToID, SentAt: m.SentAt, ClientMsgID: m.ClientMsgID, ExpiresAt: expiresAt.Unix(),
		Target: m.Target, TargetID: m.TargetID, Emoji: m.Emoji, Op: m.Op, EditedAt: m.EditedAt}
	if m.Type == chat.TypeEdit || m.Type == chat.TypeDelete || m.Type == chat.TypeReaction {
		it.Type = m.Type
	}
	if m.ClientMsgID != "" {
		it.MsgKey = clientPrefix + m.ClientMsgID
	}
	var old messageItem
	stored, err := h.putOnce(ctx, it, &old, now)
	switch {
	case err != nil:
		return chat.Message{}, false, fmt.Errorf("store message %s: %w", m.ID, err)
	case !stored:
		return old.message(), false, nil
	}
	return m, true, nil
}

// Find reads the message stored under clientMsgID with a strongly
// consistent GetItem (1 RCU): a resend looks itself up before it takes a
// seq, so that a duplicate leaves no gap.
func (h *History) Find(ctx context.Context, room, clientMsgID string, now time.Time) (chat.Message, bool, error) {
	out, err := h.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(h.table),
		Key:            messageKey(room, clientPrefix+clientMsgID),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return chat.Message{}, false, h.fail("find message "+clientMsgID, err)
	}
	if len(out.Item) == 0 {
		return chat.Message{}, false, nil
	}
	var it messageItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return chat.Message{}, false, fmt.Errorf("find message %s: decode: %w", clientMsgID, err)
	}
	if it.ExpiresAt <= now.Unix() {
		return chat.Message{}, false, nil
	}
	return it.message(), true, nil
}

// putOnce puts item unless an item with its key is stored and has not
// expired at now (an expired one that TTL has not deleted yet is
// replaced). It reports whether it stored item; if not, the stored item
// is decoded into old, from the failed condition's answer, with no read.
func (h *History) putOnce(ctx context.Context, item, old any, now time.Time) (bool, error) {
	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		return false, fmt.Errorf("encode: %w", err)
	}
	_, err = h.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(h.table),
		Item:                                av,
		ConditionExpression:                 aws.String("attribute_not_exists(#key) OR #exp <= :now"),
		ExpressionAttributeNames:            map[string]string{"#key": attrMsgKey, "#exp": attrExpiresAt},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":now": number(now.Unix())},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var dup *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &dup):
		if err := attributevalue.UnmarshalMap(dup.Item, old); err != nil || len(dup.Item) == 0 {
			return false, fmt.Errorf("the stored duplicate is unreadable: %v", err)
		}
		return false, nil
	case err != nil:
		return false, h.fail("put", err)
	}
	return true, nil
}

// nextSeq increments the room's counter and returns its new value and the
// room's epoch, which the counter's first increment makes: one write.
func (h *History) nextSeq(ctx context.Context, room string) (int64, string, error) {
	out, err := h.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(h.table),
		Key:                      messageKey(room, counterKey),
		UpdateExpression:         aws.String("ADD #last :one SET #epoch = if_not_exists(#epoch, :epoch)"),
		ExpressionAttributeNames: map[string]string{"#last": attrLastSeq, "#epoch": attrEpoch},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": number(1), ":epoch": &types.AttributeValueMemberS{Value: chat.NewID()[:10]},
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		return 0, "", h.fail("next seq of "+room, err)
	}
	n, ok := out.Attributes[attrLastSeq].(*types.AttributeValueMemberN)
	if !ok {
		return 0, "", fmt.Errorf("next seq of %s: no %s in the answer", room, attrLastSeq)
	}
	seq, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("next seq of %s: %w", room, err)
	}
	epoch, _ := out.Attributes[attrEpoch].(*types.AttributeValueMemberS)
	if epoch == nil {
		return 0, "", fmt.Errorf("next seq of %s: no %s in the answer", room, attrEpoch)
	}
	return seq, epoch.Value, nil
}

// Read returns the room's messages that q selects, oldest first, with a
// strongly consistent Query of the seq index; expired ones are filtered out.
func (h *History) Read(ctx context.Context, room string, q chat.Range, now time.Time) ([]chat.Message, bool, error) {
	if q.Limit <= 0 {
		return nil, false, nil
	}
	forward := q.Before == 0 && !q.Latest
	cond := "#room = :room"
	values := map[string]types.AttributeValue{
		":room": &types.AttributeValueMemberS{Value: room},
		":now":  number(now.Unix()),
	}
	switch {
	case forward:
		cond += " AND #seq > :seq"
		values[":seq"] = number(q.After)
	case q.Before > 0:
		cond += " AND #seq < :seq"
		values[":seq"] = number(q.Before)
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(h.table),
		IndexName:                 aws.String(h.index),
		ConsistentRead:            aws.Bool(true),
		KeyConditionExpression:    aws.String(cond),
		FilterExpression:          aws.String("#exp > :now"),
		ExpressionAttributeNames:  map[string]string{"#room": "room", "#exp": attrExpiresAt},
		ExpressionAttributeValues: values,
		ScanIndexForward:          aws.Bool(forward),
		// One more than asked for tells whether more match.
		Limit: aws.Int32(int32(q.Limit) + 1),
	}
	if cond != "#room = :room" {
		in.ExpressionAttributeNames["#seq"] = attrSeq
	}
	var items []messageItem
	pages := dynamodb.NewQueryPaginator(h.client, in)
	for pages.HasMorePages() && len(items) <= q.Limit {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, false, h.fail("read history of "+room, err)
		}
		var got []messageItem
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &got); err != nil {
			return nil, false, fmt.Errorf("read history of %s: decode: %w", room, err)
		}
		items = append(items, got...)
	}
	more := len(items) > q.Limit
	items = items[:min(len(items), q.Limit)]
	if !forward {
		slices.Reverse(items)
	}
	msgs := make([]chat.Message, len(items))
	for i, it := range items {
		msgs[i] = it.message()
	}
	return msgs, more, nil
}

func (h *History) fail(op string, err error) error {
	return translate(op, h.table, h.index, err)
}

func messageKey(room, msgKey string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"room":     &types.AttributeValueMemberS{Value: room},
		attrMsgKey: &types.AttributeValueMemberS{Value: msgKey},
	}
}

func number(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
