"""The report function's matplotlib layer: built without Docker, deterministic, within Lambda's limits."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from infra.layers import (
    LAMBDA_UNZIPPED_LIMIT_BYTES,
    REPORT_LAYER_ZIP,
    REPORT_REQUIREMENTS,
    MissingLayerError,
    prune,
    require_layer,
    unzipped_size,
    write_zip,
)
from tests.infra.conftest import ROOT

# The Powertools v3 layer for python3.12 x86_64 unzips to about 30 MB (its packages without boto3 and
# botocore, which the runtime provides); leave twice that for it and the function's own code.
POWERTOOLS_AND_CODE_ALLOWANCE = 60_000_000


def pins(path: Path) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s#]+)", path.read_text(), flags=re.M)
    return {name.lower(): version for name, version in found}


def test_synth_without_the_layer_names_the_make_target(tmp_path: Path) -> None:
    # Given no built layer / When the stack asks for it / Then the error says how to build it
    with pytest.raises(MissingLayerError, match=r"run `make layers`"):
        require_layer(tmp_path / "report.zip")


def test_layer_uses_the_matplotlib_the_tests_use() -> None:
    assert pins(REPORT_REQUIREMENTS)["matplotlib"] == pins(ROOT / "requirements-dev.txt")["matplotlib"]


def test_layer_requirements_are_all_exact_pins() -> None:
    lines = [
        line.strip()
        for line in REPORT_REQUIREMENTS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines and all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.]+", line) for line in lines)


def test_zip_is_deterministic_and_pruned(tmp_path: Path) -> None:
    # Given a layer folder with a package, its tests and bytecode
    source = tmp_path / "layer"
    package = source / "python" / "pkg"
    (package / "tests").mkdir(parents=True)
    (package / "__pycache__").mkdir()
    (package / "__init__.py").write_text("VALUE = 1\n")
    (package / "tests" / "test_pkg.py").write_text("def test(): pass\n")
    (package / "__pycache__" / "__init__.cpython-312.pyc").write_bytes(b"\0")
    # When it is pruned and zipped twice
    prune(source / "python")
    write_zip(source, tmp_path / "a.zip")
    write_zip(source, tmp_path / "b.zip")
    # Then only the module remains, under python/, and both zips are byte-identical
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert archive.namelist() == ["python/pkg/__init__.py"]
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert unzipped_size(tmp_path / "a.zip") == len("VALUE = 1\n")


def test_built_layer_fits_lambda_with_powertools() -> None:
    # `make test` builds the layer first (install depends on it); synth needs it too.
    path = require_layer(REPORT_LAYER_ZIP)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert "python/matplotlib/__init__.py" in names
    assert not any("/tests/" in name or name.endswith(".pyc") for name in names)
    assert any(re.search(r"cpython-312-x86_64-linux-gnu\.so$", name) for name in names)
    assert unzipped_size(path) + POWERTOOLS_AND_CODE_ALLOWANCE < LAMBDA_UNZIPPED_LIMIT_BYTES


def test_the_import_tests_runtime_packages_are_the_functions_pins() -> None:
    # given the packages the 3.12 import test installs (runtime SDK and Powertools) and the functions' pins
    def exact(path: Path) -> dict[str, str]:
        found = re.findall(r"^([A-Za-z0-9_.\-]+(?:\[[a-z,]+\])?)==([^\s#]+)", path.read_text(), flags=re.M)
        return {name.lower(): version for name, version in found}

    runtime = exact(ROOT / "infra" / "layers" / "runtime-requirements.txt")
    functions = exact(ROOT / "requirements.txt")
    # when compared / then each runtime pin is the one the functions are developed and tested with
    assert runtime and {name: functions.get(name) for name in runtime} == runtime
