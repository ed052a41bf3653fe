"""Local Lambda execution environments: isolation, errors, timeouts (fast: small worker processes)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from local import lambda_runtime
from local.lambda_runtime import FunctionSpec, LambdaRuntime
from local.sfn import LambdaRegistry

HANDLER = """
import os, sys, threading, time

IMPORT_TIME_VALUE = os.environ.get("GREETING")
CALLS = []


def lambda_handler(event, context):
    CALLS.append(1)
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("leave_thread"):
        threading.Thread(target=time.sleep, args=(60,)).start()  # not a daemon: it would hold the exit
    if event.get("raise"):
        raise KeyError("missing thing")
    if event.get("unserialisable"):
        return {"value": object()}
    print("log line from", context.function_name)
    return {
        "import_time": IMPORT_TIME_VALUE,
        "call_time": os.environ.get("GREETING"),
        "calls": len(CALLS),
        "function": context.function_name,
        "remaining_ok": 0 < context.get_remaining_time_in_millis() <= 2000,
        "task_root": os.environ["LAMBDA_TASK_ROOT"],
        "sees_repo": any(p.rstrip("/").endswith("/local") for p in sys.path),
        "trace_disabled": os.environ.get("POWERTOOLS_TRACE_DISABLED"),
        "leaked": os.environ.get("GTPIPE_TEST_SECRET"),
        "pid": os.getpid(),
    }
"""


@pytest.fixture
def runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LambdaRuntime, LambdaRegistry, Path]]:
    code = tmp_path / "code"
    (code / "fn").mkdir(parents=True)
    (code / "fn" / "__init__.py").write_text("")
    (code / "fn" / "handler.py").write_text(HANDLER)
    monkeypatch.setenv("GTPIPE_TEST_SECRET", "from the caller")
    runtime = LambdaRuntime({"AWS_REGION": "eu-west-1"}, log_dir=tmp_path / "logs")
    registry = LambdaRegistry()
    for name, greeting in (("hello", "hello"), ("bonjour", "bonjour")):
        spec = FunctionSpec(
            name=name,
            arn=f"arn:aws:lambda:eu-west-1:123456789012:function:{name}",
            handler="fn.handler.lambda_handler",
            code_dir=code,
            environment={"GREETING": greeting},
            timeout_seconds=2,
        )
        registry.register(name, runtime.add(spec), timeout_seconds=2)
    yield runtime, registry, tmp_path / "logs"
    runtime.shutdown()


def invoke(registry: LambdaRegistry, name: str, event: dict[str, object]) -> dict[str, object]:
    return registry.invoke(name, json.dumps(event))


def log_with(path: Path, *needles: str, timeout: float = 10.0) -> str:
    """The function's log once it contains every needle. A worker's output reaches the log through a copier
    thread, after the invocation may have returned (as in Lambda, logs arrive asynchronously); fails naming
    what is missing when it does not arrive within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text() if path.exists() else ""
        missing = [needle for needle in needles if needle not in text]
        if not missing:
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} still lacks {missing} after {timeout} s; it has: {text!r}")
        time.sleep(0.05)


