package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-chat/chat/internal/dynamo"
	"github.com/serverless-chat/chat/local/samtemplate"
)

// createTables creates the template's DynamoDB tables in DynamoDB Local
// (-dynamodb-endpoint), with their key schema, indexes and TTL, if
// missing, and says what it created. The chat's own tables (-table,
// -messages-table) are newStores'. Without a local endpoint it only says
// the functions need one.
func createTables(ctx context.Context, cfg config, tpl *samtemplate.Template, log *slog.Logger) error {
	var tables []*samtemplate.Table
	for _, t := range tpl.Tables {
		if t.Name != cfg.table && t.Name != cfg.messagesTable {
			tables = append(tables, t)
		}
	}
	if len(tables) == 0 {
		return nil
	}
	if cfg.dynamoEndpoint == "" {
		var names []string
		for _, t := range tables {
			names = append(names, t.LogicalID)
		}
		log.Warn("the template declares DynamoDB tables: give -dynamodb-endpoint (DynamoDB Local) to have them created and the functions pointed at it",
			slog.String("tables", strings.Join(names, ",")))
		return nil
	}
	awsCfg, err := awsConfig(ctx, cfg, false)
	if err != nil {
		return err
	}
	client := dynamo.NewClient(awsCfg, cfg.dynamoEndpoint)
	tctx, cancel := context.WithTimeout(ctx, dynamo.TableWait)
	defer cancel()
	for _, t := range tables {
		created, err := createTable(tctx, client, t)
		if err != nil {
			return fmt.Errorf("table %s (%s): %w", t.LogicalID, t.Name, err)
		}
		if created {
			log.Info("created the template's table in DynamoDB Local", slog.String("table", t.LogicalID), slog.String("name", t.Name),
				slog.Int("globalIndexes", len(t.GlobalIndexes)), slog.Int("localIndexes", len(t.LocalIndexes)), slog.String("ttl", t.TTLAttribute))
		} else {
			log.Info("the template's table exists in DynamoDB Local", slog.String("table", t.LogicalID), slog.String("name", t.Name))
		}
	}
	return nil
}

// createTable creates t unless it exists; it reports whether it did.
func createTable(ctx context.Context, client *dynamodb.Client, t *samtemplate.Table) (bool, error) {
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(t.Name),
		BillingMode: types.BillingModePayPerRequest,
		KeySchema:   keySchema(t.KeySchema),
	}
	for _, a := range t.AttributeDefinitions {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(a.AttributeName), AttributeType: types.ScalarAttributeType(a.AttributeType)})
	}
	for _, ix := range t.GlobalIndexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName: aws.String(ix.IndexName), KeySchema: keySchema(ix.KeySchema), Projection: projection(ix)})
	}
	for _, ix := range t.LocalIndexes {
		in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, types.LocalSecondaryIndex{
			IndexName: aws.String(ix.IndexName), KeySchema: keySchema(ix.KeySchema), Projection: projection(ix)})
	}
	_, err := client.CreateTable(ctx, in)
	var inUse *types.ResourceInUseException
	switch {
	case errors.As(err, &inUse):
		return false, nil
	case err != nil:
		return false, err
	}
	waiter := dynamodb.NewTableExistsWaiter(client)
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.Name)}, dynamo.TableWait); err != nil {
		return true, err
	}
	if t.TTLAttribute != "" {
		if _, err := client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName:               aws.String(t.Name),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(t.TTLAttribute), Enabled: aws.Bool(true)},
		}); err != nil {
			return true, fmt.Errorf("TTL: %w", err)
		}
	}
	return true, nil
}

func keySchema(ks []samtemplate.KeyElement) []types.KeySchemaElement {
	var out []types.KeySchemaElement
	for _, k := range ks {
		out = append(out, types.KeySchemaElement{AttributeName: aws.String(k.AttributeName), KeyType: types.KeyType(k.KeyType)})
	}
	return out
}

func projection(ix samtemplate.Index) *types.Projection {
	p := &types.Projection{ProjectionType: types.ProjectionType(ix.ProjectionType)}
	if len(ix.NonKeyAttributes) > 0 {
		p.NonKeyAttributes = ix.NonKeyAttributes
	}
	return p
}
