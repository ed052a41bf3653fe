"""Large images in the templates (issue 19): the /uploads route, the uploads/ lifecycle rule, the uploads
function's and predict's least-privilege access, and predict's Pillow layer (README "Large images")."""

from __future__ import annotations

import json
import zipfile
from typing import Any

import pytest

from infra.layers import IMAGE_LAYER_ZIP, require_layer, unzipped_size
from tests.infra.conftest import Synthesized
from tests.infra.test_feedback_capture import statements_of
from tests.infra.test_security import as_list, object_prefixes


def function_properties(synth: Synthesized, prefix: str) -> dict[str, Any]:
    functions = synth.main.find_resources("AWS::Lambda::Function")
    return next(f["Properties"] for lid, f in functions.items() if lid.startswith(prefix))


def test_uploads_expire_after_a_day(synth: Synthesized) -> None:
    # Given the data bucket's lifecycle / Then uploads/ (and its old versions) go after one day
    rules = [
        rule
        for bucket in synth.data.find_resources("AWS::S3::Bucket").values()
        for rule in bucket["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
    ]
    assert next(rule for rule in rules if rule.get("Prefix") == "uploads/") == {
        "Id": "ExpireUploads",
        "Prefix": "uploads/",
        "ExpirationInDays": 1,
        "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        "Status": "Enabled",
    }


@pytest.mark.parametrize(
    ("which", "auth", "key"), [("synth", "AWS_IAM", False), ("synth_api_key", "NONE", True)]
)
def test_uploads_route_has_the_same_auth_as_predict(
    which: str, auth: str, key: bool, request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(which)
    synth.main.has_resource_properties("AWS::ApiGateway::Resource", {"PathPart": "uploads"})
    methods = synth.main.find_resources("AWS::ApiGateway::Method", {"Properties": {"HttpMethod": "POST"}})
    routes = {lid: m["Properties"] for lid, m in methods.items() if "uploads" in lid or "predict" in lid}
    assert len(routes) == 2
    for properties in routes.values():
        assert properties["AuthorizationType"] == auth and properties.get("ApiKeyRequired", False) is key
    uploads = next(p for lid, p in routes.items() if "uploads" in lid)
    assert "ServingUploadsFunction" in json.dumps(uploads["Integration"]["Uri"])


def test_uploads_function_may_only_put_uploads_with_the_data_key(synth: Synthesized) -> None:
    # Given the uploads function's role (its credentials sign the presigned POST)
    statements = statements_of(synth, "ServingUploadsFunctionRole")
    actions = {a for s in statements for a in as_list(s["Action"])}
    # Then it may put objects under uploads/ and generate data keys with the data key, nothing else
    assert actions == {"s3:PutObject", "kms:GenerateDataKey", "logs:CreateLogStream", "logs:PutLogEvents"} | {
        a for a in actions if a.startswith("xray:")
    }
    assert object_prefixes(statements, "s3:PutObject") == {"uploads/"}
    key_statement = next(s for s in statements if "kms:GenerateDataKey" in as_list(s["Action"]))
    assert "StorageDataKey" in json.dumps(key_statement["Resource"])
    variables = function_properties(synth, "ServingUploadsFunction")["Environment"]["Variables"]
    assert "StorageDataKey" in json.dumps(variables["DATA_KEY_ARN"])
    assert "StorageDataBucket" in json.dumps(variables["DATA_BUCKET"])


def test_predict_loads_a_pillow_layer_and_has_memory_to_decode(synth: Synthesized) -> None:
    # Given predict's properties and the stack's layers
    predict = function_properties(synth, "ServingPredictFunction")
    layers = synth.main.find_resources("AWS::Lambda::LayerVersion")
    image = next(lid for lid in layers if lid.startswith("ServingImageLayer"))
    # Then predict loads Powertools and the Pillow layer (not the report's), and has 1 GB to decode an upload
    assert len(predict["Layers"]) == 2 and {"Ref": image} in predict["Layers"]
    assert "AWSLambdaPowertoolsPythonV3" in json.dumps(
        [la for la in predict["Layers"] if la != {"Ref": image}]
    )
    assert layers[image]["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    assert predict["MemorySize"] == 1024


def test_the_pillow_layer_is_pillow_alone_and_small() -> None:
    # Given the built layer (make layers) / Then it holds Pillow for CPython 3.12 x86_64 and nothing else
    with zipfile.ZipFile(require_layer(IMAGE_LAYER_ZIP)) as archive:
        names = archive.namelist()
    packages = {name.split("/")[1] for name in names if name.count("/") >= 2}
    assert {p for p in packages if not p.lower().startswith("pillow")} == {"PIL"}
    assert any(name.startswith("python/PIL/_imaging.cpython-312-x86_64-linux-gnu") for name in names)
    assert unzipped_size(IMAGE_LAYER_ZIP) < 40_000_000
