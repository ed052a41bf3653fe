"""The labeling web app's routes, files and security headers: plain functions, no AWS calls.

The app is four kinds of answer: ``GET /`` (index.html), ``GET /app/<name>`` (a whitelisted file bundled in
``static/``), ``GET /config.json`` (where the app signs in) and ``GET /app/tasks.json`` (what the app needs
to know per task type, from the task registry :mod:`gtpipe_shared.tasks`: the page names no task type; it
is under ``app/`` because the API's routes are fixed at synth: ``/``, ``/config.json``, ``/app/{file+}``). Every answer carries the same security
headers; the Content-Security-Policy allows scripts and styles from the app's own origin only, network
calls to the app's origin (the labeling API, relative ``api/...``) and to Cognito, and images from any
HTTPS origin (presigned S3 URLs) plus, on the local cloud, the local endpoint's origin.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gtpipe_shared.tasks import TASKS

STATIC_DIR = Path(__file__).resolve().parent / "static"
INDEX_FILE = "index.html"
# The files `GET /app/<name>` serves, by exact name: nothing else in (or outside) static/ is reachable.
APP_FILES = (
    "app.js",
    "state.js",
    "view.js",
    "stage.js",
    "labeling.js",
    "staging.js",
    "history.js",
    "signin.js",
    "auth.js",
    "api.js",
    "boxes.js",
    "boxlist.js",
    "shortcuts.js",
    "review.js",
    "review_boxes.js",
    "suggestion.js",
    "app.css",
)
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
}
HSTS = "max-age=63072000; includeSubDomains"
NO_STORE = "no-store"
# `GET /app/tasks.json`: the task kinds, written from the task registry (no file: nothing to keep in step).
TASKS_FILE = "tasks.json"
# App files are not content-hashed, so browsers revalidate (ETag) instead of trusting a stale copy.
REVALIDATE = "no-cache"


class SiteConfigError(ValueError):
    """The function's environment does not say where the app signs in."""


@dataclass(frozen=True)
class SiteSettings:
    """Where the app signs in, and which extra image origin the local cloud needs."""

    region: str
    user_pool_id: str
    client_id: str
    cognito_endpoint: str
    image_origin: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str]) -> SiteSettings:
        """Settings from ``USER_POOL_ID``, ``USER_POOL_CLIENT_ID``, ``COGNITO_ENDPOINT``, ``AWS_REGION``
        and (local cloud only) ``AWS_ENDPOINT_URL``; SiteConfigError naming what is missing or malformed."""
        names = ("USER_POOL_ID", "USER_POOL_CLIENT_ID", "COGNITO_ENDPOINT", "AWS_REGION")
        values = {name: env.get(name, "").strip() for name in names}
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise SiteConfigError(f"environment variable(s) {', '.join(missing)} not set")
        origin(values["COGNITO_ENDPOINT"], "COGNITO_ENDPOINT")  # validates it
        local = env.get("AWS_ENDPOINT_URL", "").strip()
        return cls(
            region=values["AWS_REGION"],
            user_pool_id=values["USER_POOL_ID"],
            client_id=values["USER_POOL_CLIENT_ID"],
            cognito_endpoint=values["COGNITO_ENDPOINT"],
            image_origin=origin(local, "AWS_ENDPOINT_URL") if local else None,
        )

    def client_config(self) -> dict[str, str]:
        """The body of ``GET /config.json``."""
        return {
            "region": self.region,
            "userPoolId": self.user_pool_id,
            "clientId": self.client_id,
            "cognitoEndpoint": self.cognito_endpoint,
        }


