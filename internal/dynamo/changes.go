package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-chat/chat/internal/chat"
)

// Changes to a message (chat.Change) update its item in place, each with
// one conditional UpdateItem:
//
//	lastChange (N)   the seq of the last edit or deletion applied: an
//	                 older one (a resend after a crash) changes nothing
//	edits (L of S)   the keys of its edit events, whose text a deletion
//	                 removes too (no version history is kept)
//	reactions (M)    emoji → string set of the users who reacted
const (
	attrLastChange = "lastChange"
	attrEdits      = "edits"
	attrReactions  = "reactions"
	attrDeleted    = "deleted"
	attrText       = "text"
)

// At reads the item of room at seq through the seq index, strongly
// consistent (one Query of one item).
func (h *History) At(ctx context.Context, room string, seq int64, now time.Time) (chat.Message, bool, error) {
	out, err := h.client.Query(ctx, &dynamodb.QueryInput{
		TableName:                aws.String(h.table),
		IndexName:                aws.String(h.index),
		ConsistentRead:           aws.Bool(true),
		KeyConditionExpression:   aws.String("#room = :room AND #seq = :seq"),
		ExpressionAttributeNames: map[string]string{"#room": "room", "#seq": attrSeq},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":room": &types.AttributeValueMemberS{Value: room}, ":seq": number(seq),
		},
	})
	if err != nil {
		return chat.Message{}, false, h.fail("read message "+strconv.FormatInt(seq, 10), err)
	}
	if len(out.Items) == 0 {
		return chat.Message{}, false, nil
	}
	var it messageItem
	if err := attributevalue.UnmarshalMap(out.Items[0], &it); err != nil {
		return chat.Message{}, false, fmt.Errorf("read message %d: decode: %w", seq, err)
	}
	if it.ExpiresAt <= now.Unix() {
		return chat.Message{}, false, nil
	}
	return it.message(), true, nil
}

// itemKey is the key a message was stored under (Append).
func itemKey(m chat.Message) string {
	if m.ClientMsgID != "" {
		return clientPrefix + m.ClientMsgID
	}
	return idPrefix + m.ID
}

// Change applies c to target's item.
func (h *History) Change(ctx context.Context, room string, target chat.Message, c chat.Change, now time.Time) error {
	key := messageKey(room, itemKey(target))
	ev := c.Event
	names := map[string]string{"#id": "id", "#last": attrLastChange}
	values := map[string]types.AttributeValue{
		":id": &types.AttributeValueMemberS{Value: target.ID}, ":seq": number(ev.Seq),
	}
	newer := "#id = :id AND (attribute_not_exists(#last) OR #last < :seq)"
	switch ev.Type {
	case chat.TypeEdit:
		names["#text"], names["#edited"], names["#edits"], names["#deleted"] = attrText, "editedAt", attrEdits, attrDeleted
		values[":text"] = &types.AttributeValueMemberS{Value: ev.Text}
		values[":edited"] = &types.AttributeValueMemberS{Value: ev.EditedAt}
		values[":key"] = &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: itemKey(ev)}}}
		values[":none"] = &types.AttributeValueMemberL{Value: []types.AttributeValue{}}
		return ignoreStale(h.update(ctx, "edit", key, "SET #text = :text, #edited = :edited, #last = :seq, #edits = list_append(if_not_exists(#edits, :none), :key)",
			newer+" AND attribute_not_exists(#deleted)", names, values))
	case chat.TypeDelete:
		names["#text"], names["#edited"], names["#edits"], names["#deleted"], names["#reactions"] =
			attrText, "editedAt", attrEdits, attrDeleted, attrReactions
		values[":true"] = &types.AttributeValueMemberBOOL{Value: true}
		out, err := h.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(h.table), Key: key,
			UpdateExpression:          aws.String("SET #deleted = :true, #last = :seq REMOVE #text, #edited, #edits, #reactions"),
			ConditionExpression:       aws.String(newer),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
			ReturnValues:              types.ReturnValueAllOld,
		})
		var stale *types.ConditionalCheckFailedException
		switch {
		case errors.As(err, &stale):
			return nil
		case err != nil:
			return h.fail("delete message", err)
		}
		// The edit events' text goes too: what was deleted is gone from
		// storage, not only from view.
		var edits []string
		_ = attributevalue.Unmarshal(out.Attributes[attrEdits], &edits)
		for _, k := range edits {
			if err := ignoreStale(h.update(ctx, "scrub edit", messageKey(room, k), "REMOVE #text", "attribute_exists(#key)",
				map[string]string{"#text": attrText, "#key": attrMsgKey}, nil)); err != nil {
				return err
			}
		}
		return nil
	case chat.TypeReaction:
		return h.react(ctx, key, ev, c.UserID)
	}
	return fmt.Errorf("change of type %q", ev.Type)
}

