"""labeling_web: the static labeling app, its settings and its security headers (API Gateway proxy events)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from labeling_web import handler
from labeling_web.pages import APP_FILES, INDEX_FILE, STATIC_DIR, SiteConfigError, SiteSettings

from tests.lambdas.conftest import FakeContext, load_event

ENV = {
    "USER_POOL_ID": "us-east-1_AbCdEf123",
    "USER_POOL_CLIENT_ID": "4f1kq2example0client0id",
    "COGNITO_ENDPOINT": "https://cognito-idp.us-east-1.amazonaws.com/",
    "AWS_REGION": "us-east-1",
}
SECURITY_HEADERS = (
    "Content-Security-Policy",
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cache-Control",
)


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    yield


def call(event: Any) -> dict[str, Any]:
    return handler.lambda_handler(event, FakeContext())  # type: ignore[arg-type]


def app_file_event(name: str) -> dict[str, Any]:
    event = load_event("apigw_labeling_web_app_file.json")
    event["path"] = f"/app/{name}"
    event["pathParameters"] = {"file": name}
    event["requestContext"]["path"] = f"/prod/app/{name}"
    return event


def csp(response: dict[str, Any]) -> dict[str, list[str]]:
    policy = response["headers"]["Content-Security-Policy"]
    directives = [part.strip().split() for part in policy.split(";") if part.strip()]
    return {words[0]: words[1:] for words in directives}


def test_root_serves_the_index_page_with_security_headers() -> None:
    response = call(load_event("apigw_labeling_web_index.json"))

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert response["body"] == (STATIC_DIR / INDEX_FILE).read_text()
    for name in SECURITY_HEADERS:
        assert response["headers"][name]
    assert response["headers"]["X-Content-Type-Options"] == "nosniff"
    assert response["headers"]["Referrer-Policy"] == "no-referrer"
    assert response["headers"]["Strict-Transport-Security"].startswith("max-age=")
    assert int(re.findall(r"max-age=(\d+)", response["headers"]["Strict-Transport-Security"])[0]) >= 31536000


def test_the_policy_allows_own_code_cognito_calls_and_https_images_only() -> None:
    directives = csp(call(load_event("apigw_labeling_web_index.json")))

    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["connect-src"] == ["'self'", "https://cognito-idp.us-east-1.amazonaws.com"]
    assert directives["img-src"] == ["'self'", "data:", "blob:", "https:"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]


def test_on_the_local_cloud_images_may_also_come_from_the_local_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setenv("COGNITO_ENDPOINT", "https://127.0.0.1:8443/cognito-idp/")

    directives = csp(call(load_event("apigw_labeling_web_index.json")))

    assert "http://127.0.0.1:4566" in directives["img-src"]
    assert directives["connect-src"] == ["'self'", "https://127.0.0.1:8443"]


def test_the_index_page_has_no_inline_script_and_loads_only_bundled_files() -> None:
    html = call(load_event("apigw_labeling_web_index.json"))["body"]

    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts, "the page loads its script"
    for attributes, content in scripts:
        assert content.strip() == "", "inline scripts are blocked by the policy"
        assert 'src="app/' in attributes
    references = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert references
    for reference in references:
        if reference == "data:,":
            continue  # the empty icon: no favicon request
        assert reference.startswith("app/") and reference[len("app/") :] in APP_FILES, reference
    assert not re.search(r"\son[a-z]+=", html), "inline event handlers are blocked by the policy"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("app.js", "text/javascript; charset=utf-8"), ("app.css", "text/css; charset=utf-8")],
)
def test_app_files_are_served_with_their_content_type(name: str, content_type: str) -> None:
    response = call(app_file_event(name))

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == content_type
    assert response["body"] == (STATIC_DIR / name).read_text()
    assert response["headers"]["ETag"]
    assert response["headers"]["Cache-Control"] == "no-cache"


def test_every_module_the_app_imports_is_served() -> None:
    for name in [n for n in APP_FILES if n.endswith(".js")]:
        source = (STATIC_DIR / name).read_text()
        for imported in re.findall(r"""from\s+["']\./([^"']+)["']""", source):
            assert call(app_file_event(imported))["statusCode"] == 200, f"{name} imports {imported}"


def test_a_current_copy_is_answered_304_without_body() -> None:
    first = call(app_file_event("app.js"))
    event = app_file_event("app.js")
    event["headers"]["If-None-Match"] = first["headers"]["ETag"]

    second = call(event)

    assert second["statusCode"] == 304
    assert second["body"] == ""
    assert second["headers"]["Content-Security-Policy"]


@pytest.mark.parametrize(
    "name",
    [
        "../handler.py",
        "..%2Fhandler.py",
        "../../labeling_web/handler.py",
        "index.html/../app.js",
        "/etc/passwd",
        "app.js/",
        "APP.JS",
        "pages.py",
        "static/app.js",
        "",
    ],
)
def test_other_app_paths_are_404_json_without_file_contents(name: str) -> None:
    response = call(app_file_event(name))

    assert response["statusCode"] == 404
    assert response["headers"]["Content-Type"] == "application/json"
    assert json.loads(response["body"]) == {"error": "NotFound", "message": "no such app file"}
    assert response["headers"]["Content-Security-Policy"]


@pytest.mark.parametrize(
    "path", ["/index.html", "/api", "/app", "/static/app.js", "/handler.py", "/favicon.ico"]
)
def test_unknown_pages_are_404_json(path: str) -> None:
    event = load_event("apigw_labeling_web_index.json")
    event["path"] = path
    event["requestContext"]["path"] = "/prod" + path

    response = call(event)

    assert response["statusCode"] == 404
    assert json.loads(response["body"])["error"] == "NotFound"


def test_config_tells_the_app_where_to_sign_in() -> None:
    response = call(load_event("apigw_labeling_web_config.json"))

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert response["headers"]["Cache-Control"] == "no-store"
    assert json.loads(response["body"]) == {
        "region": "us-east-1",
        "userPoolId": "us-east-1_AbCdEf123",
        "clientId": "4f1kq2example0client0id",
        "cognitoEndpoint": "https://cognito-idp.us-east-1.amazonaws.com/",
    }


def test_the_stage_root_without_slash_redirects_so_relative_urls_resolve() -> None:
    event = load_event("apigw_labeling_web_index.json")
    event["requestContext"]["path"] = "/prod"

    response = call(event)

    assert response["statusCode"] == 301
    assert response["headers"]["Location"] == "/prod/"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_only_reads_are_allowed(method: str) -> None:
    event = load_event("apigw_labeling_web_config.json")
    event["httpMethod"] = method

    response = call(event)

    assert response["statusCode"] == 405
    assert response["headers"]["Allow"] == "GET, HEAD"


def test_head_answers_headers_without_body() -> None:
    event = app_file_event("app.css")
    event["httpMethod"] = "HEAD"

    response = call(event)

    assert response["statusCode"] == 200
    assert response["body"] == ""
    assert response["headers"]["Content-Type"] == "text/css; charset=utf-8"


@pytest.mark.parametrize("missing", ["USER_POOL_ID", "USER_POOL_CLIENT_ID", "COGNITO_ENDPOINT", "AWS_REGION"])
def test_a_missing_setting_is_a_500_that_names_no_internals(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.delenv(missing)

    response = call(load_event("apigw_labeling_web_index.json"))

    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == {
        "error": "ConfigurationError",
        "message": "the labeling app is misconfigured",
    }
    assert "default-src 'none'" in response["headers"]["Content-Security-Policy"]


@pytest.mark.parametrize("missing", ["USER_POOL_ID", "COGNITO_ENDPOINT"])
def test_settings_name_the_missing_variable(missing: str) -> None:
    env = {name: value for name, value in ENV.items() if name != missing}

    with pytest.raises(SiteConfigError, match=missing):
        SiteSettings.from_env(env)


@pytest.mark.parametrize(
    "endpoint", ["cognito-idp.us-east-1.amazonaws.com", "ftp://x/", "https://a b/", "https://x;y/"]
)
def test_a_malformed_cognito_endpoint_is_refused(endpoint: str) -> None:
    with pytest.raises(SiteConfigError, match="COGNITO_ENDPOINT"):
        SiteSettings.from_env({**ENV, "COGNITO_ENDPOINT": endpoint})


def test_not_an_event_is_a_400() -> None:
    response = call("nonsense")

    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"] == "InvalidRequest"


def test_every_bundled_file_is_served_and_nothing_else_is_bundled() -> None:
    bundled = {path.name for path in STATIC_DIR.iterdir() if path.is_file()}

    assert bundled == {INDEX_FILE, *APP_FILES}, (
        "a file in static/ that no route serves (or a route without file)"
    )
