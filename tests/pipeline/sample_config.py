"""The synthesized PIPELINE_CONFIG of start_run, with CloudFormation intrinsics rendered as sample values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SAMPLE_BUCKET = "gtpipe-data-bucket"
PSEUDO_PARAMETERS = {
    "AWS::Region": "us-east-1",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::AccountId": "123456789012",
}


def resolve_tokens(value: Any) -> Any:
    """Render the intrinsics a synthesized environment variable may contain."""
    if isinstance(value, dict):
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(str(resolve_tokens(part)) for part in parts)
        if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
            text = value["Fn::Sub"]
            for name, sample in PSEUDO_PARAMETERS.items():
                text = text.replace("${" + name + "}", sample)
            return text
        if "Ref" in value:
            return PSEUDO_PARAMETERS.get(value["Ref"], f"ref-{value['Ref']}".lower()[:40])
        if "Fn::FindInMap" in value:
            return "432418664414"
        if "Fn::GetAtt" in value:
            return "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/labelers"
        if "Fn::ImportValue" in value:
            return SAMPLE_BUCKET
        raise AssertionError(f"unexpected intrinsic {value}")
    return value


def bundled_label_categories(synth: Any) -> list[str]:
    """The class names bundled with start_run's code (its label category file), as the function reads them."""
    (path,) = Path(synth.app.outdir).glob("gtpipe-bundled/start_run-*/start_run/label-categories.json")
    return [entry["label"] for entry in json.loads(path.read_text())["labels"]]


def synthesized_pipeline_config(synth: Any) -> str:
    """PIPELINE_CONFIG as start_run sees it, with sample values for references: the template's variable plus
    the label categories bundled with the function's code (the environment leaves them out, 4 KB limit)."""
    functions = synth.main.find_resources("AWS::Lambda::Function")
    start_run = next(f for f in functions.values() if f["Properties"]["Handler"].startswith("start_run."))
    config = json.loads(
        str(resolve_tokens(start_run["Properties"]["Environment"]["Variables"]["PIPELINE_CONFIG"]))
    )
    config.setdefault("label_categories", bundled_label_categories(synth))
    return json.dumps(config)
