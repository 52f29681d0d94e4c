"""Handlers of the runtime client tests (runtimeapi's native_test.go)."""
import decimal
import logging
import os
import time


def handler(event, context):
    do = event.get("do")
    if do == "context":
        return {
            "awsRequestId": context.aws_request_id,
            "functionName": context.function_name,
            "functionVersion": context.function_version,
            "memoryLimitInMB": context.memory_limit_in_mb,
            "invokedFunctionArn": context.invoked_function_arn,
            "logGroupName": context.log_group_name,
            "logStreamName": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
            "env": {k: os.environ.get(k) for k in ["AWS_LAMBDA_FUNCTION_NAME", "_HANDLER", "LAMBDA_TASK_ROOT", "AWS_REGION", "GREETING"]},
            "cwd": os.getcwd(),
        }
    if do == "error":
        raise TypeError("bad input")
    if do == "sleep":
        time.sleep(event["ms"] / 1000)
        return {"slept": event["ms"]}
    if do == "big":
        return "x" * event["bytes"]
    if do == "log":
        print("hello from", context.function_name)
        return None
    if do == "logging":
        logger = logging.getLogger()
        logger.setLevel(logging.INFO)
        logger.info("logged by %s", context.function_name)
        return None
    if do == "decimal":
        return {"n": decimal.Decimal("3"), "f": decimal.Decimal("1.5")}
    return {"echo": event}
