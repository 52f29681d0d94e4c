package dynamo

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-chat/chat/internal/chat"
)

// Name claims (chat.Names) live in the connections table next to the
// counters, one item per name held in a room:
//
//	connectionId "#name#" + room + "#" + key   owner (S)  shown (S)
//	leftAt (N, epoch ms: the owner's last connection left)   expiresAt (N, TTL)
//
// Like the counters they have no room attribute, so the room index never
// holds them. Claiming is one conditional UpdateItem: two users claiming
// one name at once cannot both succeed, which the room index (eventually
// consistent) could not tell them.

var _ chat.Names = (*Store)(nil)

const (
	namePrefix    = "#name#"
	attrOwner     = "owner"
	attrShownName = "shown"
	attrLeftAt    = "leftAt"
)

func nameItemKey(room, nameKey string) map[string]types.AttributeValue {
	return key(namePrefix + room + "#" + nameKey)
}

// Claim gives the name to c.UserID unless another user holds it and its
// claim has not expired, and returns the claim as it was.
func (s *Store) Claim(ctx context.Context, room, nameKey string, c chat.NameClaim, now time.Time) (chat.NameClaim, bool, error) {
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.table),
		Key:              nameItemKey(room, nameKey),
		UpdateExpression: aws.String("SET #owner = :owner, #shown = :shown, #exp = :exp REMOVE #left"),
		ConditionExpression: aws.String(
			"attribute_not_exists(#owner) OR #owner = :owner OR #exp <= :now"),
		ExpressionAttributeNames: map[string]string{"#owner": attrOwner, "#shown": attrShownName,
			"#exp": attrExpiresAt, "#left": attrLeftAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":owner": &types.AttributeValueMemberS{Value: c.UserID},
			":shown": &types.AttributeValueMemberS{Value: c.Name},
			":exp":   num(c.ExpiresAt.Unix()),
			":now":   num(now.Unix()),
		},
		ReturnValues:                        types.ReturnValueAllOld,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var held *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &held):
		return claimOf(held.Item), false, nil
	case err != nil:
		return chat.NameClaim{}, false, s.fail("claim name "+nameKey+" in "+room, err)
	}
	prev := claimOf(out.Attributes)
	if !prev.ExpiresAt.IsZero() && !prev.ExpiresAt.After(now) {
		prev = chat.NameClaim{} // an expired claim is nobody's
	}
	return prev, true, nil
}

// MarkLeft sets the claim's leftAt if user holds it.
func (s *Store) MarkLeft(ctx context.Context, room, nameKey, user string, at time.Time) (bool, error) {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      nameItemKey(room, nameKey),
		UpdateExpression:         aws.String("SET #left = :at"),
		ConditionExpression:      aws.String("#owner = :owner"),
		ExpressionAttributeNames: map[string]string{"#owner": attrOwner, "#left": attrLeftAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":owner": &types.AttributeValueMemberS{Value: user},
			":at":    num(at.UnixMilli()),
		},
	})
	return s.conditional("mark name "+nameKey+" left", err)
}

// Release deletes user's claim, while its leftAt is still leftAt if that
// is set, with a conditional DeleteItem.
func (s *Store) Release(ctx context.Context, room, nameKey, user string, leftAt time.Time) (bool, error) {
	in := &dynamodb.DeleteItemInput{
		TableName:                aws.String(s.table),
		Key:                      nameItemKey(room, nameKey),
		ConditionExpression:      aws.String("#owner = :owner"),
		ExpressionAttributeNames: map[string]string{"#owner": attrOwner},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":owner": &types.AttributeValueMemberS{Value: user},
		},
	}
	if !leftAt.IsZero() {
		in.ConditionExpression = aws.String("#owner = :owner AND #left = :at")
		in.ExpressionAttributeNames["#left"] = attrLeftAt
		in.ExpressionAttributeValues[":at"] = num(leftAt.UnixMilli())
	}
	_, err := s.client.DeleteItem(ctx, in)
	return s.conditional("release name "+nameKey, err)
}

// conditional turns a conditional write's outcome into (done, error): a
// failed condition is no error.
func (s *Store) conditional(op string, err error) (bool, error) {
	var failed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed):
		return false, nil
	case err != nil:
		return false, s.fail(op, err)
	}
	return true, nil
}

func claimOf(av map[string]types.AttributeValue) chat.NameClaim {
	var c chat.NameClaim
	if v, ok := av[attrOwner].(*types.AttributeValueMemberS); ok {
		c.UserID = v.Value
	}
	if v, ok := av[attrShownName].(*types.AttributeValueMemberS); ok {
		c.Name = v.Value
	}
	if ms, _ := intAttr(av, attrLeftAt); ms != 0 {
		c.LeftAt = time.UnixMilli(ms).UTC()
	}
	if sec, _ := intAttr(av, attrExpiresAt); sec != 0 {
		c.ExpiresAt = time.Unix(sec, 0).UTC()
	}
	return c
}
