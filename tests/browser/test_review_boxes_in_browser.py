"""The review view of a bounding-box job in Chromium, against the real labeling API on moto (as
tests/browser/test_review_in_browser.py).

Given a box job with the review stage whose objects got two disagreeing answers (Labeler 1 drew a cat,
Labeler 2 the same cat a little offset and a dog), on 1600x1200 images that the view shows scaled down (so a
screen pixel is not an image pixel): a reviewer sees the consolidated box in the box editor and both
answers' boxes drawn beneath it, each shown or hidden with its toggle; moves and resizes the box by
dragging, undoes and redoes, changes its class in the boxes list, draws a new box of the class whose key
they press, draws a stray box and deletes it, and sends the fix: the stored review holds the fixed boxes in
image pixels and the output manifest records them as Ground Truth's adjusted bounding-box label.
Accept and reject (a re-queue) are the other two decisions; sending unchanged boxes as a fix, accepting
edited boxes and rejecting without a reason are refused on the page, naming what to do.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from gtpipe_shared import labeling_store as store
from gtpipe_shared.labeling_output import OUTPUT_MANIFEST_KEY
from gtpipe_shared.labeling_store import review as review_store
from moto import mock_aws

from tests.browser.chromium import require_browser
from tests.browser.test_review_in_browser import FakeLambda, api_on_moto, open_app
from tests.lambdas.test_shared_labeling_store import JOB, NOW, manifest, spec

WIDTH, HEIGHT = 1600, 1200
SIZE = {"width": WIDTH, "height": HEIGHT}
CAT = {"class_id": 0, "left": 200, "top": 150, "width": 400, "height": 300}
CAT_OFFSET = {"class_id": 0, "left": 220, "top": 160, "width": 400, "height": 300}
DOG = {"class_id": 1, "left": 900, "top": 500, "width": 300, "height": 300}
ANSWERS = ({"boxes": [CAT], "image_size": SIZE}, {"boxes": [CAT_OFFSET, DOG], "image_size": SIZE})


def open_box_job(tasks: Any, objects: int, max_rounds: int) -> None:
    """A box job of ``objects`` images, each answered as ``ANSWERS`` by w1 and w2 (so each waits for review),
    the image sizes recorded as the API records them."""
    review = {"confidence_threshold": 0.5, "qa_sample_percent": 0.0, "max_rounds": max_rounds}
    job_spec = replace(spec(workers=2, task_type="object-detection"), review=review)
    store.open_job(tasks, job_spec, store.objects_from_manifest(manifest(objects)), NOW)
    for index in range(objects):
        store.record_image_size(tasks, JOB, index, (WIDTH, HEIGHT))
    for worker, answer in zip(("w1", "w2"), ANSWERS, strict=True):
        for _ in range(objects):
            lease = store.lease(tasks, JOB, worker, NOW)
            assert lease is not None
            given = store.Answering(
                JOB, lease.index, worker, lease.lease_id, answer, 3.0, worker, (WIDTH, HEIGHT)
            )
            store.submit(tasks, given, NOW)


def review_item(tasks: Any, index: int) -> dict[str, Any]:
    (item,) = [item for item in review_store.reviews(tasks, JOB) if int(item["index"]) == index]
    return item


@pytest.fixture
def one_object(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, FakeLambda]]:
    with mock_aws():
        tasks, fake = api_on_moto(monkeypatch)
        open_box_job(tasks, objects=1, max_rounds=1)
        yield tasks, fake


@pytest.fixture
def two_objects(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, FakeLambda]]:
    with mock_aws():
        tasks, fake = api_on_moto(monkeypatch)
        open_box_job(tasks, objects=2, max_rounds=1)
        yield tasks, fake


def js_round(value: float) -> int:
    """JavaScript's Math.round (halves up), as the page rounds boxes to whole pixels."""
    return math.floor(value + 0.5)


