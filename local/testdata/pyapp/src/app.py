"""A WebSocket chat's functions, as AWS's Python samples write them."""
import json
import os
import time

import boto3

dynamodb = boto3.resource("dynamodb")
table = dynamodb.Table(os.environ["TABLE_NAME"])


def on_connect(event, context):
    table.put_item(Item={"connectionId": event["requestContext"]["connectionId"]})
    return {"statusCode": 200, "body": "Connected."}


def on_disconnect(event, context):
    table.delete_item(Key={"connectionId": event["requestContext"]["connectionId"]})
    return {"statusCode": 200, "body": "Disconnected."}


def send_message(event, context):
    data = json.loads(event["body"])["data"]  # KeyError without data: an error
    ctx = event["requestContext"]
    api = boto3.client("apigatewaymanagementapi", endpoint_url="https://%s/%s" % (ctx["domainName"], ctx["stage"]))
    for item in table.scan(ProjectionExpression="connectionId")["Items"]:
        try:
            api.post_to_connection(ConnectionId=item["connectionId"], Data=data.encode())
        except api.exceptions.GoneException:
            print("Found stale connection, deleting", item["connectionId"])
            table.delete_item(Key={"connectionId": item["connectionId"]})
    return {"statusCode": 200, "body": "Data sent."}


def slow(event, context):
    time.sleep(5)
    return {"statusCode": 200}
