"""docs/reliability.md names, for every guarantee, the tests that prove it: those tests must exist.

A reference is `path.py::name` in backticks; a bare `::name` continues the file of the reference before it
(as in "`tests/x.py::test_a`, `::test_b`"). Under tests/ the name must be a test function defined in that
file (a parametrized test is referenced by its function name); elsewhere, any function of that name. A
bare `tests/...py` reference (glob patterns allowed) must match a file.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
REFERENCE = re.compile(r"`(?P<path>[\w./-]+\.py)?::(?P<name>\w+)`|`(?P<file>tests/[\w./*-]+\.py)`")


@dataclass(frozen=True)
class Reference:
    path: str
    name: str | None  # None: the file itself


def references(text: str) -> list[Reference]:
    """Every file and function reference of the text, bare `::name` resolved to the file before it."""
    found, current = [], None
    for match in REFERENCE.finditer(text):
        if match["file"]:
            found.append(Reference(match["file"], None))
            continue
        current = match["path"] or current
        if current is None:
            raise ValueError(f"`::{match['name']}` follows no file reference")
        found.append(Reference(current, match["name"]))
    return found


def functions_of(path: Path) -> set[str]:
    """Names of the module-level functions and of the methods of module-level classes."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(n.name for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
    return names


def broken(found: list[Reference], root: Path) -> list[str]:
    """The references that name no existing file, test or function, with why."""
    problems = []
    for reference in found:
        if reference.name is None:
            if not list(root.glob(reference.path)):
                problems.append(f"{reference.path}: no such file")
            continue
        path = root / reference.path
        if not path.is_file():
            problems.append(f"{reference.path}::{reference.name}: no such file")
        elif reference.name not in functions_of(path):
            problems.append(f"{reference.path}::{reference.name}: not defined in that file")
        elif reference.path.startswith("tests/") and not reference.name.startswith("test"):
            problems.append(f"{reference.path}::{reference.name}: not a test function")
    return problems


def guarantee_rows(text: str) -> list[str]:
    """The table rows of the "## Guarantees" section, header and separator rows left out."""
    section = text.split("## Guarantees", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [row for row in rows if not row.startswith(("| test |", "|---"))]


def test_every_test_the_reliability_doc_names_exists() -> None:
    # Given the references of docs/reliability.md
    found = references(DOC.read_text())
    assert len({r for r in found if r.name}) >= 50, "the reference pattern no longer matches the doc"
    # Then each names an existing file and a function defined in it
    assert broken(found, ROOT) == []


def test_every_guarantee_row_names_a_test() -> None:
    rows = guarantee_rows(DOC.read_text())
    assert rows, "no guarantee tables found"
    for row in rows:
        first_cell = row.split("|")[1]
        assert any(r.path.startswith("tests/") and r.name for r in references(first_cell)), row


def test_the_checker_resolves_bare_names_and_reports_what_is_missing(tmp_path: Path) -> None:
    # Given a test file with one parametrized test and one test method
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(
        "import pytest\n\n@pytest.mark.parametrize('n', [1])\ndef test_a(n):\n    assert n\n\n"
        "class TestB:\n    def test_b(self):\n        assert self\n\ndef helper():\n    pass\n"
    )
    text = (
        "| `tests/test_x.py::test_a`, `::test_b`, `::test_gone` | x |\n"
        "`tests/test_y.py::test_c` `tests/test_*.py` `tests/test_z*.py` `tests/test_x.py::helper`"
    )
    # When the references are checked
    found = references(text)
    # Then a bare `::name` belongs to the file before it, and only the missing ones are reported
    assert [(r.path, r.name) for r in found[:3]] == [
        ("tests/test_x.py", n) for n in ("test_a", "test_b", "test_gone")
    ]
    assert broken(found, tmp_path) == [
        "tests/test_x.py::test_gone: not defined in that file",
        "tests/test_y.py::test_c: no such file",
        "tests/test_z*.py: no such file",
        "tests/test_x.py::helper: not a test function",
    ]
