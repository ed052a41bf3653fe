"""Finding 15: the report function's layer (build/layers/report.zip, cp312 manylinux wheels) is checked
against the function it is deployed with.

Lambda loads a Python layer's ``python/`` directory onto ``sys.path``
(https://docs.aws.amazon.com/lambda/latest/dg/packaging-layers.html#packaging-layers-paths); compiled wheels
must match the runtime's Python version and the function's architecture
(https://docs.aws.amazon.com/lambda/latest/dg/python-package.html#python-package-native-libraries).
Importing the binary wheels needs CPython 3.12 on Linux x86_64: the last test does so, and fails saying how to
get one when none is found (``make python312``); the other tests check what can be checked on any interpreter.
"""

from __future__ import annotations

import ast
import platform
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from infra.layers import REPORT_LAYER_ZIP
from infra.layers.runtime312 import HOW_TO_GET_PYTHON312, find_python312
from tests.infra.conftest import Synthesized

ROOT = Path(__file__).resolve().parents[2]
REPORT_DIR = ROOT / "lambdas" / "report"
# What the report function's other code sources provide: the function asset (its folder plus the shared
# module, infra/constructs/lambda_function.py), the Python runtime (the AWS SDK, boto3/botocore) and the
# Powertools layer (aws_lambda_powertools with its parser dependency, pydantic).
ASSET_PACKAGES = {"report", "gtpipe_shared"}
RUNTIME_PACKAGES = {"boto3", "botocore"}
POWERTOOLS_PACKAGES = {"aws_lambda_powertools", "pydantic"}


@pytest.fixture(scope="module")
def layer() -> zipfile.ZipFile:
    if not REPORT_LAYER_ZIP.is_file():
        pytest.fail(f"{REPORT_LAYER_ZIP} is missing: run `make layers`")
    return zipfile.ZipFile(REPORT_LAYER_ZIP)


@pytest.fixture(scope="module")
def report_function(synth: Synthesized) -> dict[str, Any]:
    functions = [
        resource["Properties"]
        for resource in synth.main.find_resources("AWS::Lambda::Function").values()
        if resource["Properties"].get("Handler") == "report.handler.lambda_handler"
    ]
    assert len(functions) == 1
    return functions[0]


def layer_packages(layer: zipfile.ZipFile) -> set[str]:
    """Top-level importable names under the layer's ``python/``."""
    names = set()
    for name in layer.namelist():
        parts = name.split("/")
        if parts[0] == "python" and len(parts) > 2 and not parts[1].endswith((".dist-info", ".libs")):
            names.add(parts[1])
        elif parts[0] == "python" and len(parts) == 2 and parts[1].endswith(".py"):
            names.add(parts[1].removesuffix(".py"))
    return names


def wheel_tags(layer: zipfile.ZipFile) -> dict[str, list[str]]:
    """``{dist-info: [Tag, ...]}`` from each wheel's WHEEL file."""
    return {
        name.split("/")[1]: [
            line.removeprefix("Tag: ")
            for line in layer.read(name).decode().splitlines()
            if line.startswith("Tag:")
        ]
        for name in layer.namelist()
        if name.endswith(".dist-info/WHEEL")
    }


def top_level_imports() -> set[str]:
    """Every module the report function's code imports, by its top-level name (relative imports excluded)."""
    found: set[str] = set()
    for path in REPORT_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found - {"__future__"}


def test_the_layer_is_built_for_the_report_functions_runtime_and_architecture(
    layer: zipfile.ZipFile, report_function: dict[str, Any], synth: Synthesized
) -> None:
    # given the synthesized report function and its layer
    runtime = report_function["Runtime"]
    architecture = (report_function.get("Architectures") or ["x86_64"])[0]
    layers = synth.main.find_resources("AWS::Lambda::LayerVersion")
    (layer_version,) = [layers[ref["Ref"]] for ref in report_function["Layers"] if ref.get("Ref") in layers]
    assert layer_version["Properties"]["CompatibleRuntimes"] == [runtime]
    assert layer_version["Properties"]["CompatibleArchitectures"] == [architecture]
    python_tag = "cp" + runtime.removeprefix("python").replace(".", "")
    # when the wheels in the zip are read / then each is pure Python or built for that runtime and architecture
    tags = wheel_tags(layer)
    assert tags, "no wheel metadata in the layer"
    for dist, dist_tags in tags.items():
        for tag in dist_tags:
            interpreter, abi, platform_tag = tag.split("-")
            if platform_tag == "any":
                assert interpreter.startswith("py3") or interpreter == "py2", (dist, tag)
                continue
            assert (interpreter, abi) == (python_tag, python_tag), (dist, tag)
            assert platform_tag.startswith("manylinux") and platform_tag.endswith(architecture), (dist, tag)
    # and every compiled extension module is built for that interpreter and architecture
    extensions = [name for name in layer.namelist() if name.endswith(".so") and ".cpython-" in name]
    assert extensions
    suffix = f".cpython-{python_tag.removeprefix('cp')}-{architecture}-linux-gnu.so"
    assert [name for name in extensions if not name.endswith(suffix)] == []


