package dynamo_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-chat/chat/internal/dynamo"
)

func TestCreateTable(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	ctx := testContext(t)
	table := newTable(t, client)

	// Again, twice at once: idempotent and safe to race with itself.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { errs[i] = dynamo.CreateTable(ctx, client, table, "") })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("CreateTable again (%d) = %v", i, err)
		}
	}

	out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatalf("DescribeTable: %v", err)
	}
	d := out.Table
	if d.TableStatus != types.TableStatusActive {
		t.Errorf("status = %s, want ACTIVE", d.TableStatus)
	}
	if got := keys(d.KeySchema); !slices.Equal(got, []string{"connectionId HASH"}) {
		t.Errorf("key schema = %v, want [connectionId HASH]", got)
	}
	if d.BillingModeSummary == nil || d.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing mode = %+v, want PAY_PER_REQUEST", d.BillingModeSummary)
	}
	var attrs []string
	for _, a := range d.AttributeDefinitions {
		attrs = append(attrs, aws.ToString(a.AttributeName)+" "+string(a.AttributeType))
	}
	slices.Sort(attrs)
	if want := []string{"connectionId S", "room S"}; !slices.Equal(attrs, want) {
		t.Errorf("attribute definitions = %v, want %v", attrs, want)
	}
	if len(d.GlobalSecondaryIndexes) != 1 {
		t.Fatalf("global secondary indexes = %d, want 1", len(d.GlobalSecondaryIndexes))
	}
	gsi := d.GlobalSecondaryIndexes[0]
	if got := aws.ToString(gsi.IndexName); got != "room-users" {
		t.Errorf("index name = %q, want room-users", got)
	}
	if got, want := keys(gsi.KeySchema), []string{"room HASH", "connectionId RANGE"}; !slices.Equal(got, want) {
		t.Errorf("index key schema = %v, want %v", got, want)
	}
	if p := gsi.Projection; p == nil || p.ProjectionType != types.ProjectionTypeInclude ||
		!slices.Equal(p.NonKeyAttributes, []string{"expiresAt", "name", "userId"}) {
		t.Errorf("index projection = %+v, want INCLUDE [expiresAt name userId]", p)
	}
	// DynamoDB Local accepts SSESpecification but may not describe it.
	t.Logf("SSE description from this endpoint: %+v", d.SSEDescription)
}

func keys(schema []types.KeySchemaElement) []string {
	var s []string
	for _, k := range schema {
		s = append(s, aws.ToString(k.AttributeName)+" "+string(k.KeyType))
	}
	return s
}

func TestCreateTableWrongLayout(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	ctx := testContext(t)

	plain := func(key string) *dynamodb.CreateTableInput {
		return &dynamodb.CreateTableInput{
			BillingMode:          types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(key), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(key), KeyType: types.KeyTypeHash}},
		}
	}
	tests := []struct {
		name  string
		input *dynamodb.CreateTableInput
		want  string
	}{
		{"other key", plain("id"), "key schema"},
		{"no index", plain("connectionId"), "room-index"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := tableName(t)
			tt.input.TableName = aws.String(table)
			if _, err := client.CreateTable(ctx, tt.input); err != nil {
				t.Fatalf("CreateTable (SDK): %v", err)
			}
			t.Cleanup(func() {
				_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
			})
			err := dynamo.CreateTable(ctx, client, table, "room-index")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CreateTable = %v, want an error about %q", err, tt.want)
			}
		})
	}
}
