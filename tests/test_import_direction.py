"""Imports go one way inside the local cloud: its drivers use the emulator and ``gtpipe_cli``, never the reverse.

The emulator (every module of ``local/`` outside ``local/drivers/``) emulates AWS; the drivers
(``local/drivers/``) start it, feed it and follow it from outside as a user would, reusing the CLI's client
parts. ``local/cli.py`` and ``local/demo.py`` only keep the ``python -m`` commands' names: they import the
drivers and nothing else of ours. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / "local"
DRIVERS = LOCAL / "drivers"
ENTRY_POINTS = {LOCAL / "cli.py", LOCAL / "demo.py"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports (relative imports resolved against its package)."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _is_under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def emulator_modules() -> list[Path]:
    return sorted(
        path for path in LOCAL.rglob("*.py") if DRIVERS not in path.parents and path not in ENTRY_POINTS
    )


def test_the_emulator_imports_neither_gtpipe_cli_nor_its_drivers() -> None:
    wrong = {
        str(path.relative_to(ROOT)): sorted(
            module
            for module in imported_modules(path)
            if _is_under(module, "gtpipe_cli") or _is_under(module, "local.drivers")
        )
        for path in emulator_modules()
    }
    assert {path: modules for path, modules in wrong.items() if modules} == {}


def test_the_scan_sees_the_emulator_and_resolves_relative_imports() -> None:
    paths = {str(path.relative_to(ROOT)) for path in emulator_modules()}
    assert {"local/cloud.py", "local/labeling_crowd.py", "local/apigateway.py"} <= paths
    assert "local.cognito" in imported_modules(LOCAL / "labeling_crowd.py")
    assert "gtpipe_cli.api" in imported_modules(DRIVERS / "client.py")


def test_the_command_entry_points_only_name_their_drivers() -> None:
    for path in ENTRY_POINTS:
        ours = {
            module
            for module in imported_modules(path)
            if module.split(".")[0] in {"local", "gtpipe_cli", "gtpipe_shared", "infra", "training"}
        }
        assert ours and all(_is_under(module, "local.drivers") for module in ours), (path, ours)
