"""Every function the stacks deploy imports under the deployed runtime, CPython 3.12 (issue 14).

Functions deploy on ``python3.12`` with the public Powertools v3 layer; the local cloud runs them on 3.11, so
an import that only works on 3.11 (or a package only this venv has) would pass every other test and fail on
AWS at the first invocation. For each ``AWS::Lambda::Function`` of the synthesized app, its code asset and
the layer assets the template references are put on ``sys.path`` in Lambda's order (code, then layers'
``python/``: https://docs.aws.amazon.com/lambda/latest/dg/packaging-layers.html#packaging-layers-paths), then
what the runtime and the Powertools layer provide (build/lambda-runtime-py312, ``make lambda-runtime``), and
the handler's module is imported by CPython 3.12 with no site-packages (``-I -S``). No 3.12 is a failure that
says how to get one (``make python312``), never a skip.
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from infra.layers.runtime312 import HOW_TO_GET_PYTHON312, RUNTIME_DIR, find_python312, runtime_is_current
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.conftest import synth_builtin as synth_builtin  # a fixture, re-exported

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
IMPORT = """
import importlib, json, sys
sys.path[:0] = json.loads(sys.argv[1])
module = importlib.import_module(sys.argv[2])
assert callable(getattr(module, sys.argv[3])), sys.argv[3]
for name in ("aws_lambda_powertools", "pydantic_core", "boto3"):
    loaded = sys.modules.get(name)
    assert loaded is None or not loaded.__file__.startswith(sys.base_prefix), (name, loaded.__file__)
"""


@pytest.fixture(scope="module")
def python312() -> str:
    found = find_python312()
    if found is None:
        pytest.fail(HOW_TO_GET_PYTHON312)
    return found


@pytest.fixture(scope="module")
def runtime() -> Path:
    if not runtime_is_current():
        pytest.fail(f"{RUNTIME_DIR} is missing or stale: run `make lambda-runtime`")
    return RUNTIME_DIR


def asset_path(synth: Synthesized, code: dict[str, Any], tmp: Path) -> Path:
    """The directory Lambda would unpack ``code`` (an S3 asset reference) to."""
    key = code["S3Key"]
    path = Path(synth.app.outdir) / f"asset.{str(key).removesuffix('.zip')}"
    if path.is_dir():
        return path
    archive = path.with_name(path.name + ".zip") if path.with_name(path.name + ".zip").is_file() else path
    target = tmp / path.name
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(target)
    return target


def environment(function: dict[str, Any]) -> dict[str, str]:
    """The function's variables, each token (a reference resolved at deploy) as a placeholder string."""
    variables = function.get("Environment", {}).get("Variables", {})
    values = {name: value if isinstance(value, str) else "placeholder" for name, value in variables.items()}
    return {
        **values,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }


def deployed_functions(synth: Synthesized) -> dict[str, tuple[Any, dict[str, Any]]]:
    """``{logical id: (template, properties)}`` of every function of both stacks with a code asset (CDK's own
    inline helpers, such as the bucket notifications handler, are not this project's code)."""
    found = {}
    for template in (synth.data, synth.main):
        for logical_id, resource in template.find_resources("AWS::Lambda::Function").items():
            if "S3Key" in resource["Properties"]["Code"]:
                found[logical_id] = (template, resource["Properties"])
    return found


def layer_paths(synth: Synthesized, template: Any, function: dict[str, Any], tmp: Path) -> list[Path]:
    """The ``python/`` directories of the layers the stack builds (ARN layers: Powertools, in the runtime)."""
    paths = []
    layers = template.find_resources("AWS::Lambda::LayerVersion")
    for layer in function.get("Layers", []):
        if isinstance(layer, dict) and "Ref" in layer:
            content = layers[layer["Ref"]]["Properties"]["Content"]
            paths.append(asset_path(synth, content, tmp) / "python")
        else:
            assert "AWSLambdaPowertoolsPythonV3-python312" in json.dumps(layer), layer
    return paths


@pytest.fixture(scope="module")
def synth_monitoring() -> Synthesized:
    """The optional functions on: drift monitoring (the monitor), idle parking (idle), the feedback
    harvester (harvest) and label-error finding (label_errors, on the builtin backend with review) exist
    only when their settings are on."""
    return synthesize(
        monitoring={"enabled": True},
        endpoint={"instanceType": "ml.m5.xlarge", "instanceCount": 1, "idleMinutes": 30},
        harvest={"enabled": True},
        labelingBackend="builtin",
        labeling={"review": {"enabled": True}},
        labelErrors={"enabled": True},
    )


def test_every_function_imports_under_python_3_12(
    synth: Synthesized,
    synth_builtin: Synthesized,
    synth_monitoring: Synthesized,
    python312: str,
    runtime: Path,
    tmp_path: Path,
) -> None:
    # given every function of the synthesized app with either labeling backend and with the optional ones on,
    # on the python3.12 runtime
    apps = {"ground-truth": synth, "builtin": synth_builtin, "monitoring": synth_monitoring}
    functions = {
        (app, key): value for app, built in apps.items() for key, value in deployed_functions(built).items()
    }
    packages = {function["Handler"].split(".")[0] for _, function in functions.values()}
    assert packages == {path.parent.name for path in LAMBDAS.glob("*/handler.py")}
    failures = {}
    for (app, logical_id), (template, function) in functions.items():
        assert function["Runtime"] == "python3.12", logical_id
        module, handler = function["Handler"].rsplit(".", 1)
        code = asset_path(apps[app], function["Code"], tmp_path)
        path = [code, *layer_paths(apps[app], template, function, tmp_path), runtime]
        # when its handler's module is imported by CPython 3.12 with only its code, its layers and the runtime
        result = subprocess.run(
            [python312, "-I", "-S", "-c", IMPORT, json.dumps([*map(str, path)]), module, handler],
            capture_output=True,
            text=True,
            timeout=120,
            env=environment(function),
        )
        if result.returncode != 0:
            failures[(app, logical_id)] = result.stderr.strip().splitlines()[-3:]
    # then every one imports
    assert failures == {}
