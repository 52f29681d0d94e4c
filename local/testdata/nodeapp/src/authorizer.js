// A REQUEST authorizer as AWS's examples write it: Action and Resource
// as strings.
export const handler = async (event) => {
  const token = event.queryStringParameters?.token;
  const effect = token === "letmein" ? "Allow" : "Deny";
  return {
    principalId: "user-" + (event.queryStringParameters?.name || "anonymous"),
    policyDocument: {
      Version: "2012-10-17",
      Statement: [{ Action: "execute-api:Invoke", Effect: effect, Resource: event.methodArn }],
    },
  };
};
