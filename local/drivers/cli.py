"""``python -m local.cli up|down|status`` (``make local-up`` / ``make local-down``): the local cloud in
the background.

- ``up`` starts ``python -m local.cli serve`` as a daemon (own session; pid in ``.local/cloud.pid``, log in
  ``.local/cloud.log``), which synthesizes the app (or reuses a fresh ``.local/cdk.out``, or deploys
  ``--cdk-out``), deploys both stacks and writes ``.local/outputs.json``; ``up`` waits for that file and
  prints how to use the AWS CLI and curl against the cloud. It records what it deployed
  (``.local/cloud.config.json``: context overrides, ``--demo-context``, ``--cdk-out``, ports); ``up`` while a
  cloud runs exits 0 when it asks for the same, and 1 naming what differs otherwise (stop it first).
- ``down`` stops the daemon (SIGTERM, then SIGKILL after 30 s) and removes its files. State is in memory
  only: nothing survives ``down``.
- ``status`` says whether it runs, where, and what the state machine has executed.
- ``serve`` runs the cloud in the foreground until SIGINT/SIGTERM (what ``up`` starts).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from local.drivers.client import aws_client, load_outputs

PID_FILE = "cloud.pid"
LOG_FILE = "cloud.log"
OUTPUTS_FILE = "outputs.json"
CONFIG_FILE = "cloud.config.json"


def _context(pairs: list[str]) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--context expects KEY=VALUE, got {pair!r}")
        try:
            context[key] = json.loads(value)
        except ValueError:
            context[key] = value
    return context


def requested(args: argparse.Namespace) -> dict[str, Any]:
    """What ``up`` asks to deploy (compared with what a running cloud was started with)."""
    return {
        "context": _context(args.context),
        "demo_context": bool(args.demo_context),
        "cdk_out": str(Path(args.cdk_out).resolve()) if args.cdk_out else None,
        "port": args.port or None,
        "api_port": args.api_port or None,
    }


def differences(running: dict[str, Any] | None, wanted: dict[str, Any]) -> list[str]:
    """What ``wanted`` asks for that the running cloud (started with ``running``) does not have."""
    if running is None:
        asked = [name for name in ("context", "cdk_out", "port", "api_port") if wanted.get(name)]
        return (
            [f"it was started without a record of its configuration (asked for: {', '.join(asked)})"]
            if asked
            else []
        )
    found = []
    old_context, new_context = running.get("context") or {}, wanted["context"]
    for key in sorted(set(old_context) | set(new_context)):
        if old_context.get(key) != new_context.get(key):
            was = json.dumps(old_context[key]) if key in old_context else "unset"
            now = json.dumps(new_context[key]) if key in new_context else "unset"
            found.append(f"-c {key}: running {was}, asked {now}")
    if bool(running.get("demo_context")) != wanted["demo_context"]:
        found.append(
            f"--demo-context: running {bool(running.get('demo_context'))}, asked {wanted['demo_context']}"
        )
    if running.get("cdk_out") != wanted["cdk_out"]:
        found.append(f"--cdk-out: running {running.get('cdk_out')}, asked {wanted['cdk_out']}")
    for name in ("port", "api_port"):
        if wanted[name] and running.get(name) != wanted[name]:
            found.append(
                f"--{name.replace('_', '-')}: running {running.get(name) or 'any'}, asked {wanted[name]}"
            )
    return found


def _recorded(state_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((state_dir / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _pid(state_dir: Path) -> int | None:
    path = state_dir / PID_FILE
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _is_our_daemon(pid) else None


def _is_our_daemon(pid: int) -> bool:
    # Only a live process running "local.cli serve" counts: a stale pid file may name a recycled pid.
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return True  # no /proc (macOS): trust the pid file
    return "local.cli" in command and "serve" in command


def usage(outputs: dict[str, Any]) -> str:
    """How to use the running cloud from a shell."""
    auth = (
        f"-H 'x-api-key: {outputs['ApiKey']}'"
        if outputs.get("ApiKey")
        else f"--aws-sigv4 'aws:amz:{outputs['Region']}:execute-api' --user \"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\""
    )
    return "\n".join(
        [
            f"AWS endpoint  {outputs['AwsEndpointUrl']}   (region {outputs['Region']})",
            f"API           {outputs['ApiUrl']}/predict   (TLS CA {outputs['CaCertPath']})",
            f"data bucket   {outputs['DataBucketName']}   (drop manifests under {outputs['IncomingPrefix']})",
            f"runs table    {outputs['RunsTableName']}",
            f"labels        simulated workforce reads {outputs['WorkforceReferenceLabels']}",
            "              (your own unlabeled images need answers there: gtpipe --local submit MANIFEST "
            "--reference-answers FILE)",
            *(
                [
                    f"labeling app  {outputs['LabelingUrl']}   (sign in as {outputs['LabelingUsername']} / "
                    f"{outputs['LabelingPassword']})"
                ]
                if outputs.get("LabelingUrl")
                else []
            ),
            "",
            "export AWS_ENDPOINT_URL={} AWS_DEFAULT_REGION={} AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={}".format(
                outputs["AwsEndpointUrl"],
                outputs["Region"],
                outputs["AccessKeyId"],
                outputs["SecretAccessKey"],
            ),
            f"aws s3 sync ./images s3://{outputs['DataBucketName']}/images/",
            f"aws s3 cp my.manifest s3://{outputs['DataBucketName']}/{outputs['IncomingPrefix']}my.manifest",
            f"aws stepfunctions list-executions --state-machine-arn {outputs['StateMachineArn']}",
            f"aws dynamodb scan --table-name {outputs['RunsTableName']}",
            f"curl --cacert {outputs['CaCertPath']} {auth} -H 'Content-Type: image/png' "
            f"--data-binary @digit.png {outputs['ApiUrl']}/predict",
        ]
    )


def serve(args: argparse.Namespace) -> int:
    """Run the cloud in the foreground until SIGINT/SIGTERM."""
    from local.cloud import CloudSettings, LocalCloud
    from local.synth import synthesize

    state_dir = Path(args.state_dir).resolve()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    outputs_path = state_dir / OUTPUTS_FILE
    outputs_path.unlink(missing_ok=True)
    settings = CloudSettings(state_dir=state_dir, port=args.port, api_port=args.api_port)
    cloud = LocalCloud(settings)
    try:
        cloud.start()
        print(f"local cloud started at {cloud.endpoint_url}", flush=True)
        if args.cdk_out:
            assembly = Path(args.cdk_out)
        elif args.demo_context:
            from local.drivers.demo import DEMO_ASSEMBLY, demo_context

            assembly = synthesize(state_dir / DEMO_ASSEMBLY, {**demo_context(), **_context(args.context)})
        else:
            assembly = synthesize(state_dir / "cdk.out", _context(args.context))
        print(f"deploying {assembly}", flush=True)
        cloud.deploy(assembly)
        if cloud.runtime is not None:
            cloud.runtime.prewarm()
        cloud.write_outputs(outputs_path)
        print(usage(cloud.outputs), flush=True)
        stop.wait()
        print("stopping", flush=True)
        return 0
    finally:
        cloud.stop()
        outputs_path.unlink(missing_ok=True)
        pid_file = state_dir / PID_FILE
        if pid_file.exists() and pid_file.read_text().strip() == str(os.getpid()):
            pid_file.unlink()
            (state_dir / CONFIG_FILE).unlink(missing_ok=True)


def up(args: argparse.Namespace) -> int:
    """Start the daemon and wait until it has deployed."""
    state_dir = Path(args.state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    running = _pid(state_dir)
    wanted = requested(args)
    if running is not None:
        differ = differences(_recorded(state_dir), wanted)
        if differ:
            print(
                f"the local cloud is already running (pid {running}) with another configuration:\n"
                + "".join(f"  {line}\n" for line in differ)
                + "stop it first (python -m local.cli down, or make local-down), then run up again",
                file=sys.stderr,
            )
            return 1
        print(f"the local cloud is already running (pid {running})")
        if (state_dir / OUTPUTS_FILE).exists():
            print(usage(load_outputs(state_dir / OUTPUTS_FILE)))
        return 0
    (state_dir / OUTPUTS_FILE).unlink(missing_ok=True)
    command = [sys.executable, "-m", "local.cli", "serve", "--state-dir", str(state_dir)]
    command += ["--port", str(args.port), "--api-port", str(args.api_port)]
    if args.cdk_out:
        command += ["--cdk-out", str(Path(args.cdk_out).resolve())]
    for pair in args.context:
        command += ["--context", pair]
    if args.demo_context:
        command.append("--demo-context")
    log = (state_dir / LOG_FILE).open("w")
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # survives the terminal; down signals it by pid
        cwd=Path(__file__).resolve().parents[1],
    )
    (state_dir / PID_FILE).write_text(str(process.pid))
    (state_dir / CONFIG_FILE).write_text(json.dumps(wanted))
    print(f"starting the local cloud (pid {process.pid}, log {state_dir / LOG_FILE}) ...", flush=True)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if (state_dir / OUTPUTS_FILE).exists():
            print(usage(load_outputs(state_dir / OUTPUTS_FILE)))
            print(f"\noutputs: {state_dir / OUTPUTS_FILE}; stop with: python -m local.cli down")
            return 0
        if process.poll() is not None:
            print(f"the local cloud exited ({process.returncode}):\n" + _tail(state_dir / LOG_FILE))
            (state_dir / PID_FILE).unlink(missing_ok=True)
            return 1
        time.sleep(0.5)
    print("the local cloud did not come up in time:\n" + _tail(state_dir / LOG_FILE))
    _terminate(process.pid)
    return 1


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text().splitlines()[-lines:])
    except OSError:
        return ""


def _terminate(pid: int, timeout: float = 30.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):
            # Reap it if it is our child (up's timeout path); otherwise this raises.
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


def down(args: argparse.Namespace) -> int:
    """Stop the daemon; its state is gone."""
    state_dir = Path(args.state_dir).resolve()
    pid = _pid(state_dir)
    if pid is None:
        print("the local cloud is not running")
    else:
        _terminate(pid)
        print(f"stopped the local cloud (pid {pid})")
    for name in (PID_FILE, OUTPUTS_FILE, CONFIG_FILE):
        (state_dir / name).unlink(missing_ok=True)
    return 0


def status(args: argparse.Namespace) -> int:
    """Print whether the cloud runs, its endpoints and its executions."""
    state_dir = Path(args.state_dir).resolve()
    pid = _pid(state_dir)
    if pid is None:
        print("the local cloud is not running (start it with: python -m local.cli up)")
        return 3
    outputs_path = state_dir / OUTPUTS_FILE
    if not outputs_path.exists():
        print(f"the local cloud is starting (pid {pid}); log: {state_dir / LOG_FILE}")
        return 0
    outputs = load_outputs(outputs_path)
    print(f"the local cloud is running (pid {pid})")
    print(usage(outputs))
    try:
        sfn = aws_client(outputs, "stepfunctions")
        executions = sfn.list_executions(stateMachineArn=outputs["StateMachineArn"])["executions"]
        counts = Counter(execution["status"] for execution in executions)
        print(f"\nexecutions: {dict(counts) or 'none'}")
        for execution in executions[:10]:
            print(f"  {execution['name']:40} {execution['status']:10} {execution['startDate']:%H:%M:%S}")
    except Exception as error:
        print(f"\nthe AWS endpoint does not answer: {error}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m local.cli", description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", default=".local", help="where the cloud keeps its files (.local)")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "serve"):
        command = commands.add_parser(
            name, help="start in the background" if name == "up" else "run in the foreground"
        )
        command.add_argument("--port", type=int, default=0, help="AWS endpoint port (default: any free port)")
        command.add_argument(
            "--api-port", type=int, default=0, help="HTTPS API port (default: any free port)"
        )
        command.add_argument(
            "--cdk-out", default=None, help="deploy this cloud assembly instead of synthesizing"
        )
        command.add_argument(
            "--context",
            "-c",
            action="append",
            default=[],
            metavar="KEY=JSON",
            help="synthesis context override",
        )
        command.add_argument(
            "--demo-context", action="store_true", help="synthesize with the demo's local-sized configuration"
        )
        if name == "up":
            command.add_argument(
                "--timeout", type=float, default=300.0, help="seconds to wait for the deployment"
            )
    commands.add_parser("down", help="stop the background cloud")
    commands.add_parser("status", help="is it running, where, what ran")
    for command in commands.choices.values():
        command.add_argument("--state-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    handlers = {"up": up, "serve": serve, "down": down, "status": status}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
