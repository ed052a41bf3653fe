"""``gtpipe predict``: send local images to the stack's prediction API, one JSON line per image."""

from __future__ import annotations

import argparse
import json
import ssl
import urllib.error
from pathlib import Path
from typing import Any, TextIO

from gtpipe_cli.api import PredictionClient
from gtpipe_cli.errors import CliError, Exit
from gtpipe_cli.target import Target
from gtpipe_cli.waking import predict_awake


def cmd_predict(args: argparse.Namespace, target: Target, out: TextIO) -> int:
    """``gtpipe predict``."""
    missing = [str(path) for path in args.images if not path.is_file()]
    if missing:
        raise CliError(f"image not found: {', '.join(missing)}", Exit.INPUT_MISSING)
    if target.ca_path and not Path(target.ca_path).is_file():
        raise CliError(
            f"the local cloud's TLS CA {target.ca_path} is missing: restart it (make local-up)",
            Exit.UNAVAILABLE,
        )
    api_key = target.api_key()
    client = PredictionClient(
        target.api_url,
        region=target.region,
        credentials=None if api_key else target.credentials(),
        api_key=api_key,
        ca_path=target.ca_path,
        timeout=args.timeout,
    )
    query = {"min_confidence": f"{args.min_confidence:g}"} if args.min_confidence is not None else None
    refused = False
    for path in args.images:
        data = path.read_bytes()
        try:
            # Over the binary route's limit: through POST /uploads and S3; a parked endpoint: waited for.
            response = predict_awake(client, data, path, query, args.wake_timeout, use_async=args.use_async)
        except (urllib.error.URLError, ssl.SSLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CliError(f"cannot reach the API at {client.url}: {reason}", Exit.UNAVAILABLE) from None
        answer: Any = response.answer()
        if response.status == 503 and isinstance(answer, dict) and answer.get("code") == "NoModel":
            raise CliError(
                f"no model is deployed yet ({client.url} answered 503 NoModel): a run must succeed first "
                "(see gtpipe runs)",
                Exit.NO_MODEL,
            )
        refused = refused or response.status != 200
        out.write(json.dumps({"image": str(path), "status": response.status, "answer": answer}) + "\n")
        out.flush()
    return Exit.REFUSED if refused else Exit.OK