def test_each_function_sees_only_its_own_environment_even_concurrently(
    runtime: tuple[LambdaRuntime, LambdaRegistry, Path],
) -> None:
    _, registry, _ = runtime
    results: dict[str, list[dict[str, object]]] = {"hello": [], "bonjour": []}

    def hammer(name: str) -> None:
        for _ in range(10):
            results[name].append(invoke(registry, name, {})["Payload"])  # type: ignore[arg-type]

    threads = [threading.Thread(target=hammer, args=(name,)) for name in results for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, payloads in results.items():
        assert len(payloads) == 20
        assert {(p["import_time"], p["call_time"], p["function"]) for p in payloads} == {(name, name, name)}
    first = results["hello"][0]
    assert first["remaining_ok"] is True and first["trace_disabled"] == "1"
    assert first["sees_repo"] is False, "the worker must not see the caller's sys.path"
    assert first["leaked"] is None, "the caller's environment must not leak into functions"


def test_warm_workers_keep_module_state(runtime: tuple[LambdaRuntime, LambdaRegistry, Path]) -> None:
    _, registry, logs = runtime
    counts = [invoke(registry, "hello", {})["Payload"]["calls"] for _ in range(3)]  # type: ignore[index]
    assert counts == [1, 2, 3]
    log_with(logs / "hello.log", "log line from hello", "START RequestId", "Init Duration")


def test_shutdown_stops_the_workers_of_every_function(
    runtime: tuple[LambdaRuntime, LambdaRegistry, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a warm worker of each of two functions, one of whose handlers left a (non-daemon) thread running
    local_runtime, registry, _ = runtime
    pids = {
        invoke(registry, name, {"leave_thread": name == "hello"})["Payload"]["pid"]
        for name in ("hello", "bonjour")
    }  # type: ignore[index]
    assert len(pids) == 2
    killed: list[str] = []
    monkeypatch.setattr(lambda_runtime._Worker, "kill", lambda worker: killed.append(worker.spec.name))
    # When the runtime shuts down
    local_runtime.shutdown()
    # Then every worker exited by itself (none had to be killed) and was reaped
    assert killed == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # type: ignore[arg-type]


def test_errors_come_back_as_the_runtime_reports_them(
    runtime: tuple[LambdaRuntime, LambdaRegistry, Path],
) -> None:
    _, registry, logs = runtime
    response = invoke(registry, "hello", {"raise": True})
    assert response["FunctionError"] == "Unhandled"
    assert response["Payload"]["errorType"] == "KeyError"  # type: ignore[index]
    assert "missing thing" in response["Payload"]["errorMessage"]  # type: ignore[index]
    log_with(logs / "hello.log", "[ERROR] KeyError")
    response = invoke(registry, "hello", {"unserialisable": True})
    assert response["Payload"]["errorType"] == "Runtime.MarshalError"  # type: ignore[index]


def test_a_handler_over_its_timeout_is_killed_and_the_next_call_gets_a_fresh_environment(
    runtime: tuple[LambdaRuntime, LambdaRegistry, Path],
) -> None:
    _, registry, _ = runtime
    invoke(registry, "hello", {})
    response = invoke(registry, "hello", {"sleep": 5})
    assert response["Payload"]["errorType"] == "Sandbox.Timedout"  # type: ignore[index]
    assert "Task timed out after 2.00 seconds" in response["Payload"]["errorMessage"]  # type: ignore[index]
    assert invoke(registry, "hello", {})["Payload"]["calls"] == 1  # type: ignore[index]


def test_import_errors_are_reported_on_invoke(tmp_path: Path) -> None:
    runtime = LambdaRuntime({})
    try:
        spec = FunctionSpec(
            name="broken",
            arn="arn:aws:lambda:us-east-1:123456789012:function:broken",
            handler="missing_module.handler.lambda_handler",
            code_dir=tmp_path,
            environment={},
        )
        registry = LambdaRegistry({"broken": runtime.add(spec)})
        payload = registry.invoke("broken", "{}")["Payload"]
        assert payload["errorType"] == "Runtime.ImportModuleError"
        assert "Unable to import module 'missing_module.handler'" in payload["errorMessage"]
    finally:
        runtime.shutdown()


def test_workers_keep_the_machines_libfaketime_clock_and_nothing_else_of_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a caller whose clock libfaketime moves (as `make test-clock-ahead` does) and a private variable
    clock = {
        "LD_PRELOAD": "/repo/build/faketime/monotonic_sleep.so:/usr/lib/faketime/libfaketime.so.1",
        "FAKETIME": "+60d",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "DONT_FAKE_MONOTONIC": "1",
    }
    for name, value in clock.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GTPIPE_TEST_SECRET", "from the caller")
    spec = FunctionSpec(
        name="fn",
        arn="arn:aws:lambda:eu-west-1:123456789012:function:fn",
        handler="fn.handler.lambda_handler",
        code_dir=tmp_path,
        environment={},
    )
    # When a worker's environment is built
    env = LambdaRuntime({"AWS_REGION": "eu-west-1"}).environment_for(spec)
    # Then the worker lives in the same moved time, and the rest of the caller's environment stays out
    assert {name: env.get(name) for name in clock} == clock
    assert "GTPIPE_TEST_SECRET" not in env
