"""Pre-annotation in the labeling app (Chromium, 1280x900) against the fake service
(``tests/browser/fake_labeling``): tasks that come with a model's suggestion.

Given a class task whose suggestion is "three", the button of "three" is marked as the model's and Enter
alone sends it; given a task suggesting "five", the labeler presses "7": the app shows the model's class
beside the chosen one (marked changed) and sends seven. Given a box task with the model's two boxes, they
are drawn and listed as the model's; the labeler deletes one and the app counts it removed, then sends the
kept one unchanged. A task without a suggestion shows none of this.

``test_seconds_per_task_with_and_without_suggestions`` labels the same 8 digit images twice with a scripted
labeler (no think time: the key for the right class, or Enter for a right suggestion, then Enter): without
suggestions, and with a model right on 6 of 8. It prints and writes (``.local/preannotation.json``) the
seconds per task (from the first image shown to the last answer stored, and the seconds the app reported
with each answer) and the keys pressed per task: measured, never asserted (BENCHMARKS.md, "pre-annotation").
Chromium comes from ``make install``; without it these tests fail, they never skip.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.browser.fake_labeling import DIGITS, Browser, FakeService, app_in_browser, wait_for_answers

ROOT = Path(__file__).resolve().parents[2]
RESULT_FILE = ROOT / ".local" / "preannotation.json"
TRUTH = [3, 1, 4, 1, 5, 9, 2, 6]  # the 8 images' right digits
MODEL = [3, 1, 4, 7, 5, 9, 0, 6]  # the model's: wrong on images 3 and 6
BOXES = [
    {"class_id": 0, "left": 100, "top": 100, "width": 300, "height": 200, "score": 0.92},
    {"class_id": 1, "left": 800, "top": 500, "width": 200, "height": 400, "score": 0.71},
]


def wait_for_task(browser: Browser, index: int) -> None:
    """Wait until task ``index``'s image is shown."""
    browser.page.wait_for_function(
        """index => {
            const image = document.querySelector('#task-image');
            return image.dataset.ready === 'true' && image.getAttribute('src').endsWith('/' + index + '.png');
        }""",
        arg=index,
    )


def test_a_suggested_class_is_marked_accepted_with_enter_or_corrected_visibly() -> None:
    suggested = {0: {"label": 3, "confidence": 0.81}, 1: {"label": 5, "confidence": 0.52}}
    with app_in_browser(
        FakeService("image-classification", DIGITS, objects=3, suggestions=suggested)
    ) as browser:
        page = browser.page
        # Given the first task, suggesting "three": its button is marked as the model's, the panel says so
        marked = page.locator(".class-button.suggested")
        assert marked.count() == 1 and marked.get_attribute("data-class-index") == "3"
        assert page.text_content(".class-button.suggested .model-badge") == "model (81 %)"
        assert "The model suggests three (81 %)" in (page.text_content("#suggestion") or "")
        assert page.text_content("#submit-task") == "Accept three"
        # When the labeler presses Enter alone, then three is sent
        page.keyboard.press("Enter")
        wait_for_answers(browser, 1)
        wait_for_task(browser, 1)
        # Given the second task, suggesting "five", when the labeler presses 7 instead
        page.keyboard.press("7")
        # Then the app shows the model's class beside the chosen one, marked changed
        panel = page.locator("#suggestion")
        assert panel.get_attribute("data-changed") == "true"
        assert panel.text_content() == "Changed: the model suggested five (52 %); you chose seven."
        page.keyboard.press("Enter")
        wait_for_answers(browser, 2)
        wait_for_task(browser, 2)
        # and the third task, without a suggestion, shows none of it (today's behaviour)
        assert (
            page.locator("#suggestion").is_hidden() and page.locator(".class-button.suggested").count() == 0
        )
        assert page.text_content("#submit-task") == "Send"
        assert browser.service.answers == [
            {"index": 0, "answer": {"label": 3}},
            {"index": 1, "answer": {"label": 7}},
        ]
        assert browser.problems == []


def test_suggested_boxes_are_drawn_as_the_models_and_changes_are_counted() -> None:
    suggested = {0: {"boxes": BOXES, "image_size": {"width": 1600, "height": 1200}}}
    service = FakeService("object-detection", ["car", "person"], objects=1, suggestions=suggested)
    with app_in_browser(service) as browser:
        page = browser.page
        # Given a task with the model's two boxes: both are drawn and listed as the model's
        page.wait_for_function("() => document.querySelectorAll('#box-list .box-item').length === 2")
        assert page.locator("#box-list .box-origin.model").count() == 2
        assert "The model drew 2 box(es)" in (page.text_content("#suggestion") or "")
        # When the labeler deletes the second box
        page.click('#box-list [aria-label="Delete box 2"]')
        # Then the app counts it removed and marks the suggestion changed
        panel = page.locator("#suggestion")
        assert panel.get_attribute("data-changed") == "true"
        assert (
            panel.text_content()
            == "Changed from the model's 2 box(es): 1 kept, 0 changed, 0 added, 1 removed."
        )
        # and the answer holds the kept box unchanged, in image pixels
        page.click("#submit-task")
        wait_for_answers(browser, 1)
        (box,) = browser.service.answers[0]["answer"]["boxes"]
        assert box == {key: BOXES[0][key] for key in ("class_id", "left", "top", "width", "height")}
        assert browser.problems == []


def label_all(suggestions: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The scripted labeler over the 8 images; the measurement (seconds and keys per task)."""
    service = FakeService("image-classification", DIGITS, objects=len(TRUTH), suggestions=suggestions)
    keys = 0
    with app_in_browser(service) as browser:
        page = browser.page
        started = time.perf_counter()
        for index, right in enumerate(TRUTH):
            wait_for_task(browser, index)
            if suggestions.get(index, {}).get("label") != right:
                page.keyboard.press(str(right))
                keys += 1
            page.keyboard.press("Enter")
            keys += 1
            wait_for_answers(browser, index + 1)
        elapsed = time.perf_counter() - started
        assert [a["answer"]["label"] for a in service.answers] == TRUTH
        assert browser.problems == []
    return {
        "tasks": len(TRUTH),
        "seconds_per_task": round(elapsed / len(TRUTH), 3),
        "reported_seconds_per_task": round(sum(float(s) for s in service.seconds) / len(TRUTH), 3),
        "keys_per_task": round(keys / len(TRUTH), 3),
    }


def test_seconds_per_task_with_and_without_suggestions() -> None:
    # Given the same 8 images, labeled right by the same scripted labeler
    without = label_all({})
    with_model = label_all({i: {"label": label, "confidence": 0.8} for i, label in enumerate(MODEL)})
    # Then both runs stored every right answer (label_all checks); the timing is measured, not asserted
    result = {"without_suggestions": without, "with_suggestions": with_model, "model_right": "6 of 8"}
    RESULT_FILE.parent.mkdir(exist_ok=True)
    RESULT_FILE.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    assert with_model["keys_per_task"] == 1.25 and without["keys_per_task"] == 2.0
