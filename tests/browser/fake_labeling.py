"""The labeling web app in Chromium against a fake labeling service: fast, deterministic page tests.

The page, its modules and ``app/tasks.json`` are served by the labeling_web function's own routing
(:func:`labeling_web.pages.route`, with its Content-Security-Policy); ``api/...`` is answered by
:class:`FakeService`, which keeps the real service's answer rule (one answer per lease, never taken back:
a second answer on the same lease is a 409) and records every answer it stored; images are PNGs drawn
here. The signed-in session is put in sessionStorage before the page loads, as a sign-in leaves it.
The full flow against the local cloud is ``tests/browser/test_labeling_ui.py``.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from labeling_web.pages import Request, SiteSettings, load_files, route
from PIL import Image

from tests.browser.chromium import launch, require_browser

APP = "https://labeling.test/prod/"
IMAGES = "https://images.test/"
VIEWPORT = {"width": 1280, "height": 900}
SETTINGS = SiteSettings("us-east-1", "us-east-1_pool", "client", "https://cognito.test")
SESSION = {
    "idToken": "header.e30.signature",
    "refreshToken": None,
    "expiresAt": 4_000_000_000,
    "username": "labeler@example.com",
    "email": "labeler@example.com",
    "groups": ["labelers"],
}
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def png(width: int, height: int) -> bytes:
    """A ``width`` x ``height`` PNG: a grey field with a dark frame, so its edges show."""
    image = Image.new("RGB", (width, height), (200, 200, 200))
    image.paste((40, 40, 40), (0, 0, width, 4))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@dataclass
class FakeService:
    """One open job of ``objects`` images of ``size``; answers are checked as the service checks them."""

    task_type: str
    class_names: list[str]
    objects: int = 3
    size: tuple[int, int] = (1600, 1200)
    hotkeys: dict[str, str] | None = None
    suggestions: dict[int, dict[str, Any]] = field(default_factory=dict)  # index -> the model's suggestion
    leases: dict[int, str] = field(default_factory=dict)  # index -> the lease id held
    answers: list[dict[str, Any]] = field(default_factory=list)  # every answer stored, in order
    seconds: list[Any] = field(default_factory=list)  # each stored answer's reported seconds, in order

    def job(self) -> dict[str, Any]:
        job = {
            "job_name": "job-1",
            "run_id": "run-1",
            "task_type": self.task_type,
            "title": "Label the images",
            "instructions": "Label each image.",
            "class_names": self.class_names,
            "object_count": self.objects,
            "objects_done": len(self.answers),
            "my_answers": len(self.answers),
            "expires_at": int(time.time()) + 3600,
        }
        return {**job, "hotkeys": self.hotkeys} if self.hotkeys is not None else job

    def progress(self) -> dict[str, Any]:
        done = len(self.answers)
        return {"objects": self.objects, "objects_done": done, "my_answers": done}

    def answer(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The fake API's answer to ``method path`` (below ``api/``)."""
        parts = path.strip("/").split("/")
        if parts == ["jobs"]:
            return 200, {"jobs": [self.job()]}
        if parts[-1] == "lease":
            answered = {a["index"] for a in self.answers}
            free = [i for i in range(self.objects) if i not in answered]
            if not free:
                return 200, {"task": None, "reason": "all answered"}
            index = free[0]
            self.leases[index] = self.leases.get(index) or uuid.uuid4().hex
            task = {
                "job_name": "job-1",
                "index": index,
                "lease_id": self.leases[index],
                "lease_expires_at": int(time.time()) + 300,
                "lease_seconds_left": 300,
                "task_type": self.task_type,
                "class_names": self.class_names,
                "image_url": f"{IMAGES}{index}.png",
                "source_ref": f"s3://bucket/{index}.png",
            }
            if index in self.suggestions:  # pre-annotation, as the service hands it out
                task["suggestion"] = self.suggestions[index]
            return 200, {"task": task}
        index, action = int(parts[3]), parts[4]
        if self.leases.get(index) != body.get("lease_id"):
            return 409, {"error": "LeaseNotHeld", "message": "lease not held"}
        del self.leases[index]
        if action == "answer":
            self.answers.append({"index": index, "answer": body["answer"]})
            self.seconds.append(body.get("seconds"))
            return 200, {"progress": self.progress()}
        return 200, {"released": True}


@dataclass
class Browser:
    page: Any
    service: FakeService
    problems: list[str]


def _fulfil(route_: Any, service: FakeService, files: dict[str, Any]) -> None:
    request = route_.request
    url = urlsplit(request.url)
    if request.url.startswith(IMAGES):
        route_.fulfill(status=200, body=png(*service.size), headers={"Content-Type": "image/png"})
        return
    path = url.path[len("/prod") :]
    if path.startswith("/api/"):
        body = json.loads(request.post_data or "{}") if request.method == "POST" else {}
        status, data = service.answer(request.method, path[len("/api/") :], body)
        route_.fulfill(status=status, body=json.dumps(data), headers={"Content-Type": "application/json"})
        return
    event = {"httpMethod": request.method, "path": path or "/", "requestContext": {"path": url.path}}
    answer = route(Request.from_event(event), files, SETTINGS)
    route_.fulfill(status=answer["statusCode"], body=answer["body"], headers=answer["headers"])


@contextmanager
def app_in_browser(service: FakeService) -> Iterator[Browser]:
    """Chromium at 1280x900 on the app, signed in, with the job's first task shown."""
    files = load_files()
    problems: list[str] = []
    with require_browser()() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_context(viewport=VIEWPORT).new_page()
            page.on(
                "console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type == "error" else None
            )
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.route("**/*", lambda route_: _fulfil(route_, service, files))
            page.add_init_script(
                f"if (location.href.startsWith({json.dumps(APP)})) "
                f"sessionStorage.setItem('gtpipe.labeling.session', {json.dumps(json.dumps(SESSION))});"
            )
            page.goto(APP)
            page.click('[data-job="job-1"]')
            page.wait_for_function("() => document.querySelector('#task-image').dataset.ready === 'true'")
            yield Browser(page, service, problems)
        finally:
            browser.close()


def wait_for_answers(browser: Browser, count: int, timeout: float = 10.0) -> None:
    """Wait until the service stored ``count`` answers."""
    deadline = time.monotonic() + timeout
    while len(browser.service.answers) < count:
        assert time.monotonic() < deadline, f"{len(browser.service.answers)} answers, not {count}"
        browser.page.wait_for_timeout(50)
