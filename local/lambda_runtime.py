"""Local Lambda execution: every function runs in its own worker processes, like Lambda environments.

Why processes and not in-process imports: handlers read their environment both at import time (Powertools'
idempotency table, cached clients) and at call time, and keep module state between invocations (clients,
the predict function's ``@serving`` cache). ``os.environ`` is process-wide, so two functions invoked
concurrently from different threads (the Step Functions interpreter, EventBridge deliveries, the API)
would see each other's variables. A worker process per execution environment isolates environment,
modules and caches exactly as Lambda does, and lets a timeout kill a stuck handler.

- Code: the function's staged CDK asset (``LAMBDA_TASK_ROOT``), so a packaging mistake (a module missing
  from the asset) fails locally as it would on AWS. Dependencies come from the virtual environment (the
  Python runtime plus the Powertools layer on AWS).
- Environment: the template's ``Environment.Variables`` (resolved to local names/ARNs), Lambda's reserved
  variables, the local endpoint and credentials, and ``POWERTOOLS_TRACE_DISABLED=1`` (no X-Ray daemon).
  Nothing else leaks in from the caller's environment.
- Lifecycle: a worker is started on the first invocation (cold start) and reused while warm; up to
  ``max_concurrency`` workers per function serve concurrent invocations (more callers wait).
- Errors: an unhandled exception comes back as :class:`LambdaFunctionError` whose class name is the
  runtime's ``errorType`` (so :class:`local.sfn.LambdaRegistry` reports it as Lambda does); a handler that
  outlives the function's ``Timeout`` is killed and reported as ``Sandbox.Timedout``.
- Logs: each function's stdout/stderr go to ``<log_dir>/<function name>.log``.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from local.sfn import LambdaContext, LambdaServiceError

LOG = logging.getLogger(__name__)

WORKER_SCRIPT = Path(__file__).with_name("lambda_worker.py")
RUNTIME_VERSIONS = ("python3.11", "python3.12", "python3.13")
"""Runtimes the local worker stands in for (it runs this interpreter's Python, whatever the version)."""

# Seconds a worker may take to import its handler before the invocation fails (Lambda's init phase is
# limited to 10 s; imports of torch-free handlers take ~1 s here).
INIT_TIMEOUT_SECONDS = 30.0


class LambdaFunctionError(Exception):
    """An error raised by (or on behalf of) the function code; subclasses are named after ``errorType``."""

    error_type = "Exception"

    def __init__(self, message: str, stack_trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.stack_trace = stack_trace or []


_ERROR_CLASSES: dict[str, type[LambdaFunctionError]] = {}
_ERROR_CLASSES_LOCK = threading.Lock()


def error_class(error_type: str) -> type[LambdaFunctionError]:
    """A :class:`LambdaFunctionError` subclass whose ``__name__`` is ``error_type`` (cached)."""
    with _ERROR_CLASSES_LOCK:
        cls = _ERROR_CLASSES.get(error_type)
        if cls is None:
            cls = type(error_type, (LambdaFunctionError,), {"error_type": error_type})
            _ERROR_CLASSES[error_type] = cls
        return cls


HOST_CLOCK_VARIABLES = ("LD_PRELOAD", "DONT_FAKE_MONOTONIC")
HOST_CLOCK_PREFIX = "FAKETIME"
"""Variables that set this machine's clock for a process (libfaketime's ``FAKETIME*`` settings, its
preloaded libraries and the legacy ``DONT_FAKE_MONOTONIC``): the workers keep the host's clock."""


@dataclass
class AsyncInvokeConfig:
    """How Lambda retries asynchronous invocations (``AWS::Lambda::EventInvokeConfig``, function DLQ)."""

    maximum_retry_attempts: int = 2
    maximum_event_age_seconds: int = 21600
    dead_letter_arn: str | None = None
    on_failure_arn: str | None = None


@dataclass
class FunctionSpec:
    """A deployed function as the local runtime needs it."""

    name: str
    arn: str
    handler: str
    code_dir: Path
    environment: dict[str, str]
    timeout_seconds: int = 3
    memory_mb: int = 128
    runtime: str = "python3.12"
    role_arn: str | None = None
    """The execution role: with :attr:`LambdaRuntime.credentials`, the function acts with its credentials."""
    async_config: AsyncInvokeConfig = field(default_factory=AsyncInvokeConfig)


class _Worker:
    """One execution environment (a ``lambda_worker.py`` process)."""

    def __init__(self, spec: FunctionSpec, env: dict[str, str], log: _LogSink, python: str) -> None:
        self.spec = spec
        self.process = subprocess.Popen(
            [python, "-I", "-B", "-u", str(WORKER_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=str(spec.code_dir),
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        assert self.process.stdout is not None and self.process.stderr is not None
        threading.Thread(target=self._read_answers, args=(self.process.stdout,), daemon=True).start()
        threading.Thread(target=log.copy_from, args=(self.process.stderr,), daemon=True).start()
        self.init_error: dict[str, Any] | None = None
        try:
            ready = self._next(INIT_TIMEOUT_SECONDS)
        except TimeoutError:
            ready = None
        if ready is None or not ready.get("ready"):
            self.kill()
            raise LambdaServiceError(
                "ServiceException", f"{spec.name}: the local execution environment failed to start"
            )
        self.init_error = ready.get("init_error")

    def _read_answers(self, stream: IO[str]) -> None:
        for line in stream:
            try:
                self._answers.put(json.loads(line))
            except ValueError:
                LOG.warning("%s: unreadable worker answer %r", self.spec.name, line[:200])
        self._answers.put(None)

    def _next(self, timeout: float) -> dict[str, Any] | None:
        try:
            return self._answers.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError from None

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def invoke(self, request: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """Send one request; the answer, or None when the process died. Raises TimeoutError."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        try:
            return self._next(timeout)
        except TimeoutError:
            self.kill()
            raise

    def kill(self) -> None:
        if self.alive:
            self.process.kill()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            LOG.warning("%s: worker %s did not exit", self.spec.name, self.process.pid)

    def close_input(self) -> None:
        """Close stdin: the worker exits after its current request (:meth:`stop` waits for that)."""
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
        except OSError:
            pass

    def stop(self) -> None:
        """Close stdin (the worker exits after its current request), then make sure it is gone."""
        self.close_input()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()


class _LogSink:
    """Appends lines from all workers of one function to its log file (or discards them)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def copy_from(self, stream: IO[str]) -> None:
        for line in stream:
            self.write(line)

    def write(self, line: str) -> None:
        if self.path is None:
            return
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line if line.endswith("\n") else line + "\n")


class LambdaFunction:
    """A deployed function: a callable ``handler(event, context)`` for :class:`local.sfn.LambdaRegistry`
    that runs the invocation in one of the function's worker processes."""

    def __init__(self, spec: FunctionSpec, runtime: LambdaRuntime) -> None:
        self.spec = spec
        self._runtime = runtime
        self._log = _LogSink(runtime.log_dir / f"{spec.name}.log" if runtime.log_dir else None)
        self._idle: list[_Worker] = []
        self._waiters: collections.deque[object] = collections.deque()
        self._count = 0
        self._condition = threading.Condition()
        self._closed = False

    @property
    def log_path(self) -> Path | None:
        """Where this function's output goes."""
        return self._log.path

    def _acquire(self) -> _Worker:
        # First come, first served: a thread that just released a worker must not take it back ahead of
        # threads already waiting, or one request can starve past the API's 29 s integration timeout.
        with self._condition:
            ticket = object()
            self._waiters.append(ticket)
            try:
                while True:
                    if self._closed:
                        raise LambdaServiceError("ResourceNotFoundException", f"{self.spec.name} was removed")
                    if self._waiters[0] is ticket:
                        while self._idle:
                            worker = self._idle.pop()
                            if worker.alive:
                                return worker
                            self._count -= 1
                        if self._count < self._runtime.max_concurrency:
                            self._count += 1
                            break
                    self._condition.wait()
            finally:
                self._waiters.remove(ticket)
                self._condition.notify_all()
        try:
            return _Worker(
                self.spec, self._runtime.environment_for(self.spec), self._log, self._runtime.python
            )
        except BaseException:
            with self._condition:
                self._count -= 1
                self._condition.notify_all()
            raise

    def _release(self, worker: _Worker) -> None:
        with self._condition:
            if worker.alive and not self._closed:
                self._idle.append(worker)
            else:
                self._count -= 1
                if worker.alive:
                    worker.stop()
            self._condition.notify_all()

    def prewarm(self) -> None:
        """Start one execution environment now (so the first real invocation is warm)."""
        self._release(self._acquire())

    def __call__(self, event: Any, context: LambdaContext) -> Any:
        request_id = getattr(context, "aws_request_id", None) or str(uuid.uuid4())
        timeout = float(self.spec.timeout_seconds)
        request = {
            "request_id": request_id,
            "event": event,
            "deadline_epoch_ms": int((time.time() + timeout) * 1000),
            "invoked_function_arn": getattr(context, "invoked_function_arn", self.spec.arn),
        }
        worker = self._acquire()
        try:
            answer = worker.invoke(request, timeout)
        except TimeoutError:
            self._log.write(f"{request_id} Task timed out after {timeout:.2f} seconds")
            raise error_class("Sandbox.Timedout")(
                f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
            ) from None
        finally:
            self._release(worker)
        if answer is None:
            raise error_class("Runtime.ExitError")(
                f"RequestId: {request_id} Error: Runtime exited without providing a reason"
            )
        if "error" in answer:
            info = answer["error"]
            raise error_class(str(info.get("errorType") or "Exception"))(
                str(info.get("errorMessage", "")), list(info.get("stackTrace") or [])
            )
        return answer.get("result")

    def close(self) -> None:
        """Stop every worker of this function."""
        stop_together(self.detach())

    def detach(self) -> list[_Worker]:
        """Close the function (no new invocation) and hand over its idle workers to be stopped."""
        with self._condition:
            self._closed = True
            workers, self._idle = self._idle, []
            self._condition.notify_all()
        return workers


def stop_together(workers: list[_Worker]) -> None:
    """Stop ``workers``: every stdin is closed first, so they exit side by side, then each is waited for
    (stopped one after another, the 20-odd workers of a deployed stack took 10+ s on 2 loaded cores)."""
    for worker in workers:
        worker.close_input()
    for worker in workers:
        worker.stop()


class LambdaRuntime:
    """Creates :class:`LambdaFunction` handlers and owns their worker processes.

    ``base_environment`` holds what every function sees besides its own variables: the local endpoint
    (``AWS_ENDPOINT_URL``), credentials and region. ``credentials(role_arn, session)``, when set, gives each
    function with a ``role_arn`` that role's credentials (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
    ``AWS_SESSION_TOKEN``), replacing the base ones, as Lambda does with the execution role
    (https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html).
    """

    def __init__(
        self,
        base_environment: Mapping[str, str],
        *,
        log_dir: Path | None = None,
        max_concurrency: int = 4,
        python: str | None = None,
    ) -> None:
        self.base_environment = dict(base_environment)
        self.log_dir = log_dir
        self.max_concurrency = max_concurrency
        self.python = python or sys.executable
        self.functions: dict[str, LambdaFunction] = {}
        self._lock = threading.Lock()
        self.credentials: Callable[[str, str], Mapping[str, str]] | None = None

    def add(self, spec: FunctionSpec) -> LambdaFunction:
        """Register a function (replacing one of the same name) and return its handler."""
        if spec.runtime not in RUNTIME_VERSIONS:
            raise ValueError(
                f"{spec.name}: runtime {spec.runtime} is not supported locally ({', '.join(RUNTIME_VERSIONS)})"
            )
        function = LambdaFunction(spec, self)
        with self._lock:
            previous = self.functions.pop(spec.name, None)
            self.functions[spec.name] = function
        if previous is not None:
            previous.close()
        return function

    def environment_for(self, spec: FunctionSpec) -> dict[str, str]:
        """The complete environment of one of ``spec``'s workers."""
        region = self.base_environment.get("AWS_REGION", "us-east-1")
        env: dict[str, str] = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "HOME": os.environ.get("TMPDIR", "/tmp"),
            "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
            # The developer's ~/.aws files must not redirect or re-credential the functions' clients.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "POWERTOOLS_TRACE_DISABLED": "1",
        }
        # The machine's clock: every emulated service shares one notion of "now", as AWS's services share
        # one synchronized clock. Only libfaketime's settings cross, when a moved clock is being tested.
        env.update(
            {
                name: value
                for name, value in os.environ.items()
                if name in HOST_CLOCK_VARIABLES or name.startswith(HOST_CLOCK_PREFIX)
            }
        )
        env.update(self.base_environment)
        env.update(spec.environment)
        # Reserved variables: Lambda sets these itself and ignores function configuration for them.
        env.update(
            {
                "_HANDLER": spec.handler,
                "LAMBDA_TASK_ROOT": str(spec.code_dir),
                "AWS_LAMBDA_FUNCTION_NAME": spec.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": f"local/{uuid.uuid4().hex}",
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
                "AWS_REGION": region,
                "AWS_DEFAULT_REGION": region,
            }
        )
        if self.credentials is not None and spec.role_arn:
            env.update(self.credentials(spec.role_arn, spec.name))
        return env

    def prewarm(self, names: list[str] | None = None) -> None:
        """Start one worker for each named function (all by default) in background threads."""
        for function in [self.functions[name] for name in names] if names else list(self.functions.values()):
            threading.Thread(target=_quiet(function.prewarm), daemon=True).start()

    def shutdown(self) -> None:
        """Stop every worker."""
        with self._lock:
            functions, self.functions = list(self.functions.values()), {}
        stop_together([worker for function in functions for worker in function.detach()])


def _quiet(call: Any) -> Any:
    def run() -> None:
        try:
            call()
        except Exception:
            LOG.exception("prewarming failed")

    return run
