import { DynamoDBClient, ScanCommand, DeleteItemCommand } from "@aws-sdk/client-dynamodb";
import { ApiGatewayManagementApiClient, PostToConnectionCommand, GoneException } from "@aws-sdk/client-apigatewaymanagementapi";

const ddb = new DynamoDBClient({ region: process.env.AWS_REGION });

export const handler = async (event) => {
  const { data } = JSON.parse(event.body);
  if (typeof data !== "string") {
    throw new TypeError("data must be a string");
  }
  const { Items } = await ddb.send(new ScanCommand({ TableName: process.env.TABLE_NAME, ProjectionExpression: "connectionId" }));
  const api = new ApiGatewayManagementApiClient({
    endpoint: "https://" + event.requestContext.domainName + "/" + event.requestContext.stage,
  });
  await Promise.all(Items.map(async ({ connectionId }) => {
    try {
      await api.send(new PostToConnectionCommand({ ConnectionId: connectionId.S, Data: data }));
    } catch (err) {
      if (err instanceof GoneException || err.$metadata?.httpStatusCode === 410) {
        console.log("Found stale connection, deleting", connectionId.S);
        await ddb.send(new DeleteItemCommand({ TableName: process.env.TABLE_NAME, Key: { connectionId } }));
      } else {
        throw err;
      }
    }
  }));
  return { statusCode: 200, body: "Data sent." };
};
