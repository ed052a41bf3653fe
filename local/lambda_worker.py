"""One local Lambda execution environment: imports a function's handler once and serves invocations.

Started by :mod:`local.lambda_runtime` as ``python -I -B -u local/lambda_worker.py`` with the function's
environment (its ``Environment.Variables`` plus Lambda's reserved variables, ``_HANDLER`` and
``LAMBDA_TASK_ROOT`` among them). ``-I`` keeps the caller's ``sys.path``, ``PYTHONPATH`` and working
directory out, so the handler imports only what its deployment package (``LAMBDA_TASK_ROOT``, the CDK
asset) and the installed packages (the runtime plus layers) provide -- as on AWS. This file therefore
uses the standard library only.

Protocol (JSON Lines): the worker writes ``{"ready": true, "init_error": ...}`` once after importing the
handler, then reads one request per line on stdin (``{"request_id", "event", "deadline_epoch_ms",
"invoked_function_arn"}``) and answers each on the original stdout with ``{"result": ...}`` or
``{"error": {"errorMessage", "errorType", "stackTrace"}}``. Anything the handler prints goes to stderr,
which the parent appends to the function's log (the local CloudWatch Logs stand-in), framed by the
runtime's ``START``/``END``/``REPORT`` lines.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any


class Context:
    """The Python runtime's context object."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = request.get("invoked_function_arn", "")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request["request_id"]
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = int(request["deadline_epoch_ms"])

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the function times out."""
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(error: BaseException, error_type: str | None = None, skip_frames: int = 1) -> dict[str, Any]:
    frames = traceback.extract_tb(error.__traceback__)[skip_frames:]
    return {
        "errorMessage": str(error),
        "errorType": error_type or type(error).__name__,
        "stackTrace": traceback.format_list(frames),
    }


def _load_handler() -> tuple[Any, dict[str, Any] | None]:
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    sys.path.insert(0, task_root)
    handler_name = os.environ["_HANDLER"]
    module_name, _, function_name = handler_name.rpartition(".")
    if not module_name:
        return None, {
            "errorMessage": f"Bad handler '{handler_name}': not enough values to unpack (expected 2, got 1)",
            "errorType": "Runtime.MalformedHandlerName",
            "stackTrace": [],
        }
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        info = _error(error, "Runtime.ImportModuleError", skip_frames=0)
        info["errorMessage"] = f"Unable to import module '{module_name}': {error}"
        return None, info
    handler = getattr(module, function_name, None)
    if handler is None:
        return None, {
            "errorMessage": f"Handler '{function_name}' missing on module '{module_name}'",
            "errorType": "Runtime.HandlerNotFound",
            "stackTrace": [],
        }
    return handler, None


def main() -> None:
    """Serve invocations until stdin closes."""
    # The protocol keeps the original stdout; fd 1 is pointed at stderr so print() and logging from the
    # handler end up in the function's log, not in the protocol stream.
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    started = time.monotonic()
    handler, init_error = _load_handler()
    init_ms = (time.monotonic() - started) * 1000
    protocol.write(json.dumps({"ready": True, "init_error": init_error, "init_ms": init_ms}) + "\n")
    first = True
    for line in sys.stdin:
        request = json.loads(line)
        request_id = request["request_id"]
        version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        print(f"START RequestId: {request_id} Version: {version}", file=sys.stderr, flush=True)
        begin = time.monotonic()
        if init_error is not None:
            text = json.dumps({"error": init_error})
        else:
            try:
                result = handler(request["event"], Context(request))
            except Exception as error:
                info = _error(error)
                # The runtime logs unhandled errors to the function's log as well.
                print(f"[ERROR] {info['errorType']}: {info['errorMessage']}", file=sys.stderr)
                print("".join(traceback.format_exception(error)), file=sys.stderr, end="")
                text = json.dumps({"error": info})
            else:
                try:
                    # The runtime serialises the return value with json.dumps; failures are MarshalErrors.
                    text = json.dumps({"result": result})
                except (TypeError, ValueError) as error:
                    marshal = {
                        "errorMessage": f"Unable to marshal response: {error}",
                        "errorType": "Runtime.MarshalError",
                        "stackTrace": [],
                    }
                    text = json.dumps({"error": marshal})
        duration = (time.monotonic() - begin) * 1000
        sys.stdout.flush()
        print(f"END RequestId: {request_id}", file=sys.stderr)
        report = f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms"
        if first:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        print(report, file=sys.stderr, flush=True)
        first = False
        protocol.write(text + "\n")
    # stdin closed: the environment shuts down. Lambda ends an environment's process itself (SIGKILL once
    # the shutdown phase's time is up, "Shutdown phase" in
    # https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html), so a thread a handler's library left running must not keep this worker alive until it is killed
    # (Split, Evaluate, Notify and Endpoint workers did, 2+ s each at every local cloud's teardown).
    protocol.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