// react adds or removes user under the emoji, in the reactions map: ADD and
// DELETE on a string set are idempotent, so a person counts once per
// emoji however often the request comes. The map itself is made by the
// first reaction (a document path cannot be added to before its map
// exists).
func (h *History) react(ctx context.Context, key map[string]types.AttributeValue, ev chat.Message, user string) error {
	users := &types.AttributeValueMemberSS{Value: []string{user}}
	if ev.Op == "remove" {
		return ignoreStale(h.update(ctx, "remove reaction", key, "DELETE #r.#e :u", "attribute_exists(#r.#e)",
			map[string]string{"#r": attrReactions, "#e": ev.Emoji}, map[string]types.AttributeValue{":u": users}))
	}
	for range 3 {
		err := h.update(ctx, "add reaction", key, "ADD #r.#e :u", "attribute_exists(#r) AND attribute_not_exists(#deleted)",
			map[string]string{"#r": attrReactions, "#e": ev.Emoji, "#deleted": attrDeleted},
			map[string]types.AttributeValue{":u": users})
		if !errors.Is(err, errConditionFailed) {
			return err
		}
		err = h.update(ctx, "add reaction", key, "SET #r = :m",
			"attribute_exists(#key) AND attribute_not_exists(#r) AND attribute_not_exists(#deleted)",
			map[string]string{"#r": attrReactions, "#deleted": attrDeleted, "#key": attrMsgKey},
			map[string]types.AttributeValue{":m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{ev.Emoji: users}}})
		if !errors.Is(err, errConditionFailed) {
			return err
		}
		// Another reaction made the map meanwhile (or the message is
		// deleted, or gone): try the ADD again, which tells.
	}
	return nil
}

// errConditionFailed is a change whose condition did not hold: a stale
// or repeated change, which changes nothing.
var errConditionFailed = errors.New("condition failed")

// ignoreStale makes a failed condition no error: the change is older
// than the message's state, or repeated, and changes nothing.
func ignoreStale(err error) error {
	if errors.Is(err, errConditionFailed) {
		return nil
	}
	return err
}

// update runs one conditional UpdateItem; a failed condition is
// errConditionFailed.
func (h *History) update(ctx context.Context, op string, key map[string]types.AttributeValue, update, cond string,
	names map[string]string, values map[string]types.AttributeValue) error {
	in := &dynamodb.UpdateItemInput{TableName: aws.String(h.table), Key: key, UpdateExpression: aws.String(update),
		ConditionExpression: aws.String(cond), ExpressionAttributeNames: names}
	if len(values) > 0 {
		in.ExpressionAttributeValues = values
	}
	_, err := h.client.UpdateItem(ctx, in)
	var failed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed):
		return errConditionFailed
	case err != nil:
		return h.fail(op, err)
	}
	return nil
}

// Blocks (chat.Blocks) live in the connections table, one item per user
// who blocked someone: connectionId "#block#" + user, ids (SS), expiresAt.
var _ chat.Blocks = (*Store)(nil)

const (
	blockPrefix = "#block#"
	attrIDs     = "ids"
)

// Blocked reads the user's block list (strongly consistent: a block is
// seen by the next private message).
func (s *Store) Blocked(ctx context.Context, user string, now time.Time) ([]string, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(blockPrefix + user),
		ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, s.fail("read blocks", err)
	}
	if exp, _ := intAttr(out.Item, attrExpiresAt); expired(exp, now) {
		return nil, nil
	}
	var ids []string
	if v, ok := out.Item[attrIDs].(*types.AttributeValueMemberSS); ok {
		ids = v.Value
	}
	return ids, nil
}

// SetBlocked adds or removes other in the user's list, with one UpdateItem.
func (s *Store) SetBlocked(ctx context.Context, user, other string, blocked bool, expiresAt time.Time) error {
	verb := "ADD"
	if !blocked {
		verb = "DELETE"
	}
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      key(blockPrefix + user),
		UpdateExpression:         aws.String(verb + " #ids :id SET #exp = :exp"),
		ExpressionAttributeNames: map[string]string{"#ids": attrIDs, "#exp": attrExpiresAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":id": &types.AttributeValueMemberSS{Value: []string{other}}, ":exp": num(expiresAt.Unix()),
		},
	})
	if err != nil {
		return s.fail("set blocks", err)
	}
	return nil
}

// Count counts the messages of room above after with a strongly consistent
// Query of the seq index that evaluates at most limit+1 items (Select
// COUNT): events (items with a type) and expired items are filtered out
// after they are read, so a room whose last items are mostly events may
// answer less than it has, with more set.
func (h *History) Count(ctx context.Context, room string, after int64, limit int, now time.Time) (int, bool, error) {
	out, err := h.client.Query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(h.table),
		IndexName:              aws.String(h.index),
		ConsistentRead:         aws.Bool(true),
		KeyConditionExpression: aws.String("#room = :room AND #seq > :seq"),
		FilterExpression:       aws.String("attribute_not_exists(#type) AND #exp > :now"),
		ExpressionAttributeNames: map[string]string{"#room": "room", "#seq": attrSeq, "#type": "type",
			"#exp": attrExpiresAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":room": &types.AttributeValueMemberS{Value: room}, ":seq": number(after), ":now": number(now.Unix()),
		},
		Select: types.SelectCount,
		Limit:  aws.Int32(int32(limit) + 1),
	})
	if err != nil {
		return 0, false, h.fail("count messages of "+room, err)
	}
	n := int(out.Count)
	more := n > limit || len(out.LastEvaluatedKey) > 0
	return min(n, limit), more, nil
}
