package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/serverless-chat/chat/internal/testenv"
	"github.com/serverless-chat/chat/local/samtemplate"
)

// TestTemplateTables: the template's tables are created in DynamoDB Local
// with their keys, indexes and TTL, once (a second start finds them); the
// functions' environment points the SDKs there, with local credentials.
func TestTemplateTables(t *testing.T) {
	endpoint := testenv.DynamoDB(t)
	name := fmt.Sprintf("tables-%d", time.Now().UnixNano())
	tpl, err := samtemplate.Parse([]byte(`
Resources:
  Api: {Type: AWS::ApiGatewayV2::Api, Properties: {ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.action}}
  Stage: {Type: AWS::ApiGatewayV2::Stage, Properties: {ApiId: !Ref Api, StageName: dev}}
  Route: {Type: AWS::ApiGatewayV2::Route, Properties: {ApiId: !Ref Api, RouteKey: $default, Target: !Sub "integrations/${Integ}"}}
  Integ:
    Type: AWS::ApiGatewayV2::Integration
    Properties: {ApiId: !Ref Api, IntegrationType: AWS_PROXY, IntegrationUri: !GetAtt Fn.Arn}
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: fn/, Handler: app.handler, Runtime: nodejs20.x, Environment: {Variables: {TABLE_NAME: !Ref Conns}}}
  Conns:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: `+name+`
      AttributeDefinitions: [{AttributeName: connectionId, AttributeType: S}, {AttributeName: room, AttributeType: S}]
      KeySchema: [{AttributeName: connectionId, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - {IndexName: room-index, KeySchema: [{AttributeName: room, KeyType: HASH}], Projection: {ProjectionType: ALL}}
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}
  Simple: {Type: AWS::Serverless::SimpleTable, Properties: {TableName: `+name+`-simple}}
`), samtemplate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config{dynamoEndpoint: endpoint, region: "us-east-1", table: "chat-connections", messagesTable: "chat-messages"}
	log := &testenv.LogBuffer{}
	for range 2 {
		if err := createTables(context.Background(), cfg, tpl, slog.New(slog.NewTextHandler(log, nil))); err != nil {
			t.Fatal(err)
		}
	}
	client := dynamoClient(t, endpoint)
	d, err := client.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Table.GlobalSecondaryIndexes) != 1 || aws.ToString(d.Table.GlobalSecondaryIndexes[0].IndexName) != "room-index" {
		t.Errorf("indexes %+v, want room-index", d.Table.GlobalSecondaryIndexes)
	}
	ttl, err := client.DescribeTimeToLive(context.Background(), &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
	if err != nil || aws.ToString(ttl.TimeToLiveDescription.AttributeName) != "ttl" {
		t.Errorf("TTL %+v, %v: want on ttl", ttl, err)
	}
	if _, err := client.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(name + "-simple")}); err != nil {
		t.Errorf("the SimpleTable: %v", err)
	}
	if got := log.String(); !strings.Contains(got, "created the template's table") || !strings.Contains(got, "the template's table exists") {
		t.Errorf("the log does not say what was created, then found:\n%s", got)
	}
	env := functionEnv(tpl.Functions["Fn"], nil, cfg, "http://127.0.0.1:1/dev", nil)
	if env["AWS_ENDPOINT_URL_DYNAMODB"] != endpoint || env["AWS_ACCESS_KEY_ID"] != "local" || env["TABLE_NAME"] != name {
		t.Errorf("function env %v: want the SDK endpoint, local credentials and the table's name", env)
	}
}