def test_every_import_of_the_report_function_resolves_to_a_deployed_source(layer: zipfile.ZipFile) -> None:
    # given what the report function imports
    imports = top_level_imports()
    assert {"matplotlib", "numpy", "PIL"} <= imports
    # when each is looked up in the sources the deployed function has
    provided = sys.stdlib_module_names | ASSET_PACKAGES | RUNTIME_PACKAGES | POWERTOOLS_PACKAGES
    missing = sorted(name for name in imports if name not in provided and name not in layer_packages(layer))
    # then none is missing
    assert missing == []


def test_the_layers_pure_python_packages_import_from_the_layer_alone(
    layer: zipfile.ZipFile, tmp_path: Path
) -> None:
    # given the layer extracted as Lambda does (/opt/python on sys.path)
    layer.extractall(tmp_path)
    pure = ["cycler", "dateutil", "dateutil.parser", "pyparsing", "packaging.version", "six"]
    script = (
        "import sys, importlib\n"
        f"sys.path[:0] = [{str(tmp_path / 'python')!r}]\n"
        "for name in sys.argv[1:]:\n"
        "    module = importlib.import_module(name)\n"
        f"    assert module.__file__.startswith({str(tmp_path)!r}), (name, module.__file__)\n"
    )
    # when they are imported with no site-packages (-I -S), so only the layer can provide them
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, *pure], capture_output=True, text=True, timeout=120
    )
    # then every one imports from the layer
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def python312() -> str:
    """CPython 3.12 (``infra.layers.runtime312.find_python312``); none is a failure saying how to get one."""
    if platform.machine() != "x86_64":
        pytest.fail("the layer's binary wheels are manylinux x86_64: run this test on x86_64")
    found = find_python312()
    if found is None:
        pytest.fail(HOW_TO_GET_PYTHON312)
    return found


# gather and handler also need botocore, Powertools and pydantic (its compiled core): the runtime and the
# Powertools layer provide those on AWS; here they exist only for this venv's Python 3.11.
LAYER_ONLY_MODULES = ["report.curves", "report.examples", "report.figures", "report.labels", "report.model"]
LAYER_ONLY_MODULES += ["report.monitoring", "report.page", "report.team"]


def test_the_report_modules_import_and_draw_under_the_deployed_runtime(
    layer: zipfile.ZipFile, tmp_path: Path, python312: str
) -> None:
    # given the layer extracted as Lambda does and the function's code, under CPython 3.12 without site-packages
    layer.extractall(tmp_path)
    script = (
        "import importlib, io, sys\n"
        f"sys.path[:0] = [{str(tmp_path / 'python')!r}, {str(REPORT_DIR.parent)!r}]\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
        "import matplotlib, numpy, PIL.Image\n"
        f"assert matplotlib.__file__.startswith({str(tmp_path)!r}), matplotlib.__file__\n"
        "from matplotlib.figure import Figure\n"
        "from matplotlib.backends.backend_agg import FigureCanvasAgg\n"
        "figure = Figure(); FigureCanvasAgg(figure); figure.add_subplot().plot(numpy.arange(3))\n"
        "buffer = io.BytesIO(); figure.savefig(buffer, format='png')\n"
        "assert PIL.Image.open(io.BytesIO(buffer.getvalue())).size[0] > 0\n"
    )
    # when the report's modules are imported and a figure is drawn with the layer's matplotlib (Agg)
    result = subprocess.run(
        [python312, "-I", "-S", "-c", script, *LAYER_ONLY_MODULES],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # then they import and draw: the layer's binary wheels load under the deployed runtime's Python
    assert result.returncode == 0, result.stderr
