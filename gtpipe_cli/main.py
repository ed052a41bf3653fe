"""``gtpipe``: submit datasets to a gtpipe pipeline, follow its runs, fetch their reports, call its API.

Targets: the deployed stacks on AWS (default; credentials and region from the standard chain, stack
outputs from CloudFormation) or the embedded local cloud (``--local``, reading ``.local/outputs.json``
written by ``make local-up``). The target options work before or after the command.

Exit codes: 0 success (``follow``: the run succeeded); 1 the run failed (``report``: it ended without a
report); 2 the run was rejected by the
quality gate or its execution ended otherwise; 3 unknown run; 4 not there yet (``follow --timeout``
passed while running, or no report yet); 5 no model deployed (``predict``); 6 the API refused an image;
7 ``doctor`` found a blocker; 64 usage; 66 a local file is missing (manifest, image, ``.local/outputs.json``); 69 the target is not
there (stack not found, local cloud not answering); 70 another AWS error; 77 no AWS credentials;
130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import webbrowser
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from gtpipe_cli.display import FollowDisplay, duration, metric_text, runs_table
from gtpipe_cli.doctor import doctor
from gtpipe_cli.errors import CliError, Exit
from gtpipe_cli.exporting import is_local_source
from gtpipe_cli.label_commands import cmd_export, convert_dataset, dataset_options, export_options, is_dataset
from gtpipe_cli.ledger import recent_runs, serving
from gtpipe_cli.local_answers import unanswered_notes
from gtpipe_cli.naming import is_run_id
from gtpipe_cli.predict_command import cmd_predict
from gtpipe_cli.progress import RunProgress, definition_ranks, follow_run, get_run
from gtpipe_cli.registry_commands import REGISTRY_COMMANDS, registry_commands
from gtpipe_cli.report import DEFAULT_REPORTS_DIR, download_report
from gtpipe_cli.submit import submit
from gtpipe_cli.target import (
    API_KEY_ENV,
    DEFAULT_STACK_PREFIX,
    DEFAULT_STATE_DIR,
    Target,
    TargetOptions,
    resolve_target,
)
from gtpipe_cli.waking import add_wake_option

EXPIRED_TOKEN_CODES = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"}
)


class Parser(argparse.ArgumentParser):
    """argparse with usage errors exiting 64 (EX_USAGE), apart from the run outcomes' 1-6."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(Exit.USAGE, f"{self.prog}: error: {message}\n")


