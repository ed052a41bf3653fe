"""The labeling app's page in Chromium (1280x900) against a fake service (``tests/browser/fake_labeling``):
the image fits the window, hotkeys follow the class names, and answers can be undone before they are sent.

Given a job of large images (1600x1200: more than the window), when the first task shows, then the whole
image is on screen without scrolling the page, aspect ratio kept, and the "100 %" toggle shows it at its own
size (the stage scrolls, not the page) and back; boxes drawn on the fitted image are answered in the image's
own pixels. On the digits classes ("zero".."nine") key ``1`` sends ``one``. A class key stages the class;
Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y move through the choices, and the service stores only the final one, once.
Drawn boxes undo and redo the same way; a staged class is sent, not dropped, on "Back to jobs" and pagehide.
Chromium comes from ``make install``; without it these tests fail, they never skip.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.fake_labeling import DIGITS, Browser, FakeService, app_in_browser, wait_for_answers

GEOMETRY = """() => {
    const image = document.querySelector('#task-image').getBoundingClientRect();
    const root = document.documentElement;
    return {top: image.top, left: image.left, bottom: image.bottom, right: image.right,
            width: image.width, height: image.height, innerWidth: innerWidth, innerHeight: innerHeight,
            scrollWidth: root.scrollWidth, scrollHeight: root.scrollHeight};
}"""


def geometry(browser: Browser) -> dict[str, float]:
    return dict(browser.page.evaluate(GEOMETRY))


def staged(browser: Browser) -> str:
    return str(browser.page.get_attribute("#staged", "data-staged"))


@pytest.fixture
def digits() -> Any:
    with app_in_browser(FakeService("image-classification", DIGITS)) as browser:
        yield browser
        assert browser.problems == []


def test_a_large_image_fits_the_window_without_scrolling_and_toggles_to_100_percent(digits: Browser) -> None:
    shown = geometry(digits)

    assert shown["scrollHeight"] <= shown["innerHeight"] and shown["scrollWidth"] <= shown["innerWidth"]
    assert (
        shown["top"] >= 0
        and shown["bottom"] <= shown["innerHeight"]
        and shown["right"] <= shown["innerWidth"]
    )
    assert abs(shown["width"] / shown["height"] - 1600 / 1200) < 0.01
    assert shown["height"] > 300  # fitted, not shrunk to a stamp
    assert digits.page.text_content("#zoom-level") == "100%"

    digits.page.click("#zoom-actual")
    actual = geometry(digits)
    assert (actual["width"], actual["height"]) == (1600, 1200)
    assert digits.page.get_attribute("#zoom-actual", "aria-pressed") == "true"
    # The stage scrolls inside the window; the page still fits.
    assert actual["scrollHeight"] <= actual["innerHeight"]

    digits.page.click("#zoom-actual")
    assert geometry(digits)["width"] == shown["width"]


def test_boxes_drawn_on_the_fitted_image_are_answered_in_image_pixels() -> None:
    with app_in_browser(FakeService("object-detection", ["car", "person"], objects=1)) as browser:
        page = browser.page
        canvas = page.locator("#box-canvas").bounding_box()
        assert canvas["width"] < 1600  # fitted: smaller than the image
        scale = canvas["width"] / 1600
        page.click('.class-button[data-class-index="1"]')
        page.mouse.move(canvas["x"] + 400 * scale, canvas["y"] + 300 * scale)
        page.mouse.down()
        page.mouse.move(canvas["x"] + 1000 * scale, canvas["y"] + 900 * scale, steps=4)
        page.mouse.up()
        page.click("#submit-task")
        wait_for_answers(browser, 1)

        (box,) = browser.service.answers[0]["answer"]["boxes"]
        tolerance = 1 / scale + 1  # one screen pixel, in image pixels, plus rounding
        assert box["class_id"] == 1
        for edge, want in (("left", 400), ("top", 300), ("width", 600), ("height", 600)):
            assert abs(box[edge] - want) <= tolerance, (edge, box)
        assert browser.service.answers[0]["answer"]["image_size"] == {"width": 1600, "height": 1200}
        assert browser.problems == []


def test_digit_classes_get_their_digit_keys_shown_on_their_buttons(digits: Browser) -> None:
    keys = digits.page.eval_on_selector_all(
        ".class-button",
        "buttons => buttons.map(b => [b.textContent.trim(), b.getAttribute('aria-keyshortcuts')])",
    )
    assert keys == [[f"{digit}{name}", str(digit)] for digit, name in enumerate(DIGITS)]

    digits.page.keyboard.press("1")
    assert staged(digits) == "1"
    wait_for_answers(digits, 1)  # sent when the grace period ends

    assert digits.service.answers == [{"index": 0, "answer": {"label": DIGITS.index("one")}}]


def test_configured_hotkeys_win_over_the_default_rule() -> None:
    service = FakeService("image-classification", ["cat", "dog"], hotkeys={"cat": "k", "dog": "d"})
    with app_in_browser(service) as browser:
        keys = browser.page.eval_on_selector_all(
            ".class-button", "buttons => buttons.map(b => b.getAttribute('aria-keyshortcuts'))"
        )
        assert keys == ["k", "d"]
        browser.page.keyboard.press("k")
        browser.page.keyboard.press("Enter")  # sends at once
        wait_for_answers(browser, 1, timeout=1.0)
        assert browser.service.answers == [{"index": 0, "answer": {"label": 0}}]


def test_undo_and_redo_move_through_the_choices_and_only_the_final_one_is_stored(digits: Browser) -> None:
    page = digits.page
    page.keyboard.press("1")
    page.keyboard.press("Control+z")
    assert staged(digits) == ""
    assert page.eval_on_selector_all(".class-button[aria-pressed='true']", "bs => bs.length") == 0
    page.wait_for_timeout(2500)  # longer than the grace period: nothing is chosen, nothing is sent
    assert digits.service.answers == []

    page.keyboard.press("3")
    page.keyboard.press("5")
    page.keyboard.press("Control+z")
    assert staged(digits) == "3"
    page.keyboard.press("Control+Shift+Z")
    assert staged(digits) == "5"
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+y")
    assert staged(digits) == "3"
    assert page.get_attribute('.class-button[data-class-index="3"]', "aria-pressed") == "true"
    page.wait_for_timeout(2500)

    assert digits.service.answers == [{"index": 0, "answer": {"label": 3}}]
    page.wait_for_function("() => document.querySelector('#task-image').dataset.sourceRef.endsWith('/1.png')")
    page.keyboard.press("Control+z")  # a sent answer is final: nothing to undo on the new task
    assert "Nothing to undo" in str(page.text_content("#status"))
    page.wait_for_timeout(2000)
    assert len(digits.service.answers) == 1


def test_undo_and_redo_of_drawn_boxes() -> None:
    with app_in_browser(FakeService("object-detection", ["car", "person"], objects=1)) as browser:
        page = browser.page
        canvas = page.locator("#box-canvas").bounding_box()
        for start in (20, 200):
            page.mouse.move(canvas["x"] + start, canvas["y"] + start)
            page.mouse.down()
            page.mouse.move(canvas["x"] + start + 80, canvas["y"] + start + 60, steps=3)
            page.mouse.up()
        assert page.locator(".box-item").count() == 2
        page.keyboard.press("Control+z")
        assert page.locator(".box-item").count() == 1
        page.keyboard.press("Control+z")
        assert page.locator(".box-item").count() == 0
        page.keyboard.press("Control+Shift+Z")
        page.keyboard.press("Control+y")
        assert page.locator(".box-item").count() == 2
        page.click("#submit-task")
        wait_for_answers(browser, 1)
        assert len(browser.service.answers[0]["answer"]["boxes"]) == 2
        assert browser.problems == []


def test_a_staged_class_is_sent_not_dropped_when_leaving_the_task(digits: Browser) -> None:
    page = digits.page
    page.keyboard.press("2")
    page.click("#back-to-jobs")
    page.wait_for_selector("#jobs-view", state="visible")
    assert digits.service.answers == [{"index": 0, "answer": {"label": 2}}]

    page.click('[data-job="job-1"]')
    page.wait_for_function("() => document.querySelector('#task-image').dataset.sourceRef.endsWith('/1.png')")
    page.keyboard.press("4")
    # The tab closes: its pagehide sends the staged class (dispatched here: Chromium does not show a closing
    # page's keepalive requests to Playwright's routing).
    page.evaluate("() => window.dispatchEvent(new PageTransitionEvent('pagehide'))")
    wait_for_answers(digits, 2)
    assert digits.service.answers[1] == {"index": 1, "answer": {"label": 4}}
