// Callback-style handlers (Node.js 18 to 22).
exports.handler = (event, context, callback) => {
  setTimeout(() => callback(null, { callback: true, remaining: context.getRemainingTimeInMillis() > 0 }), 10);
};
exports.failing = (event, context, callback) => callback(new Error("callback failed"));
