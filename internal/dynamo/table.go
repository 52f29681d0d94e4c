package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// NewClient returns a DynamoDB client for cfg, sent to endpoint (for example
// DynamoDB Local's http://127.0.0.1:8000) when it is not empty.
func NewClient(cfg aws.Config, endpoint string) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
}

// TableAPI is the part of the DynamoDB client CreateTable uses;
// *dynamodb.Client implements it.
type TableAPI interface {
	dynamodb.DescribeTableAPIClient
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTimeToLive(ctx context.Context, in *dynamodb.DescribeTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

var _ TableAPI = (*dynamodb.Client)(nil)

// TableWait bounds how long CreateTable waits for the table to become ACTIVE.
const TableWait = 5 * time.Minute

// CreateTable makes sure table exists with the layout of the SAM template
// (see the package documentation) and the index named index (DefaultIndex
// if empty): it creates the table if it is missing (on demand, encrypted
// with the AWS managed KMS key), waits until it is ACTIVE, checks the key
// schema and index of a table that was already there, and enables TTL on
// expiresAt. It is idempotent, and safe to run concurrently with itself.
//
// The deployed stack creates its own table; this is for DynamoDB Local, the
// local adapter and tests.
func CreateTable(ctx context.Context, client TableAPI, table, index string) error {
	if index == "" {
		index = DefaultIndex
	}
	return ensureTable(ctx, client, table, index,
		func() error { return create(ctx, client, table, index) },
		func(t *types.TableDescription) error { return checkLayout(t, index) })
}

// ensureTable creates table with create if it is missing, waits until it
// is ACTIVE, checks its layout with check, and enables TTL on expiresAt.
func ensureTable(ctx context.Context, client TableAPI, table, index string, create func() error, check func(*types.TableDescription) error) error {
	_, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	var notFound *types.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
		if err := create(); err != nil {
			return err
		}
	case err != nil:
		return translate("describe table", table, index, err)
	}
	waiter := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Second, 10*time.Second
	})
	out, err := waiter.WaitForOutput(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, TableWait)
	if err != nil {
		return fmt.Errorf("wait for table %q to be active: %w", table, err)
	}
	if err := check(out.Table); err != nil {
		return fmt.Errorf("table %q: %w", table, err)
	}
	return enableTTL(ctx, client, table, index)
}

func create(ctx context.Context, client TableAPI, table, index string) error {
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrConnectionID), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrRoom), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrConnectionID), KeyType: types.KeyTypeHash},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(index),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(attrRoom), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(attrConnectionID), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{
				ProjectionType:   types.ProjectionTypeInclude,
				NonKeyAttributes: []string{attrExpiresAt, attrName, attrUserID},
			},
		}},
		SSESpecification: &types.SSESpecification{Enabled: aws.Bool(true)},
	}
	_, err := client.CreateTable(ctx, in)
	var inUse *types.ResourceInUseException
	if errors.As(err, &inUse) {
		return nil // created meanwhile by someone else; CreateTable waits for it
	}
	if err != nil {
		return translate("create table", table, index, err)
	}
	return nil
}

// checkLayout reports how an existing table differs from the layout the
// store needs: the key and the index it reads. Other differences (billing,
// encryption) do not stop the store from working and are left alone.
func checkLayout(t *types.TableDescription, index string) error {
	if t == nil {
		return errors.New("no table description")
	}
	if !hasKey(t.KeySchema, attrConnectionID, types.KeyTypeHash) || len(t.KeySchema) != 1 {
		return fmt.Errorf("key schema is not %s (hash) alone", attrConnectionID)
	}
	for _, gsi := range t.GlobalSecondaryIndexes {
		if aws.ToString(gsi.IndexName) != index {
			continue
		}
		if !hasKey(gsi.KeySchema, attrRoom, types.KeyTypeHash) || !hasKey(gsi.KeySchema, attrConnectionID, types.KeyTypeRange) {
			return fmt.Errorf("index %q is not keyed by %s (hash) and %s (range)", index, attrRoom, attrConnectionID)
		}
		p := gsi.Projection
		if p == nil || (p.ProjectionType != types.ProjectionTypeAll &&
			!(p.ProjectionType == types.ProjectionTypeInclude && slices.Contains(p.NonKeyAttributes, attrExpiresAt) &&
				slices.Contains(p.NonKeyAttributes, attrName) && slices.Contains(p.NonKeyAttributes, attrUserID))) {
			return fmt.Errorf("index %q does not project %s, %s and %s", index, attrExpiresAt, attrName, attrUserID)
		}
		return nil
	}
	return fmt.Errorf("no global secondary index %q: %w", index, ErrTableNotFound)
}

