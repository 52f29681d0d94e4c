// The local adapter's Lambda runtime client for Node.js: the Runtime API
// loop of AWS's runtime interface client (aws-lambda-nodejs-runtime-interface-client),
// small enough to read. Started by local/runtimeapi as
//   node runtime.mjs
// in LAMBDA_TASK_ROOT, with _HANDLER and AWS_LAMBDA_RUNTIME_API set.
//
// Handlers: "dir/file.export.nested"; file.js (CommonJS, or an ES module
// when package.json says "type": "module"), file.mjs, file.cjs; async
// handlers and callback handlers (event, context, callback).
// Errors go to the Runtime API as Lambda's Node.js runtime reports them:
// {"errorType", "errorMessage", "trace"}.

import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { format } from "node:util";

const api = process.env.AWS_LAMBDA_RUNTIME_API;
const taskRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
const handlerName = process.env._HANDLER || "";
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function call(method, route, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const [host, port] = api.split(":");
    const req = http.request(
      { host, port, method, path: "/2018-06-01/runtime" + route, agent, headers },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// errorDoc is an error as Lambda's Node.js runtime reports it.
function errorDoc(err, type) {
  if (!(err instanceof Error)) {
    err = Object.assign(new Error(typeof err === "string" ? err : JSON.stringify(err)), { name: type || "Error" });
  }
  return {
    errorType: type || err.name || "Error",
    errorMessage: err.message,
    trace: typeof err.stack === "string" ? err.stack.split("\n") : [],
  };
}

function postError(route, err, type) {
  const doc = errorDoc(err, type);
  console.error(JSON.stringify(doc)); // with the time and request ID, as Lambda logs it
  return call("POST", route, JSON.stringify(doc), {
    "Content-Type": "application/json",
    "Lambda-Runtime-Function-Error-Type": doc.errorType,
  });
}

class InitError extends Error {
  constructor(type, message, cause) {
    super(message);
    this.name = type;
    if (cause && cause.stack) this.stack = `${type}: ${message}\n${cause.stack}`;
  }
}

// loadModule loads taskRoot/modulePath as Lambda does: .js, .mjs or .cjs.
async function loadModule(modulePath) {
  const base = path.resolve(taskRoot, modulePath);
  for (const ext of [".js", ".mjs", ".cjs"]) {
    const file = base + ext;
    if (!fs.existsSync(file)) continue;
    if (ext === ".mjs" || (ext === ".js" && isModuleScope(file))) {
      return import(pathToFileURL(file).href);
    }
    const require = createRequire(file);
    try {
      return require(file);
    } catch (err) {
      if (err && err.code === "ERR_REQUIRE_ESM") return import(pathToFileURL(file).href);
      throw err;
    }
  }
  // A package in node_modules, as Lambda also allows.
  return createRequire(path.join(taskRoot, "index.js"))(modulePath);
}

// isModuleScope: the nearest package.json says "type": "module".
function isModuleScope(file) {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const pj = path.join(dir, "package.json");
    if (fs.existsSync(pj)) {
      try {
        return JSON.parse(fs.readFileSync(pj, "utf8")).type === "module";
      } catch {
        return false;
      }
    }
    if (dir === path.dirname(dir)) return false;
  }
}

async function loadHandler() {
  const slash = handlerName.lastIndexOf("/");
  const dir = handlerName.slice(0, slash + 1);
  const rest = handlerName.slice(slash + 1);
  const dot = rest.indexOf(".");
  if (dot <= 0 || dot === rest.length - 1) {
    throw new InitError("Runtime.MalformedHandlerName", `Bad handler ${handlerName}`);
  }
  const modulePath = dir + rest.slice(0, dot);
  let mod;
  try {
    mod = await loadModule(modulePath);
  } catch (err) {
    if (err instanceof SyntaxError) {
      throw new InitError("Runtime.UserCodeSyntaxError", `${err.name}: ${err.message}`, err);
    }
    if (err && (err.code === "MODULE_NOT_FOUND" || err.code === "ERR_MODULE_NOT_FOUND")) {
      throw new InitError("Runtime.ImportModuleError", `Error: ${err.message}`, err);
    }
    throw err;
  }
  let fn = mod;
  for (const part of rest.slice(dot + 1).split(".")) {
    fn = fn == null ? undefined : fn[part];
  }
  if (typeof fn !== "function") {
    throw new InitError("Runtime.HandlerNotFound", `${handlerName} is undefined or not exported`);
  }
  return fn;
}

let currentRequestId;

// Console lines as Lambda writes them: time, request ID, level, message.
for (const [method, level] of [["log", "INFO"], ["info", "INFO"], ["warn", "WARN"], ["error", "ERROR"], ["debug", "DEBUG"], ["trace", "TRACE"]]) {
  const original = console[method].bind(console);
  console[method] = (...args) => original(`${new Date().toISOString()}\t${currentRequestId || "undefined"}\t${level}\t${format(...args)}`);
}

function makeContext(headers, done) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"]);
  const env = process.env;
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
    done: (err, result) => done(err, result),
    succeed: (result) => done(null, result),
    fail: (err) => done(err == null ? "handled" : err),
  };
  if (headers["lambda-runtime-client-context"]) {
    context.clientContext = JSON.parse(headers["lambda-runtime-client-context"]);
  }
  if (headers["lambda-runtime-cognito-identity"]) {
    context.identity = JSON.parse(headers["lambda-runtime-cognito-identity"]);
  }
  return context;
}

// invoke runs the handler once: its promise, or its callback, whichever
// answers first.
function invoke(handler, event, context) {
  return new Promise((resolve, reject) => {
    let answered = false;
    const done = (err, result) => {
      if (answered) return;
      answered = true;
      if (err != null) reject(err);
      else resolve(result);
    };
    const ctx = makeContext(context, done);
    try {
      const out = handler(event, ctx, done);
      if (out && typeof out.then === "function") out.then((r) => done(null, r), (e) => done(e ?? new Error("handler rejected")));
      else if (handler.length < 3) done(null, out);
    } catch (err) {
      done(err);
    }
  });
}

async function main() {
  let handler;
  try {
    handler = await loadHandler();
  } catch (err) {
    await postError("/init/error", err, err instanceof InitError ? err.name : undefined);
    process.exit(1);
  }
  for (;;) {
    const next = await call("GET", "/invocation/next");
    const id = next.headers["lambda-runtime-aws-request-id"];
    currentRequestId = id;
    if (next.headers["lambda-runtime-trace-id"]) process.env._X_AMZN_TRACE_ID = next.headers["lambda-runtime-trace-id"];
    let result;
    try {
      const event = JSON.parse(next.body.toString("utf8"));
      result = await invoke(handler, event, next.headers);
    } catch (err) {
      await postError(`/invocation/${id}/error`, err);
      continue;
    }
    const body = JSON.stringify(result === undefined ? null : result);
    await call("POST", `/invocation/${id}/response`, body, { "Content-Type": "application/json" });
  }
}

process.on("unhandledRejection", (reason) => {
  postError(`/invocation/${currentRequestId}/error`, reason, "Runtime.UnhandledPromiseRejection").finally(() => process.exit(128));
});
process.on("uncaughtException", (err) => {
  postError(currentRequestId ? `/invocation/${currentRequestId}/error` : "/init/error", err).finally(() => process.exit(129));
});

main();
