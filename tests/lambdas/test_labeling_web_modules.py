"""The labeling app's plain JavaScript modules (box geometry, class shortcuts), run by Node.

Node comes with the project (the CDK CLI needs it). Each test evaluates an expression over the modules in
``lambdas/labeling_web/static/`` and checks the JSON it prints; the page itself is tested in Chromium
(``tests/browser/test_labeling_ui.py``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
from labeling_web.pages import STATIC_DIR


def evaluate(expression: str) -> Any:
    """``expression`` (JavaScript, may use boxes.*, shortcuts.*, auth.* and history.*) evaluated by Node, as
    JSON."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: the project needs Node.js (the CDK CLI runs on it)")
    script = (
        f'const boxes = await import("{(STATIC_DIR / "boxes.js").as_uri()}");\n'
        f'const shortcuts = await import("{(STATIC_DIR / "shortcuts.js").as_uri()}");\n'
        f'const auth = await import("{(STATIC_DIR / "auth.js").as_uri()}");\n'
        f'const history = await import("{(STATIC_DIR / "history.js").as_uri()}");\n'
        f"console.log(JSON.stringify({expression}));\n"
    )
    result = subprocess.run(
        [node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_module_parses() -> None:
    node = shutil.which("node")
    assert node is not None
    for path in sorted(STATIC_DIR.glob("*.js")):
        result = subprocess.run(
            [node, "--experimental-default-type=module", "--check", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, f"{path.name}: {result.stderr}"


def test_shortcuts_are_1_to_9_then_0_then_letters() -> None:
    keys = evaluate("Array.from({length: 37}, (_, i) => shortcuts.shortcutFor(i))")

    assert keys[:10] == ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"]
    assert keys[10:13] == ["a", "b", "c"]
    assert keys[35] == "z"
    assert keys[36] is None


def test_a_key_selects_its_class_only_when_the_class_exists() -> None:
    answer = evaluate(
        "[shortcuts.classForKey('1', 3), shortcuts.classForKey('3', 3), shortcuts.classForKey('4', 3),"
        " shortcuts.classForKey('0', 10), shortcuts.classForKey('B', 12), shortcuts.classForKey('Enter', 12)]"
    )

    assert answer == [0, 2, -1, 9, 11, -1]


DIGIT_NAMES = "['zero','one','two','three','four','five','six','seven','eight','nine']"


def test_digit_and_number_word_classes_get_their_digit() -> None:
    answer = evaluate(
        f"[shortcuts.assignHotkeys({DIGIT_NAMES}), shortcuts.assignHotkeys(['7', 'Three', ' nine ']),"
        f" shortcuts.classForHotkey('1', shortcuts.assignHotkeys({DIGIT_NAMES}))]"
    )

    assert answer[0] == list("0123456789")
    assert answer[1] == ["7", "3", "9"]
    assert answer[2] == 1  # key 1 sends "one", not the first class "zero"


def test_otherwise_distinct_first_characters_then_positions() -> None:
    answer = evaluate(
        "[shortcuts.assignHotkeys(['Cat', 'dog', 'bird']), shortcuts.assignHotkeys(['car', 'cat', 'bus']),"
        " shortcuts.assignHotkeys(['one', 'uno']), shortcuts.assignHotkeys(['one', 'one']),"
        " shortcuts.assignHotkeys(['4x4', 'sedan']), shortcuts.assignHotkeys([])]"
    )

    assert answer[0] == ["c", "d", "b"]
    assert answer[1] == ["1", "2", "3"]  # "car" and "cat" share c: positional for the whole job
    assert answer[2] == ["o", "u"]  # not all number words: first letters
    assert answer[3] == ["1", "2"]
    assert answer[4] == ["4", "s"]
    assert answer[5] == []


def test_configured_hotkeys_win_and_the_other_classes_take_free_keys() -> None:
    answer = evaluate(
        "[shortcuts.assignHotkeys(['cat', 'dog'], {cat: 'K'}),"
        " shortcuts.assignHotkeys(['cat', 'car', 'bus'], {cat: 't'}),"
        " shortcuts.assignHotkeys(['zero', 'one'], {zero: '1'}),"
        " shortcuts.assignHotkeys(['a', 'b'], {a: 'x', b: 'x'}),"
        " shortcuts.assignHotkeys(['a', 'b'], {a: 'Enter', b: ''}),"
        " shortcuts.classForHotkey('K', ['k', 'd']), shortcuts.classForHotkey('Enter', ['k'])]"
    )

    assert answer[0] == ["k", "d"]
    assert answer[1] == ["t", "c", "b"]
    assert answer[2] == ["1", "o"]  # "one"'s digit is taken by the configured key: its first letter
    assert answer[3] == ["a", "b"]  # a key claimed twice is ignored
    assert answer[4] == ["a", "b"]  # not one letter or digit: ignored
    assert answer[5:] == [0, -1]


def test_undo_and_redo_walk_the_recorded_states() -> None:
    answer = evaluate(
        "(() => { const h = new history.History(null); const seen = [h.record(1), h.record(1), h.record(5)];"
        " seen.push(h.undo(), h.undo(), h.undo(), h.redo(), h.canRedo); h.record(7);"
        " seen.push(h.canRedo, h.value, h.undo()); return seen; })()"
    )

    assert answer == [True, False, True, 1, None, None, 1, True, False, 7, 1]


def test_recorded_states_are_copies() -> None:
    answer = evaluate(
        "(() => { const boxes = [{left: 1}]; const h = new history.History([]); h.record(boxes);"
        " boxes[0].left = 9; const back = h.undo(); return [back, h.redo()]; })()"
    )

    assert answer == [[], [{"left": 1}]]


def test_ctrl_z_undoes_and_ctrl_shift_z_or_ctrl_y_redo() -> None:
    answer = evaluate(
        "[{ctrlKey: true, key: 'z'}, {ctrlKey: true, shiftKey: true, key: 'Z'}, {metaKey: true, key: 'y'},"
        " {ctrlKey: true, altKey: true, key: 'z'}, {key: 'z'}, {ctrlKey: true, key: 'c'}]"
        ".map(shortcuts.historyCommand)"
    )

    assert answer == ["undo", "redo", "redo", None, None, None]


def test_a_drag_in_any_direction_spans_a_box_clipped_to_the_image() -> None:
    answer = evaluate("[boxes.spanBox(50, 40, 10, 10, 100, 80), boxes.spanBox(-5, 70, 20, 95, 100, 80)]")

    assert answer[0] == {"left": 10, "top": 10, "width": 40, "height": 30}
    assert answer[1] == {"left": 0, "top": 70, "width": 20, "height": 10}


def test_a_moved_box_stays_whole_inside_the_image() -> None:
    box = "{class_id: 1, left: 10, top: 10, width: 30, height: 20}"

    answer = evaluate(f"[boxes.movedBox({box}, 5, 6, 100, 80), boxes.movedBox({box}, 500, -50, 100, 80)]")

    assert answer[0] == {"class_id": 1, "left": 15, "top": 16, "width": 30, "height": 20}
    assert answer[1] == {"class_id": 1, "left": 70, "top": 0, "width": 30, "height": 20}


def test_resizing_moves_the_dragged_corner_and_keeps_the_opposite_one() -> None:
    box = "{class_id: 2, left: 10, top: 10, width: 30, height: 20}"

    answer = evaluate(
        f"[boxes.resizedBox({box}, 'se', 60, 50, 100, 80), boxes.resizedBox({box}, 'nw', 0, 5, 100, 80),"
        f" boxes.resizedBox({box}, 'ne', 5, 40, 100, 80)]"
    )

    assert answer[0] == {"class_id": 2, "left": 10, "top": 10, "width": 50, "height": 40}
    assert answer[1] == {"class_id": 2, "left": 0, "top": 5, "width": 40, "height": 25}
    # Dragged past the opposite corner: the box flips instead of getting a negative size.
    assert answer[2] == {"class_id": 2, "left": 5, "top": 30, "width": 5, "height": 10}


def test_hit_testing_finds_corners_and_the_innermost_box() -> None:
    outer = "{left: 0, top: 0, width: 100, height: 100}"
    inner = "{left: 20, top: 20, width: 10, height: 10}"

    answer = evaluate(
        f"[boxes.handleAt({inner}, 31, 29, 2), boxes.handleAt({inner}, 25, 25, 2),"
        f" boxes.boxAt([{outer}, {inner}], 25, 25), boxes.boxAt([{outer}, {inner}], 60, 60),"
        f" boxes.boxAt([{inner}], 60, 60)]"
    )

    assert answer == ["se", None, 1, 0, -1]


def test_answers_are_whole_pixels_inside_the_image_without_empty_boxes() -> None:
    answer = evaluate(
        "boxes.answerBoxes([{class_id: 0, left: 10.4, top: 5.6, width: 20.2, height: 9.9},"
        " {class_id: 1, left: 95.2, top: 0, width: 10, height: 10},"
        " {class_id: 1, left: 3.2, top: 3.3, width: 0.1, height: 4}], 100, 80)"
    )

    assert answer == [
        {"class_id": 0, "left": 10, "top": 6, "width": 21, "height": 10},
        {"class_id": 1, "left": 95, "top": 0, "width": 5, "height": 10},
    ]


def test_the_password_rules_the_app_states_and_checks_are_the_user_pools() -> None:
    from infra.constructs.user_pool import PASSWORD_CHARACTER_CLASSES, PASSWORD_MIN_LENGTH

    policy, hint = evaluate("[auth.PASSWORD_POLICY, auth.passwordHint()]")
    assert policy == {"minLength": PASSWORD_MIN_LENGTH, "classes": list(PASSWORD_CHARACTER_CLASSES)}
    assert PASSWORD_MIN_LENGTH == 12 and set(PASSWORD_CHARACTER_CLASSES) == {
        "lowercase",
        "uppercase",
        "digits",
        "symbols",
    }
    assert f"At least {PASSWORD_MIN_LENGTH} characters" in hint
    # The page's static hint (shown before the script runs) says the same, and the field asks for as much.
    page = " ".join((STATIC_DIR / "index.html").read_text().split())
    assert f'<p id="new-password-hint" class="hint">{hint}</p>' in page
    assert f'minlength="{PASSWORD_MIN_LENGTH}"' in page
    assert "8 characters" not in page


def test_the_app_names_every_password_rule_a_new_password_breaks() -> None:
    problems = evaluate(
        '[auth.passwordProblems("short"), auth.passwordProblems("longenoughbutplain"),'
        ' auth.passwordProblems("Labels-4-gtpipe!")]'
    )

    assert problems[0] == [
        "at least 12 characters",
        "an upper-case letter",
        "a digit",
        "a symbol",
    ]
    assert problems[1] == ["an upper-case letter", "a digit", "a symbol"]
    assert problems[2] == []


def test_the_id_token_expires_after_its_lifetime_on_the_browsers_clock_whatever_cognitos_clock_says() -> None:
    # given a one-hour token issued by a Cognito whose clock is 60 days ahead of the browser's
    issued = 1_800_000_000
    ahead, behind = issued + 60 * 86_400, issued - 60 * 86_400
    expiries = evaluate(
        f"[auth.localExpiry({{iat: {ahead}, exp: {ahead + 3600}}}, 3600, {issued}),"
        f" auth.localExpiry({{iat: {behind}, exp: {behind + 3600}}}, 3600, {issued}),"
        f" auth.localExpiry({{}}, 1800, {issued})]"
    )
    # then the app refreshes it an hour after it came, as with agreeing clocks (ExpiresIn without claims)
    assert expiries == [issued + 3600, issued + 3600, issued + 1800]
