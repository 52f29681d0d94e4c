package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-chat/chat/internal/chat"
)

// Counters (chat.Counters) live in the connections table, one item each,
// keyed "#" + the counter's key (API Gateway's connection IDs never start
// with "#"):
//
//	connectionId "#" + key   n (N)   changedAt (N, epoch ms)   expiresAt (N, TTL)
//
// They have no room attribute, so the room index never holds them. Each
// change is one UpdateItem: ADD is atomic, and a condition on n keeps a
// capped counter below its cap however many hosts add at once.

var _ chat.Counters = (*Store)(nil)

const (
	counterPrefix = "#"
	attrN         = "n"
	attrChangedAt = "changedAt"
)

// Add adds delta to the counter, unless the result would pass max (when
// max >= 0), with one conditional UpdateItem.
func (s *Store) Add(ctx context.Context, name string, delta, max int64, expiresAt, now time.Time) (int64, bool, error) {
	if max >= 0 && delta > max {
		return 0, false, nil
	}
	update := "ADD #n :d SET #changed = :now"
	names := map[string]string{"#n": attrN, "#changed": attrChangedAt}
	values := map[string]types.AttributeValue{":d": num(delta), ":now": num(now.UnixMilli())}
	if expiresAt.IsZero() {
		update += " REMOVE #exp"
	} else {
		update += ", #exp = :exp"
		values[":exp"] = num(expiresAt.Unix())
	}
	names["#exp"] = attrExpiresAt
	in := &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 key(counterPrefix + name),
		UpdateExpression:                    aws.String(update),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValues:                        types.ReturnValueUpdatedNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	if max >= 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(#n) OR #n <= :room")
		values[":room"] = num(max - delta)
	}
	out, err := s.client.UpdateItem(ctx, in)
	var full *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &full):
		n, _ := intAttr(full.Item, attrN)
		return n, false, nil
	case err != nil:
		return 0, false, s.fail("add to counter "+name, err)
	}
	n, err := intAttr(out.Attributes, attrN)
	if err != nil {
		return 0, false, fmt.Errorf("add to counter %s: %w", name, err)
	}
	return n, true, nil
}

// Count reads the counter with a strongly consistent GetItem.
func (s *Store) Count(ctx context.Context, name string, now time.Time) (int64, time.Time, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            key(counterPrefix + name),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, time.Time{}, s.fail("read counter "+name, err)
	}
	if exp, _ := intAttr(out.Item, attrExpiresAt); expired(exp, now) {
		return 0, time.Time{}, nil
	}
	n, _ := intAttr(out.Item, attrN)
	changed, _ := intAttr(out.Item, attrChangedAt)
	var changedAt time.Time
	if changed != 0 {
		changedAt = time.UnixMilli(changed).UTC()
	}
	return n, changedAt, nil
}

// Reset sets the counter to n if its changedAt is still the one given.
func (s *Store) Reset(ctx context.Context, name string, n int64, changedAt, now time.Time) (bool, error) {
	in := &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(counterPrefix + name),
		UpdateExpression:          aws.String("SET #n = :n, #changed = :now"),
		ExpressionAttributeNames:  map[string]string{"#n": attrN, "#changed": attrChangedAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(n), ":now": num(now.UnixMilli())},
		ConditionExpression:       aws.String("attribute_not_exists(#changed)"),
	}
	if !changedAt.IsZero() {
		in.ConditionExpression = aws.String("#changed = :old")
		in.ExpressionAttributeValues[":old"] = num(changedAt.UnixMilli())
	}
	_, err := s.client.UpdateItem(ctx, in)
	var moved *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &moved):
		return false, nil
	case err != nil:
		return false, s.fail("reset counter "+name, err)
	}
	return true, nil
}

func num(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// intAttr reads a number attribute (0 if absent).
func intAttr(av map[string]types.AttributeValue, name string) (int64, error) {
	v, ok := av[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, nil
	}
	return strconv.ParseInt(v.Value, 10, 64)
}
