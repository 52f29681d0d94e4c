// CommonJS handlers of the runtime client tests (runtimeapi's native_test.go).
exports.handler = async (event, context) => {
  switch (event.do) {
    case "context":
      return {
        awsRequestId: context.awsRequestId,
        functionName: context.functionName,
        functionVersion: context.functionVersion,
        memoryLimitInMB: context.memoryLimitInMB,
        invokedFunctionArn: context.invokedFunctionArn,
        logGroupName: context.logGroupName,
        logStreamName: context.logStreamName,
        remaining: context.getRemainingTimeInMillis(),
        env: {
          AWS_LAMBDA_FUNCTION_NAME: process.env.AWS_LAMBDA_FUNCTION_NAME,
          _HANDLER: process.env._HANDLER,
          LAMBDA_TASK_ROOT: process.env.LAMBDA_TASK_ROOT,
          AWS_REGION: process.env.AWS_REGION,
          GREETING: process.env.GREETING,
        },
        cwd: process.cwd(),
      };
    case "error":
      throw new TypeError("bad input");
    case "throw string":
      throw "plain";
    case "sleep":
      await new Promise((r) => setTimeout(r, event.ms));
      return { slept: event.ms };
    case "big":
      return "x".repeat(event.bytes);
    case "log":
      console.log("hello from", context.functionName);
      return null;
    case "undefined":
      return undefined;
  }
  return { echo: event };
};