func hasKey(schema []types.KeySchemaElement, name string, kind types.KeyType) bool {
	return slices.ContainsFunc(schema, func(k types.KeySchemaElement) bool {
		return aws.ToString(k.AttributeName) == name && k.KeyType == kind
	})
}

// enableTTL turns on TTL on expiresAt unless it is on (or being turned on)
// already. DynamoDB allows one TTL change per table per hour or so, and
// refuses to enable TTL twice, hence the look first.
func enableTTL(ctx context.Context, client TableAPI, table, index string) error {
	out, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		return translate("describe time to live", table, index, err)
	}
	if d := out.TimeToLiveDescription; d != nil {
		switch d.TimeToLiveStatus {
		case types.TimeToLiveStatusEnabled, types.TimeToLiveStatusEnabling:
			if name := aws.ToString(d.AttributeName); name != attrExpiresAt {
				return fmt.Errorf("table %q: time to live is on attribute %q, not %q", table, name, attrExpiresAt)
			}
			return nil
		case types.TimeToLiveStatusDisabling:
			return fmt.Errorf("table %q: time to live is being disabled; try again later", table)
		}
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(attrExpiresAt),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil {
		return translate("enable time to live", table, index, err)
	}
	return nil
}

// CreateHistoryTable makes sure the messages table exists with the layout
// of the SAM template (see History): it creates it if missing (on demand,
// encrypted), waits until it is ACTIVE, checks the key and the seq index of
// a table that was already there, and enables TTL on expiresAt. Like
// CreateTable it is idempotent; it is for DynamoDB Local and tests.
func CreateHistoryTable(ctx context.Context, client TableAPI, table, index string) error {
	if index == "" {
		index = DefaultSeqIndex
	}
	return ensureTable(ctx, client, table, index,
		func() error { return createHistory(ctx, client, table, index) },
		func(t *types.TableDescription) error { return checkHistoryLayout(t, index) })
}

func createHistory(ctx context.Context, client TableAPI, table, index string) error {
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrRoom), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrMsgKey), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrSeq), AttributeType: types.ScalarAttributeTypeN},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrRoom), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrMsgKey), KeyType: types.KeyTypeRange},
		},
		LocalSecondaryIndexes: []types.LocalSecondaryIndex{{
			IndexName: aws.String(index),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(attrRoom), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(attrSeq), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
		SSESpecification: &types.SSESpecification{Enabled: aws.Bool(true)},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return translate("create table", table, index, err)
	}
	return nil
}

// checkHistoryLayout reports how an existing messages table differs from
// the layout History needs: its key and its seq index.
func checkHistoryLayout(t *types.TableDescription, index string) error {
	if t == nil {
		return errors.New("no table description")
	}
	if !hasKey(t.KeySchema, attrRoom, types.KeyTypeHash) || !hasKey(t.KeySchema, attrMsgKey, types.KeyTypeRange) {
		return fmt.Errorf("key schema is not %s (hash) and %s (range)", attrRoom, attrMsgKey)
	}
	if !slices.ContainsFunc(t.LocalSecondaryIndexes, func(lsi types.LocalSecondaryIndexDescription) bool {
		return aws.ToString(lsi.IndexName) == index && hasKey(lsi.KeySchema, attrSeq, types.KeyTypeRange) &&
			lsi.Projection != nil && lsi.Projection.ProjectionType == types.ProjectionTypeAll
	}) {
		return fmt.Errorf("no local secondary index %q on %s projecting all attributes: %w", index, attrSeq, ErrTableNotFound)
	}
	return nil
}