class Canvas:
    """The review canvas's place on screen: image pixels <-> whole screen pixels, as the box editor maps
    pointer positions (``(clientX - rect.left) / rect.width * imageWidth``). The place is measured again
    for every screen point asked for: the page may scroll (a focused list control is scrolled into view)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.measure()

    def measure(self) -> None:
        rect = self.page.evaluate(
            "() => { const r = document.querySelector('#review-canvas').getBoundingClientRect();"
            " return {left: r.left, top: r.top, width: r.width, height: r.height}; }"
        )
        self.left, self.top, self.width, self.height = (
            rect["left"],
            rect["top"],
            rect["width"],
            rect["height"],
        )

    def screen(self, x: float, y: float) -> tuple[int, int]:
        """The whole screen pixel nearest image point (x, y), the canvas measured now."""
        self.measure()
        return round(self.left + x / WIDTH * self.width), round(self.top + y / HEIGHT * self.height)

    def image(self, sx: int, sy: int) -> tuple[float, float]:
        """The image point the editor reads at screen pixel (sx, sy) (the canvas where last measured)."""
        return (sx - self.left) / self.width * WIDTH, (sy - self.top) / self.height * HEIGHT

    def drag(self, start: tuple[int, int], end: tuple[int, int]) -> None:
        mouse = self.page.mouse
        mouse.move(*start)
        mouse.down()
        mouse.move(*end, steps=4)
        mouse.up()

    def move_box(self, box: dict[str, Any], dx: int, dy: int) -> dict[str, Any]:
        """Drag the selected ``box`` by its centre (dx, dy) screen pixels; the box as the editor holds it
        then (image pixels, not rounded)."""
        center = self.screen(box["left"] + box["width"] / 2, box["top"] + box["height"] / 2)
        end = (center[0] + dx, center[1] + dy)
        self.drag(center, end)
        (x0, y0), (x1, y1) = self.image(*center), self.image(*end)
        return {**box, "left": box["left"] + (x1 - x0), "top": box["top"] + (y1 - y0)}

    def resize_lower_right(
        self, box: dict[str, Any], dx: int, dy: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Drag the selected ``box``'s lower right corner by (dx, dy) screen pixels: the box as the editor
        holds it then, and as the page sends it (the edges rounded to whole pixels, as answerBoxes does)."""
        corner = self.screen(box["left"] + box["width"], box["top"] + box["height"])
        end = (corner[0] + dx, corner[1] + dy)
        self.drag(corner, end)
        right, bottom = self.image(*end)
        held = {**box, "width": right - box["left"], "height": bottom - box["top"]}
        left, top = js_round(box["left"]), js_round(box["top"])
        sent = {
            **box,
            "left": left,
            "top": top,
            "width": js_round(right) - left,
            "height": js_round(bottom) - top,
        }
        return held, sent

    def draw_box(
        self, corner: tuple[float, float], other: tuple[float, float], class_id: int
    ) -> dict[str, int]:
        """Drag from image point ``corner`` to ``other`` (each at its nearest screen pixel); the box the page
        sends for it: the edges where the pointer was, rounded to whole pixels (answerBoxes)."""
        start, end = self.screen(*corner), self.screen(*other)
        self.drag(start, end)
        (x0, y0), (x1, y1) = self.image(*start), self.image(*end)
        left, top, right, bottom = (js_round(v) for v in (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
        return {"class_id": class_id, "left": left, "top": top, "width": right - left, "height": bottom - top}

    def alpha_at(self, x: float, y: float) -> int:
        """The canvas's opacity at image point (x, y): above 0 where something is drawn there."""
        return int(
            self.page.evaluate(
                """([x, y, width]) => { const c = document.querySelector('#review-canvas');
                const r = c.width / width; return c.getContext('2d').getImageData(Math.round(x * r),
                Math.round(y * r), 1, 1).data[3]; }""",
                [x, y, WIDTH],
            )
        )


def open_review(page: Any) -> Canvas:
    page.click(f'[data-review-job="{JOB}"]')
    page.wait_for_function("() => document.querySelector('#review-image').dataset.ready === 'true'")
    return Canvas(page)


def box_rows(page: Any) -> list[str]:
    return [text.strip() for text in page.locator("#review-box-list .box-select").all_text_contents()]


def row(box: dict[str, Any], number: int = 1) -> str:
    """The boxes list's text of a box: each number rounded, the size with a multiplication sign."""
    left, top, width, height = (js_round(box[k]) for k in ("left", "top", "width", "height"))
    return f"Box {number}: {left}, {top}, {width} \u00d7 {height}"


def output_lines(tasks: Any) -> list[dict[str, Any]]:
    """The job's output manifest lines as the finish would write them now."""
    output = store.job_output(tasks, store.get_job(tasks, JOB), NOW)
    key = next(k for k in output.files if k.endswith(OUTPUT_MANIFEST_KEY))
    return [json.loads(raw) for raw in output.files[key].splitlines()]


def status(page: Any) -> str:
    return page.text_content("#status") or ""


def dog_drawn_while_shown(page: Any, canvas: Canvas) -> bool:
    """Whether Labeler 2's dog (drawn by nobody else) is on the canvas, gone after its answer's toggle
    is pressed, and back after a second press."""
    edge = (DOG["left"], DOG["top"] + DOG["height"] / 2)
    toggle = '#review-answers .guide-toggle[data-answer="1"]'
    shown = canvas.alpha_at(*edge) > 0
    page.click(toggle)
    hidden = canvas.alpha_at(*edge) == 0 and page.get_attribute(toggle, "aria-pressed") == "false"
    page.click(toggle)
    return shown and hidden and canvas.alpha_at(*edge) > 0


def test_a_reviewer_moves_and_resizes_a_box_and_the_fix_is_stored_in_image_pixels(
    one_object: tuple[Any, FakeLambda],
) -> None:
    tasks, fake = one_object
    consolidated = json.loads(review_item(tasks, 0)["label"])["boxes"]
    assert len(consolidated) == 1 and consolidated[0]["class_id"] == 0  # the dog: only one of two drew it
    start = consolidated[0]
    with require_browser()() as playwright:
        browser, page, problems = open_app(playwright, ["labeling-reviewers"], (WIDTH, HEIGHT))
        try:
            # When the reviewer opens the job's review (the image is shown scaled down)
            canvas = open_review(page)
            assert canvas.width < WIDTH
            # Then the consolidated box is in the boxes list, and both answers are listed with their toggles
            assert box_rows(page) == [row(start)]
            answers = page.text_content("#review-answers") or ""
            assert "Labeler 1: cat (1 box(es))" in answers and "Labeler 2: cat, dog (2 box(es))" in answers
            # and Labeler 2's dog, which no consolidated box covers, is drawn beneath until its toggle hides it
            assert dog_drawn_while_shown(page, canvas)

            # When they select the box and drag it 60 screen pixels right and 30 down
            page.mouse.click(
                *canvas.screen(start["left"] + start["width"] / 2, start["top"] + start["height"] / 2)
            )
            moved = canvas.move_box(start, 60, 30)
            assert box_rows(page) == [row(moved)]
            # and drag its lower right corner 40 screen pixels right and 25 down
            resized, fixed = canvas.resize_lower_right(moved, 40, 25)
            assert fixed["width"] > start["width"] and fixed["height"] > start["height"]
            assert box_rows(page) == [row(resized)]
            # Then Ctrl+Z undoes the resize and Ctrl+Shift+Z redoes it, as in the labeling view
            page.keyboard.press("Control+z")
            assert box_rows(page) == [row(moved)]
            page.keyboard.press("Control+Shift+z")
            assert box_rows(page) == [row(resized)]
            # When they accept now, the page refuses: the edits would be lost
            page.click("#review-accept")
            assert "You changed the boxes" in status(page)
            assert review_item(tasks, 0)["state"] == "pending"
            # When they change the box's class to dog in the list
            page.select_option("#review-box-class-0", "1")
            # and, with nothing selected (a click on the empty image), press bird's key and draw a bird
            page.mouse.click(*canvas.screen(1500, 1100))
            page.keyboard.press("b")
            bird = canvas.draw_box((1250, 100), (1450, 300), class_id=2)
            # and draw a stray box and remove it with Delete
            canvas.draw_box((700, 900), (760, 960), class_id=2)
            assert len(box_rows(page)) == 3
            page.keyboard.press("Delete")
            assert len(box_rows(page)) == 2
            # and send the fix
            page.click("#review-fix")
            page.wait_for_function("() => !document.querySelector('#jobs-view').hidden")
        finally:
            browser.close()
        assert problems == []
    # Then the stored review holds the fixed boxes in image pixels, and the job completed
    expected = [{**fixed, "class_id": 1}, bird]
    item = review_item(tasks, 0)
    assert item["state"] == "fixed"
    assert json.loads(item["final_label"]) == {"boxes": expected, "image_size": SIZE}
    assert store.get_job(tasks, JOB)["status"] == store.CONSOLIDATING and len(fake.invokes) == 1
    # and the output manifest records it as Ground Truth's adjusted bounding-box label
    line = output_lines(tasks)[0]
    assert line["category"]["annotations"] == expected
    assert line["category"]["image_size"][0]["width"] == WIDTH
    meta = line["category-metadata"]
    assert meta["adjustment-status"] == "adjusted" and meta["class-map"] == {"1": "dog", "2": "bird"}
    assert meta["objects"] == [{"confidence": 1.0}] * 2 and meta["type"] == "groundtruth/object-detection"
    assert line["category-verification"] == "0"
    assert line["category-verification-metadata"]["review"]["decision"] == "fix"


def test_a_reviewer_accepts_one_box_label_and_rejects_another_which_is_requeued(
    two_objects: tuple[Any, FakeLambda],
) -> None:
    tasks, fake = two_objects
    consolidated = json.loads(review_item(tasks, 0)["label"])["boxes"]
    with require_browser()() as playwright:
        browser, page, problems = open_app(playwright, ["labeling-reviewers"], (WIDTH, HEIGHT))
        try:
            open_review(page)
            assert (page.text_content("#review-why") or "").startswith("Object 1:")
            # When the reviewer sends the boxes unchanged as a fix, the page refuses: that is an accept
            page.click("#review-fix")
            assert "The boxes are as consolidated" in status(page)
            assert review_item(tasks, 0)["state"] == "pending"
            # When they accept the consolidated boxes, the next object's review is shown
            page.click("#review-accept")
            page.wait_for_function(
                "() => document.querySelector('#review-why').textContent.startsWith('Object 2:')"
            )
            page.wait_for_function("() => document.querySelector('#review-image').dataset.ready === 'true'")
            assert "another labeler" in (page.text_content("#review-reject-hint") or "")
            # When they reject it without a reason, the page asks for one; with one, it is re-queued
            page.click("#review-reject")
            assert "Say why" in status(page)
            page.fill("#review-reason", "the dog is missing")
            page.click("#review-reject")
            page.wait_for_function(
                "() => document.querySelector('#status').textContent.includes('Nothing left')"
            )
        finally:
            browser.close()
        assert problems == []
    # Then object 1's review is accepted as the reviewer saw it, and object 2 waits for another answer
    assert review_item(tasks, 0)["state"] == "accepted"
    rejected = review_item(tasks, 1)
    assert rejected["state"] == "requeued" and rejected["round"] == 1
    assert rejected["decisions"][-1]["reason"] == "the dog is missing"
    job = store.get_job(tasks, JOB)
    assert job["status"] == "OPEN" and set(job["requeued"]) == {1} and fake.invokes == []
    # and the output records the accept in Ground Truth's verification shape, the boxes unadjusted
    line = output_lines(tasks)[0]
    assert line["category"]["annotations"] == consolidated
    assert line["category-metadata"]["adjustment-status"] == "unadjusted"
    assert line["category-verification"] == "1"
    assert line["category-verification-metadata"]["class-name"] == "valid"
