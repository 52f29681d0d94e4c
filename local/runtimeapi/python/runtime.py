"""The local adapter's Lambda runtime client for Python: the Runtime API loop
of AWS's runtime interface client (awslambdaric), small enough to read.
Started by local/runtimeapi as

    python3 runtime.py

in LAMBDA_TASK_ROOT, with _HANDLER and AWS_LAMBDA_RUNTIME_API set. Handlers
are "module.function", "package.module.function" or "dir/module.function".
Errors go to the Runtime API as Lambda's Python runtime reports them:
{"errorMessage", "errorType", "requestId", "stackTrace"}.

With --missing REQUIREMENTS it prints, one a line, the distributions the
requirements file names that are not installed on the function's path.
"""

import decimal
import http.client
import importlib
import json
import os
import sys
import time
import traceback

API = os.environ.get("AWS_LAMBDA_RUNTIME_API", "")
TASK_ROOT = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
PREFIX = "/2018-06-01/runtime"


class _Encoder(json.JSONEncoder):
    """Lambda's encoder: Decimal (DynamoDB's numbers) as a number."""

    def default(self, o):
        if isinstance(o, decimal.Decimal):
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


class _Connection:
    def __init__(self):
        host, _, port = API.partition(":")
        self.conn = http.client.HTTPConnection(host, int(port or 80))

    def call(self, method, route, body=None, headers=None):
        self.conn.request(method, PREFIX + route, body=body, headers=headers or {})
        resp = self.conn.getresponse()
        return resp, resp.read()


def _error_doc(exc, error_type=None, request_id=None):
    doc = {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__)),
    }
    if request_id:
        doc["requestId"] = request_id
    return doc


def _post_error(conn, route, doc):
    print("[ERROR] %s: %s" % (doc["errorType"], doc["errorMessage"]), file=sys.stderr, flush=True)
    conn.call("POST", route, json.dumps(doc), {
        "Content-Type": "application/json",
        "Lambda-Runtime-Function-Error-Type": doc["errorType"],
    })


class InitError(Exception):
    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type


def _load_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError:
        raise InitError("Runtime.MalformedHandlerName", "Bad handler '%s': not enough values to unpack (expected 2, got 1)" % handler)
    modname = modname.replace("/", ".")
    try:
        module = importlib.import_module(modname)
    except SyntaxError as e:
        raise InitError("Runtime.UserCodeSyntaxError", "Syntax error in module '%s': %s" % (modname, e))
    except ImportError as e:
        raise InitError("Runtime.ImportModuleError", "Unable to import module '%s': %s" % (modname, e))
    fn = getattr(module, fname, None)
    if fn is None or not callable(fn):
        raise InitError("Runtime.HandlerNotFound", "Handler '%s' missing on module '%s'" % (fname, modname))
    return fn


class _Obj:
    def __init__(self, **fields):
        self.__dict__.update(fields)


class LambdaContext:
    """The context object of Lambda's Python runtime."""

    def __init__(self, headers):
        env = os.environ
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn")
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms") or 0)
        # Objects with attributes, as awslambdaric makes them.
        cc = headers.get("Lambda-Runtime-Client-Context")
        cc = json.loads(cc) if cc else None
        self.client_context = None
        if cc is not None:
            self.client_context = _Obj(custom=cc.get("custom"), env=cc.get("env"), client=cc.get("client"))
        ident = headers.get("Lambda-Runtime-Cognito-Identity")
        ident = json.loads(ident) if ident else {}
        self.identity = _Obj(cognito_identity_id=ident.get("cognitoIdentityId"),
                             cognito_identity_pool_id=ident.get("cognitoIdentityPoolId"))

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)


class _RequestIdFilter:
    """Gives log records the current request's ID, as Lambda's runtime does."""

    request_id = None

    def filter(self, record):
        record.aws_request_id = self.request_id
        return True


_request_ids = _RequestIdFilter()


def _setup_logging():
    """The root logger of Lambda's Python runtime: a handler on stdout in
    Lambda's format, at WARNING unless AWS_LAMBDA_LOG_LEVEL says otherwise
    (a function's logger.setLevel(logging.INFO) then shows its INFO lines)."""
    import logging

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"))
    handler.formatter.converter = time.gmtime
    handler.addFilter(_request_ids)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "WARNING").upper())


def main():
    sys.path.insert(0, TASK_ROOT)
    _setup_logging()
    conn = _Connection()
    try:
        handler = _load_handler(os.environ.get("_HANDLER", ""))
    except InitError as e:
        _post_error(conn, "/init/error", {"errorMessage": str(e), "errorType": e.error_type, "stackTrace": []})
        sys.exit(1)
    except Exception as e:  # the module's own code failed
        _post_error(conn, "/init/error", _error_doc(e))
        sys.exit(1)
    while True:
        resp, body = conn.call("GET", "/invocation/next")
        headers = resp.headers
        request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        _request_ids.request_id = request_id
        if headers.get("Lambda-Runtime-Trace-Id"):
            os.environ["_X_AMZN_TRACE_ID"] = headers.get("Lambda-Runtime-Trace-Id")
        try:
            event = json.loads(body) if body else None
            result = handler(event, LambdaContext(headers))
            out = json.dumps(result, cls=_Encoder)
        except Exception as e:
            _post_error(conn, "/invocation/%s/error" % request_id, _error_doc(e, request_id=request_id))
            continue
        conn.call("POST", "/invocation/%s/response" % request_id, out, {"Content-Type": "application/json"})


def missing(requirements):
    """The distributions requirements names that are not on the path."""
    import importlib.metadata as md
    import re

    sys.path.insert(0, TASK_ROOT)
    out = []
    with open(requirements) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            name = re.split(r"[\s\[<>=!~;@]", line, maxsplit=1)[0]
            try:
                md.distribution(name)
            except md.PackageNotFoundError:
                out.append(name)
    return out


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--missing":
        print("\n".join(missing(sys.argv[2])))
    else:
        main()
