"""labeling_web: the labeling web app (API Gateway REST proxy, no authorizer).

``GET /`` answers index.html, ``GET /app/<name>`` the app's scripts and styles (whitelisted names from the
bundled ``static/`` folder), ``GET /config.json`` where the app signs in (``USER_POOL_ID``,
``USER_POOL_CLIENT_ID``, ``COGNITO_ENDPOINT``, ``AWS_REGION``), ``GET /app/tasks.json`` what the app shows
and does per task type (the task registry's title and ``boxes``). Everything else is a 404 JSON answer.
Every answer carries a strict Content-Security-Policy, HSTS, nosniff and no-referrer (see ``pages``).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from labeling_web.pages import Request, SiteConfigError, SiteSettings, StaticFile, error, load_files, route

logger = Logger()
_files: dict[str, StaticFile] = {}


def files() -> dict[str, StaticFile]:
    """The bundled files, read on first use and kept for the container's life."""
    if not _files:
        _files.update(load_files())
    return _files


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway proxy event -> proxy response; never raises (no stack traces reach browsers)."""
    try:
        settings = SiteSettings.from_env(dict(os.environ))
    except SiteConfigError as exc:
        logger.error("configuration error", extra={"error": str(exc)})
        return error(500, "ConfigurationError", "the labeling app is misconfigured", None)
    try:
        if not isinstance(event, dict):
            return error(400, "InvalidRequest", "not an API Gateway proxy event", settings)
        return route(Request.from_event(event), files(), settings)
    except Exception:
        logger.exception("unexpected error")
        return error(500, "InternalError", "internal error", settings)