def target_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The options that pick the target (on the main parser, and again on each command)."""
    default = (lambda value: value) if top else (lambda value: argparse.SUPPRESS)
    group = parser.add_argument_group("target")
    group.add_argument("--local", action="store_true", default=default(False), help="use the local cloud")
    group.add_argument(
        "--state-dir",
        type=Path,
        default=default(DEFAULT_STATE_DIR),
        help="the local cloud's folder, holding outputs.json (default .local)",
    )
    group.add_argument(
        "--stack-prefix",
        default=default(DEFAULT_STACK_PREFIX),
        help="AWS: stacks <prefix>Data and <prefix>Pipeline (default Gtpipe)",
    )
    group.add_argument("--region", default=default(None), help="AWS region (default: the standard chain's)")
    group.add_argument("--profile", default=default(None), help="AWS profile (default: the standard chain's)")


def build_parser() -> Parser:
    """The ``gtpipe`` argument parser."""
    parser = Parser(
        prog="gtpipe",
        description=__doc__.split("\n\n")[0].replace("``", ""),
        epilog=__doc__.split("\n\n", 2)[2].replace("``", ""),
    )
    target_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        target_options(sub, top=False)
        return sub

    sub = command("submit", "upload images (optional) and drop a manifest under incoming/: starts a run")
    submit_options(sub)

    sub = command("runs", "table of recent runs from the runs ledger (* marks the run whose model serves)")
    sub.add_argument("--limit", type=positive_int, default=20, help="how many (default 20)")
    sub.add_argument("--json", action="store_true", help="print the ledger items as JSON")

    sub = command("follow", "live progress of a run until it ends; the exit code is its outcome")
    sub.add_argument("run", help="run id (see gtpipe runs, or what submit printed)")
    follow_options(sub)

    sub = command("report", "download a run's report (index.html and figures)")
    sub.add_argument("run", help="run id")
    sub.add_argument("--out", type=Path, help="folder (default .gtpipe/reports/<run>/)")
    sub.add_argument("--open", action="store_true", help="open index.html in the web browser")

    sub = command(
        "export",
        "write a run's labels (or an augmented manifest's) as COCO, YOLO, Pascal VOC or the manifest, "
        "to a folder or an s3:// prefix",
    )
    export_options(sub)

    sub = command(
        "predict",
        "send images to the prediction API (over 4 MiB: uploaded to S3 through POST /uploads first); prints one "
        "JSON answer per line",
    )
    sub.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="PNG or JPEG files")
    sub.add_argument(
        "--min-confidence", type=confidence, help="object detection: keep boxes scoring at least this (0-1)"
    )
    sub.add_argument("--api-key", help=f"API key (api-key auth; default ${API_KEY_ENV} or the stack's key)")
    sub.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    add_wake_option(sub)
    sub.add_argument("--async", dest="use_async", action="store_true", help="queue and poll (async endpoint)")

    sub = command(
        "doctor",
        "preflight before cdk deploy and before a run: region, API Gateway CloudWatch role, Ground Truth "
        "workforce, instance quotas, instance storage vs. KMS, Powertools layer; exit 7 on a blocker",
    )
    doctor_options(sub)
    registry_commands(command)
    return parser


def submit_options(sub: argparse.ArgumentParser) -> None:
    """Arguments and options of ``submit`` (its ``--follow`` ones included)."""
    sub.add_argument(
        "manifest",
        type=Path,
        help="JSON Lines manifest (.manifest or .jsonl), or a COCO, YOLO or VOC dataset (a COCO .json file "
        "or a folder): converted to an augmented manifest, so labeling is skipped",
    )
    dataset_options(sub)
    sub.add_argument(
        "--images",
        type=Path,
        help="folder to upload to images/<name>/; local source-refs (paths in it) are rewritten in the "
        "uploaded copy of the manifest",
    )
    sub.add_argument("--images-name", help="<name> of images/<name>/ (default: the folder's name)")
    sub.add_argument("--key", help="object name under incoming/ (default: the manifest's file name)")
    sub.add_argument("--follow", action="store_true", help="follow the run afterwards (exit code as follow)")
    sub.add_argument(
        "--reference-answers",
        type=Path,
        metavar="FILE",
        help="local cloud only: JSON Lines answers for its simulated labelers ({source-ref, label} or "
        "{source-ref, image_size, annotations}; refs may be paths in --images), added to "
        "WorkforceReferenceLabels before the run starts",
    )
    sub.add_argument("-q", "--quiet", action="store_true", help="print only the run id")
    sub.epilog = (
        "On the local cloud nobody labels: simulated labelers answer from reference answers. Images of "
        "your own that are unlabeled need them (--reference-answers FILE): without them, ground-truth "
        "labeling fails the run, and builtin labeling releases their tasks and leaves the job open for "
        "its lifetime (10 days by default). A labeled (augmented) manifest needs none."
    )
    follow_options(sub)


def doctor_options(sub: argparse.ArgumentParser) -> None:
    """Options of ``doctor``: where the context comes from, as for ``cdk deploy``."""
    sub.add_argument(
        "--cdk-json",
        type=Path,
        default=Path("cdk.json"),
        help="the app's cdk.json, whose context configures the stacks (default ./cdk.json)",
    )
    sub.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="context override as for cdk deploy -c (repeatable), e.g. -c gtpipe:training='{...}'",
    )


def follow_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``follow`` (and ``submit --follow``)."""
    parser.add_argument(
        "--timeout", type=float, default=math.inf, help="stop following after this many seconds (exit 4)"
    )
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between polls (default 2)")
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for the run to appear in the ledger before calling it unknown (default 60)",
    )


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def confidence(text: str) -> float:
    """argparse type: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text!r}")
    return value


def options_of(args: argparse.Namespace) -> TargetOptions:
    """The target options from parsed arguments."""
    return TargetOptions(
        local=bool(args.local),
        state_dir=Path(args.state_dir),
        stack_prefix=str(args.stack_prefix),
        region=args.region,
        profile=args.profile,
        api_key=getattr(args, "api_key", None),
    )


def lazy_target(args: argparse.Namespace) -> Any:
    """A stand-in whose ``client`` resolves the target on first use."""

    class Lazy:
        def client(self, name: str) -> Any:
            return resolve_target(options_of(args)).client(name)

    return Lazy()


def check_run_id(run_id: str) -> None:
    """CliError (unknown run) for text that cannot be a run id."""
    if not is_run_id(run_id):
        raise CliError(
            f"{run_id!r} is not a run id (<manifest name>-<16 hex digits>; see gtpipe runs)", Exit.UNKNOWN_RUN
        )


# -- commands ------------------------------------------------------------------------------------------


def cmd_submit(args: argparse.Namespace, target: Target, out: TextIO) -> int:
    """``gtpipe submit``."""
    manifest, converted, images = Path(args.manifest), None, args.images
    if is_dataset(args):  # images/<dataset name>/ unless --images-name says otherwise
        manifest, converted, images = convert_dataset(args)
    done = submit(
        target.client("s3"),
        target.bucket,
        target.incoming_prefix,
        manifest,
        images=images,
        name=args.images_name or (manifest.stem if converted is not None else None),
        key=args.key,
        reference_answers=args.reference_answers,
        reference_labels=target.reference_labels,
        converted=converted,
    )
    flags = f" {target.hint_flags}" if target.hint_flags else ""
    warnings = [f"warning: {warning}" for warning in done.warnings]
    if done.unanswered:
        warnings.append(
            f"warning: {done.unanswered} image(s) of this unlabeled manifest have no reference answer in "
            f"{target.reference_labels}: the local cloud's simulated labelers cannot label them (ground-truth "
            "labeling fails the run; builtin labeling leaves the job open): pass --reference-answers FILE"
        )
    # Warnings go to stderr with -q (stdout is only the run id).
    (sys.stderr if args.quiet else out).write("".join(f"{line}\n" for line in warnings))
    if args.quiet:
        out.write(done.run_id + "\n")
    else:
        if done.references_added:
            out.write(f"added {done.references_added} reference answers to {target.reference_labels}\n")
        if done.images_uploaded:
            out.write(f"uploaded {done.images_uploaded} images to s3://{done.bucket}/{done.images_prefix}\n")
        if converted is not None:
            count = converted.count(b"\n")
            out.write(
                f"converted {args.manifest} to a labeled manifest of {count} images (labeling is skipped)\n"
            )
        elif done.refs_rewritten:
            out.write(
                f"pointed {done.refs_rewritten} source-refs at the uploaded images "
                f"(in the uploaded copy; {args.manifest} is unchanged)\n"
            )
        version = f" (version {done.version_id})" if done.version_id else ""
        out.write(f"dropped {done.manifest_uri}{version}\n")
        out.write(f"run {done.run_id}\n")
        if not args.follow:
            out.write(f"follow it: gtpipe follow {done.run_id}{flags}\n")
    out.flush()
    if args.follow:
        return follow(target, done.run_id, args, out)
    return Exit.OK


def cmd_runs(args: argparse.Namespace, target: Target, out: TextIO) -> int:
    """``gtpipe runs``."""
    dynamodb = target.client("dynamodb")
    runs = recent_runs(dynamodb, target.runs_table, args.limit)
    if args.json:
        out.write(json.dumps(runs, indent=2, default=str) + "\n")
        return Exit.OK
    if not runs:
        out.write(f"no runs yet in {target.runs_table}: start one with gtpipe submit MANIFEST\n")
        return Exit.OK
    current = serving(dynamodb, target.runs_table)
    out.write(runs_table(runs, (current or {}).get("source_run_id")) + "\n")
    return Exit.OK


OUTCOMES = {"SUCCEEDED": Exit.OK, "FAILED": Exit.RUN_FAILED, "REJECTED": Exit.RUN_REJECTED}


def outcome(progress: RunProgress) -> Exit:
    """The exit code of a followed run."""
    if not progress.finished:
        if progress.execution_status not in (None, "RUNNING"):
            return Exit.RUN_REJECTED  # the execution ended but the ledger never recorded an outcome
        return Exit.NOT_YET
    return OUTCOMES.get(str(progress.run_status), Exit.RUN_REJECTED)


def follow(target: Target, run_id: str, args: argparse.Namespace, out: TextIO) -> int:
    """Follow one run to its end; print the outcome; the exit code says it."""
    check_run_id(run_id)
    sfn = target.client("stepfunctions")
    try:
        ranks: dict[str, int] | None = definition_ranks(sfn, target.state_machine_arn)
    except ClientError:
        ranks = None  # no states:DescribeStateMachine: follow without the bar's percentage
    display = FollowDisplay(out)
    progress = follow_run(
        target.client("dynamodb"),
        sfn,
        target.runs_table,
        None,
        None,
        run_id=run_id,
        timeout=args.timeout,
        interval=args.interval,
        start_timeout=args.start_timeout,
        ranks=ranks,
        on_progress=display.update,
        settle=30.0,
        notes=local_notes(target),
    )
    display.done()
    if progress.run is None:
        raise CliError(
            f"unknown run {run_id}: not in the runs ledger {target.runs_table} ({target.description}) "
            f"after {args.start_timeout:g}s",
            Exit.UNKNOWN_RUN,
        )
    run = progress.run
    code = outcome(progress)
    took = duration(progress.run_seconds())
    if code == Exit.NOT_YET:
        out.write(
            f"run {run_id} is still {progress.run_status} after following for {duration(progress.elapsed)}\n"
        )
    elif progress.run_status == "FAILED":
        failure = run.get("failure") or {}
        if failure:
            out.write(
                f"run {run_id} FAILED after {took} at {failure.get('step')}: {failure.get('error')}: {failure.get('cause')}\n"
            )
        else:
            errors = run.get("errors") or []
            out.write(f"run {run_id} FAILED: {'; '.join(map(str, errors[:5])) or 'no reason recorded'}\n")
    elif not progress.finished:
        out.write(
            f"run {run_id}: execution {progress.execution_status}, the ledger still says {progress.run_status}\n"
        )
    else:
        metric = metric_text(run.get("metrics"))
        out.write(
            f"run {run_id} {progress.run_status} after {took}" + (f": {metric}" if metric else "") + "\n"
        )
    if run.get("report_uri"):
        flags = f" {target.hint_flags}" if target.hint_flags else ""
        out.write(f"report: gtpipe report {run_id}{flags} --open  ({run['report_uri']})\n")
    return code


def local_notes(target: Target) -> Callable[[str | None], list[str]] | None:
    """Local cloud: what its simulated labelers could not answer, for the progress line."""
    references = target.reference_labels
    if references is None:
        return None
    return lambda run_id: unanswered_notes(references, run_id)


def cmd_follow(args: argparse.Namespace, target: Target, out: TextIO) -> int:
    """``gtpipe follow``."""
    return follow(target, args.run, args, out)


def cmd_report(args: argparse.Namespace, target: Target, out: TextIO) -> int:
    """``gtpipe report``."""
    check_run_id(args.run)
    folder = args.out or DEFAULT_REPORTS_DIR / args.run
    report = download_report(target.client("s3"), target.bucket, args.run, folder)
    if report is None:
        run = get_run(target.client("dynamodb"), target.runs_table, args.run)
        if run is None:
            raise CliError(
                f"unknown run {args.run}: not in the runs ledger {target.runs_table}", Exit.UNKNOWN_RUN
            )
        raise no_report(args.run, run, f"s3://{target.bucket}/reports/{args.run}/")
    index = report.index
    out.write(f"report {report.uri} -> {folder}/ ({len(report.files)} files)\n")
    if index is None:
        out.write(f"the report has no index.html; its files are in {folder}\n")
        return Exit.OK
    out.write(f"{index.resolve()}\n")
    if args.open:
        webbrowser.open(index.resolve().as_uri())
    return Exit.OK


UNREPORTED_STEPS = frozenset({"validate", "costguard", "labeling"})
"""Failures at these steps come before training: the pipeline writes no report for them (nothing to report
on); runs that fail later, are rejected or succeed get one."""


def no_report(run_id: str, run: dict[str, Any], where: str) -> CliError:
    """Why a run in the ledger has no report under ``where``: not yet (exit 4), or never (exit 1)."""
    status = str(run.get("status"))
    if status not in ("FAILED", "SUCCEEDED", "REJECTED"):
        return CliError(
            f"run {run_id} ({status}) has no report yet under {where}: it is written when the run ends",
            Exit.NOT_YET,
        )
    report_error = run.get("report_error")
    if isinstance(report_error, dict) and report_error:
        return CliError(
            f"run {run_id} ended {status} but its report failed ({report_error.get('error')}: "
            f"{report_error.get('cause')}): there will be no report",
            Exit.RUN_FAILED,
        )
    failure = run.get("failure") or {}
    if status == "FAILED" and (not failure or failure.get("step") in UNREPORTED_STEPS):
        errors = "; ".join(map(str, (run.get("errors") or [])[:1])) or "no reason recorded"
        where_failed = (
            f"at {failure.get('step')} ({failure.get('error')})"
            if failure
            else f"validating its manifest ({errors})"
        )
        return CliError(
            f"run {run_id} FAILED {where_failed} before training: there will be no report (reports are "
            f"written for runs that get past labeling); see gtpipe follow {run_id}",
            Exit.RUN_FAILED,
        )
    return CliError(f"run {run_id} ended {status} without a report under {where}", Exit.RUN_FAILED)


COMMANDS = {
    "submit": cmd_submit,
    "runs": cmd_runs,
    "follow": cmd_follow,
    "report": cmd_report,
    "export": cmd_export,
    "predict": cmd_predict,
    **REGISTRY_COMMANDS,
}


def aws_error(error: ClientError) -> CliError:
    """One line for an AWS API error."""
    details = error.response.get("Error", {})
    code = str(details.get("Code", "Error"))
    operation = getattr(error, "operation_name", "the call")
    if code in EXPIRED_TOKEN_CODES:
        return CliError(
            f"AWS rejected the credentials ({code}): refresh them or pass --profile", Exit.NO_CREDENTIALS
        )
    return CliError(f"{operation} failed: {code}: {details.get('Message', '')}".rstrip(": "), Exit.AWS_ERROR)


def main(
    argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run ``gtpipe`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code (module docstring)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = build_parser()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exit_:  # --help (0) and usage errors (64)
        return int(exit_.code or 0)
    try:
        if args.command == "doctor":  # before a deploy: no stacks to resolve
            return int(doctor(options_of(args), out, cdk_json=args.cdk_json, context=args.context))
        if args.command == "export" and is_local_source(args.source) and not args.local:
            # A local manifest needs no stack; a target is resolved only if its images are on S3.
            return int(cmd_export(args, lazy_target(args), out))
        target = resolve_target(options_of(args))
        return int(COMMANDS[args.command](args, target, out))
    except CliError as error:
        failure = error
    except (NoCredentialsError, PartialCredentialsError):
        from gtpipe_cli.target import no_credentials

        failure = no_credentials()
    except EndpointConnectionError as error:
        where = error.kwargs.get("endpoint_url")
        hint = (
            "the local cloud is not running (stale outputs.json?): run `make local-up`"
            if args.local
            else "check --region and the network"
        )
        failure = CliError(f"cannot reach {where}: {hint}", Exit.UNAVAILABLE)
    except ClientError as error:
        failure = aws_error(error)
    except KeyboardInterrupt:
        out.write("\n")
        return 130
    out.flush()
    err.write(f"gtpipe: {failure.message}\n")
    err.flush()
    return int(failure.code)


if __name__ == "__main__":
    sys.exit(main())
