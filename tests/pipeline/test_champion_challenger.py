"""The champion/challenger gate in the definition, executed in moto's Step Functions interpreter: a run
whose label set already serves compares its model with the serving one before it may deploy."""

from __future__ import annotations

import json
import os
from typing import Any

from tests.pipeline.harness import Pipeline, augmented_manifest
from tests.pipeline.harness import pipeline as pipeline  # fixture
from tests.pipeline.harness import pipeline_config as pipeline_config  # fixture


def champion_settings(**settings: Any) -> None:
    """Change ``config.champion`` of PIPELINE_CONFIG for the next drops (the fixture restores it)."""
    config = json.loads(os.environ["PIPELINE_CONFIG"])
    config.setdefault("champion", {}).update(settings)
    os.environ["PIPELINE_CONFIG"] = json.dumps(config)


def first_model_serves(pipeline: Pipeline) -> dict[str, Any]:
    first = pipeline.drop("incoming/first.manifest", augmented_manifest())
    described, entered = pipeline.wait(first["run_id"])
    assert described["status"] == "SUCCEEDED"
    # nothing served before: no comparison, the run deploys as it always did
    assert "TransformChampion" not in entered and "HasChampion" in entered
    pipeline.notifications()
    return pipeline.ledger("@serving")


def test_a_challenger_worse_than_the_serving_model_is_rejected_and_the_champion_keeps_serving(
    pipeline: Pipeline,
) -> None:
    # given a serving model that scores 0.95 on the comparison images
    serving_before = first_model_serves(pipeline)
    pipeline.doubles.champion_accuracy = 0.95
    # when a second run's model passes the fixed threshold (0.90 >= 0.8) but scores 0.90
    pipeline.doubles.accuracy = 0.90
    second = pipeline.drop("incoming/second.manifest", augmented_manifest(15))
    described, entered = pipeline.wait(second["run_id"])
    # then the serving model predicts the same validation images and the gate refuses the challenger
    assert described["status"] == "SUCCEEDED"
    assert entered[entered.index("QualityGate") :] == [
        "QualityGate",
        "FindChampion",
        "HasChampion",
        "CompareOnValidation",
        "TransformChampion",
        "CompareChampion",
        "ChampionGate",
        "ReportOnRejection",
        "RecordRejected",
        "Rejected",
    ]
    transforms = pipeline.sagemaker.jobs("transform")
    champion_job = next(job for job in transforms if job.name == f"{second['run_id']}-champ-0")
    assert champion_job.request["ModelName"] == serving_before["model_name"]
    challenger_job = next(job for job in transforms if job.name == f"{second['run_id']}-xform-0")
    assert (
        champion_job.request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
        == challenger_job.request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    )
    # and the ledger says REJECTED with the reason, nothing deployed, the champion still serves
    run = pipeline.ledger(second["run_id"])
    assert run["status"] == "REJECTED"
    assert run["rejection_reason"].startswith(
        "worse than the serving model: accuracy 0.9 < 0.95 - 0.02 margin"
    )
    assert run["metrics"]["champion"]["source_run_id"] == serving_before["source_run_id"]
    assert pipeline.ledger("@serving") == serving_before
    assert not [job for job in pipeline.sagemaker.jobs("endpoint-config") if second["run_id"] in job.name]
    # and the notification says so
    [notice] = pipeline.notifications()
    assert notice["status"] == "REJECTED" and notice["reason"] == run["rejection_reason"]


def test_a_challenger_within_the_margin_deploys(pipeline: Pipeline) -> None:
    # given a serving model scoring 0.93 and a challenger scoring 0.92 (1 point worse, margin 2)
    first_model_serves(pipeline)
    pipeline.doubles.champion_accuracy = 0.93
    pipeline.doubles.accuracy = 0.92
    second = pipeline.drop("incoming/second.manifest", augmented_manifest(15))
    described, entered = pipeline.wait(second["run_id"])
    # then it passes the champion gate and deploys
    assert described["status"] == "SUCCEEDED"
    assert entered[entered.index("ChampionGate") + 1] == "RegisterModel"
    assert pipeline.ledger("@serving")["source_run_id"] == second["run_id"]
    assert pipeline.ledger(second["run_id"])["metrics"]["champion"]["passed"] is True


def test_disabled_the_gate_looks_at_the_fixed_threshold_only(pipeline: Pipeline) -> None:
    # given championChallenger disabled and a serving model far better than the challenger
    first_model_serves(pipeline)
    champion_settings(enabled=False)
    pipeline.doubles.champion_accuracy = 0.99
    pipeline.doubles.accuracy = 0.85
    second = pipeline.drop("incoming/second.manifest", augmented_manifest(15))
    described, entered = pipeline.wait(second["run_id"])
    # then no comparison is made and the challenger deploys
    assert described["status"] == "SUCCEEDED"
    assert "TransformChampion" not in entered
    assert pipeline.ledger("@serving")["source_run_id"] == second["run_id"]


def test_with_a_golden_manifest_both_models_predict_its_images(pipeline: Pipeline) -> None:
    # given a golden manifest configured and a serving model
    first_model_serves(pipeline)
    champion_settings(golden_manifest="golden/digits.manifest")
    pipeline.doubles.champion_accuracy = 0.99
    second = pipeline.drop("incoming/second.manifest", augmented_manifest(15))
    _described, entered = pipeline.wait(second["run_id"])
    # then the golden images are prepared and both models predict them, then the comparison refuses it
    assert entered[entered.index("HasChampion") : entered.index("ChampionGate")] == [
        "HasChampion",
        "PrepareGolden",
        "TransformGolden",
        "TransformChampion",
        "CompareChampion",
    ]
    golden_images = f"s3://{pipeline_config_bucket()}/splits/{second['run_id']}/golden-images.manifest"
    for name in ("gold", "champ"):
        job = next(
            job for job in pipeline.sagemaker.jobs("transform") if job.name == f"{second['run_id']}-{name}-0"
        )
        assert job.request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == golden_images
    [compare] = [event for event in pipeline.doubles.called("evaluate") if "champion" in event]
    assert compare["golden"] is True
    assert compare["validation_uri"].endswith("/golden/digits.manifest")
    assert pipeline.ledger(second["run_id"])["status"] == "REJECTED"


def pipeline_config_bucket() -> str:
    return str(json.loads(os.environ["PIPELINE_CONFIG"])["data_bucket"])
