package samtemplate

import (
	"reflect"
	"testing"
)

func TestTables(t *testing.T) {
	tpl, err := Parse([]byte(inline("", `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: nodejs20.x
      Environment:
        Variables:
          TABLE_NAME: !Ref ConnectionsTable
          TABLE_ARN: !GetAtt ConnectionsTable.Arn
          SIMPLE: !Ref Simple
  ConnectionsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-connections"
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: connectionId, AttributeType: S}
        - {AttributeName: room, AttributeType: S}
      KeySchema: [{AttributeName: connectionId, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - IndexName: room-index
          KeySchema: [{AttributeName: room, KeyType: HASH}]
          Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [name]}
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}
  Simple:
    Type: AWS::Serverless::SimpleTable
    Properties:
      PrimaryKey: {Name: connectionId, Type: String}
  Bare:
    Type: AWS::Serverless::SimpleTable
`)), Options{Region: "eu-west-1", StackName: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	want := []*Table{
		{LogicalID: "Bare", Name: "Bare", ARN: "arn:aws:dynamodb:eu-west-1:123456789012:table/Bare",
			KeySchema: []KeyElement{{"id", "HASH"}}, AttributeDefinitions: []Attribute{{"id", "S"}}},
		{LogicalID: "ConnectionsTable", Name: "chat-connections", ARN: "arn:aws:dynamodb:eu-west-1:123456789012:table/chat-connections",
			KeySchema:            []KeyElement{{"connectionId", "HASH"}},
			AttributeDefinitions: []Attribute{{"connectionId", "S"}, {"room", "S"}},
			GlobalIndexes:        []Index{{IndexName: "room-index", KeySchema: []KeyElement{{"room", "HASH"}}, ProjectionType: "INCLUDE", NonKeyAttributes: []string{"name"}}},
			TTLAttribute:         "ttl"},
		{LogicalID: "Simple", Name: "Simple", ARN: "arn:aws:dynamodb:eu-west-1:123456789012:table/Simple",
			KeySchema: []KeyElement{{"connectionId", "HASH"}}, AttributeDefinitions: []Attribute{{"connectionId", "S"}}},
	}
	if !reflect.DeepEqual(tpl.Tables, want) {
		for i := range tpl.Tables {
			t.Logf("got %+v", *tpl.Tables[i])
		}
		t.Errorf("tables differ")
	}
	env := tpl.Functions["Fn"].Env
	if env["TABLE_NAME"] != "chat-connections" || env["TABLE_ARN"] != "arn:aws:dynamodb:eu-west-1:123456789012:table/chat-connections" || env["SIMPLE"] != "Simple" {
		t.Errorf("env %v: want the tables' local names and ARN", env)
	}
}