def origin(url: str, name: str) -> str:
    """``scheme://host[:port]`` of an http(s) URL; SiteConfigError naming the variable otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or any(c in url for c in " ;,'\""):
        raise SiteConfigError(f"{name} must be an http(s) URL, got {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: SiteSettings) -> str:
    """A strict policy: no inline script, own-origin code, Cognito and the API for calls, no framing."""
    images = ["'self'", "data:", "blob:", "https:"]
    if settings.image_origin and settings.image_origin not in images:
        images.append(settings.image_origin)
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src {' '.join(images)}",
        f"connect-src 'self' {origin(settings.cognito_endpoint, 'COGNITO_ENDPOINT')}",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


def security_headers(settings: SiteSettings | None) -> dict[str, str]:
    """The headers on every answer (without settings, e.g. on a misconfiguration, nothing may load)."""
    policy = content_security_policy(settings) if settings else "default-src 'none'; frame-ancestors 'none'"
    return {
        "Content-Security-Policy": policy,
        "Strict-Transport-Security": HSTS,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }


@dataclass(frozen=True)
class StaticFile:
    """A bundled file with its content type and entity tag."""

    name: str
    body: str
    content_type: str
    etag: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha256(self.body.encode()).hexdigest()[:32]
        object.__setattr__(self, "etag", f'"{digest}"')


def load_files(static_dir: Path = STATIC_DIR) -> dict[str, StaticFile]:
    """index.html and the whitelisted app files, read once; FileNotFoundError when one is missing."""
    files = {}
    for name in (INDEX_FILE, *APP_FILES):
        path = static_dir / name
        files[name] = StaticFile(name, path.read_text(encoding="utf-8"), CONTENT_TYPES[path.suffix])
    return files


@dataclass(frozen=True)
class Request:
    """What routing needs from an API Gateway REST proxy event."""

    method: str
    path: str
    stage_path: str
    if_none_match: str | None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Request:
        """The method, the path below the stage, the full request path and ``If-None-Match``."""
        headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
        path = event.get("path") if isinstance(event.get("path"), str) else "/"
        context = event.get("requestContext") or {}
        stage_path = context.get("path") if isinstance(context.get("path"), str) else path
        etag = headers.get("if-none-match")
        return cls(
            method=str(event.get("httpMethod") or "GET").upper(),
            path=path or "/",
            stage_path=stage_path or path or "/",
            if_none_match=etag if isinstance(etag, str) else None,
        )


def response(
    status: int,
    body: str,
    content_type: str,
    settings: SiteSettings | None,
    *,
    cache: str = NO_STORE,
    extra: dict[str, str] | None = None,
    head: bool = False,
) -> dict[str, Any]:
    """A proxy-integration answer with the security headers."""
    headers = {
        "Content-Type": content_type,
        "Cache-Control": cache,
        **security_headers(settings),
        **(extra or {}),
    }
    return {"statusCode": status, "headers": headers, "body": "" if head else body, "isBase64Encoded": False}


def error(status: int, code: str, message: str, settings: SiteSettings | None, **kw: Any) -> dict[str, Any]:
    """``{"error": code, "message": message}`` (the labeling service's error shape)."""
    body = json.dumps({"error": code, "message": message})
    return response(status, body, CONTENT_TYPES[".json"], settings, **kw)


def serve_file(request: Request, file: StaticFile, settings: SiteSettings) -> dict[str, Any]:
    """A bundled file, or 304 when the browser's copy is current."""
    extra = {"ETag": file.etag}
    head = request.method == "HEAD"
    if request.if_none_match and file.etag in [tag.strip() for tag in request.if_none_match.split(",")]:
        return response(304, "", file.content_type, settings, cache=REVALIDATE, extra=extra, head=True)
    return response(200, file.body, file.content_type, settings, cache=REVALIDATE, extra=extra, head=head)


def task_kinds() -> dict[str, dict[str, Any]]:
    """The body of ``GET /app/tasks.json``: task type -> ``{"title", "boxes"}`` (:class:`TaskSpec` fields), for
    every registered task type."""
    return {spec.value: {"title": spec.title, "boxes": spec.boxes} for spec in TASKS.values()}


def route(request: Request, files: dict[str, StaticFile], settings: SiteSettings) -> dict[str, Any]:
    """The answer to one request."""
    if request.method not in ("GET", "HEAD"):
        return error(
            405,
            "MethodNotAllowed",
            f"{request.method} is not allowed here",
            settings,
            extra={"Allow": "GET, HEAD"},
        )
    path = request.path
    if path in ("/", ""):
        if not request.stage_path.endswith("/"):
            # The app's URLs are relative (app/..., api/..., config.json): they need the trailing slash.
            return response(301, "", "text/plain", settings, extra={"Location": request.stage_path + "/"})
        return serve_file(request, files[INDEX_FILE], settings)
    if path == "/config.json":
        body = json.dumps(settings.client_config())
        return response(200, body, CONTENT_TYPES[".json"], settings, head=request.method == "HEAD")
    if path.startswith("/app/"):
        name = path[len("/app/") :]
        if name == TASKS_FILE:
            body = json.dumps(task_kinds())
            return response(200, body, CONTENT_TYPES[".json"], settings, head=request.method == "HEAD")
        # Exact names only: "../", encoded separators and sub-folders never match the whitelist.
        if name in APP_FILES:
            return serve_file(request, files[name], settings)
        return error(404, "NotFound", "no such app file", settings)
    return error(404, "NotFound", "no such page", settings)
