"""Automated labeling on the builtin service: the labeling function's loop actions (auto_start / auto_add /
auto_round / auto_finish) against moto S3. The test plays the other states: it writes each human batch's
output manifest (as a builtin batch job would) and the batch transform's predictions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from labeling import auto, handler

from tests.lambdas.conftest import DATA_BUCKET, Cloud, FakeContext

RUN = "pets-0123456789abcdef"
CLASSES = ["cat", "dog"]
NOW = 1_800_000_000.0
MODEL_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model/{}"
EARLIER = MODEL_ARN.format("pets-earlier-alm2-0")  # an earlier run's final labeling model
TRAINING = {"billable_seconds": 120, "instance_type": "ml.m5.xlarge", "instance_count": 1}
# The run's hyperparameters: the state machine passes them to auto_add and auto_round (a round that labels
# the rest may train the final labeling model).
HYPERPARAMETERS = {"epochs": "30", "mini_batch_size": "16", "image_shape": "3,28,28"}
TRANSFORM = {
    "created": "2027-01-15T08:00:00+00:00",
    "ended": "2027-01-15T08:01:00+00:00",
    "instance_type": "ml.m5.xlarge",
    "instance_count": 1,
}


def truth(index: int) -> int:
    return index % 2


def ref(index: int) -> str:
    return f"s3://{DATA_BUCKET}/images/pets/{index:03d}.png"


class Loop:
    """The state machine's side of the loop, played by the test."""

    def __init__(self, cloud: Cloud, context: FakeContext) -> None:
        self.cloud = cloud
        self.context = context
        self.answers = 0

    def invoke(self, action: str, **payload: Any) -> dict[str, Any]:
        return handler.lambda_handler({"action": action, **payload}, self.context)

    def read_uri(self, uri: str) -> bytes:
        bucket, _, key = uri[len("s3://") :].partition("/")
        return bytes(self.cloud.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def start(self, count: int, **settings: Any) -> dict[str, Any]:
        body = "".join(json.dumps({"source-ref": ref(i), "id": i}) + "\n" for i in range(count))
        self.cloud.put("incoming/pets.manifest", body)
        return self.invoke(
            "auto_start",
            run_id=RUN,
            task_type="image-classification",
            manifest_uri=f"s3://{DATA_BUCKET}/incoming/pets.manifest",
            label_attribute="category",
            class_names=CLASSES,
            settings={"output_path": f"s3://{DATA_BUCKET}/labeling/", **settings},
        )

    def from_earlier(self, count: int, **settings: Any) -> dict[str, Any]:
        """A run of ``count`` objects started from the earlier model :data:`EARLIER`, after people labeled
        its validation sample (the view whose next step is the earlier model's transform)."""
        return self.label(self.start(count, initial_active_learning_model_arn=EARLIER, **settings))

    def batch(self, view: dict[str, Any]) -> list[int]:
        lines = self.read_uri(view["batch_manifest_uri"]).decode().splitlines()
        return [json.loads(line)["id"] for line in lines]

    def label(
        self, view: dict[str, Any], wrong: frozenset[int] = frozenset(), missing: frozenset[int] = frozenset()
    ) -> dict[str, Any]:
        """People label the batch (the batch job's output manifest), three answers each: right, except
        the objects in ``wrong``; the objects in ``missing`` get no label (the job ended without one)."""
        indices = [i for i in self.batch(view) if i not in missing]
        key = f"labeling/{RUN}-al{view['round']}-0/manifests/output/output.manifest"
        given = {i: 1 - truth(i) if i in wrong else truth(i) for i in indices}
        lines = [
            {
                "source-ref": ref(i),
                "id": i,
                "category": given[i],
                "category-metadata": {"class-name": CLASSES[given[i]], "human-annotated": "yes"},
            }
            for i in indices
        ]
        self.cloud.put(key, "".join(json.dumps(line) + "\n" for line in lines))
        self.answers += 3 * len(indices)
        team = {"answers": 3 * len(indices), "objects": len(indices), "mean_seconds_per_task": 4.0}
        return self.invoke(
            "auto_add",
            state_uri=view["state_uri"],
            batch={"output_uri": f"s3://{DATA_BUCKET}/{key}", "team": team},
            hyperparameters=HYPERPARAMETERS,
        )

    def transform(self, view: dict[str, Any], sure: Any, certainty: float = 0.97) -> None:
        """The batch transform's outputs: right at ``certainty`` where ``sure(index)``, else wrong at 0.55."""
        manifest = json.loads(self.read_uri(view["transform_manifest_uri"]))
        prefix = manifest[0]["prefix"]
        for relative in manifest[1:]:
            index = int(relative.rsplit("/", 1)[-1].split(".")[0])
            right = truth(index) if sure(index) else 1 - truth(index)
            confidence = certainty if sure(index) else 0.55
            probabilities = [confidence if c == right else 1 - confidence for c in range(len(CLASSES))]
            uri = f"{view['transform_output_uri']}{relative}.out"
            bucket, _, key = uri[len("s3://") :].partition("/")
            self.cloud.s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(probabilities).encode())
        assert prefix == f"s3://{DATA_BUCKET}/images/pets/"

    def earlier_round(self, view: dict[str, Any], arn: str) -> dict[str, Any]:
        """The round of an earlier run's model ``arn`` (no training job to price)."""
        return self.invoke(
            "auto_round",
            state_uri=view["state_uri"],
            model={"model_name": arn.rsplit("/", 1)[-1], "model_arn": arn},
            transform=TRANSFORM,
        )

    def round(self, view: dict[str, Any], model: str, training: Any = TRAINING) -> dict[str, Any]:
        return self.invoke(
            "auto_round",
            state_uri=view["state_uri"],
            model={"model_name": model, "model_arn": MODEL_ARN.format(model)},
            training=training,
            transform=TRANSFORM,
            hyperparameters=HYPERPARAMETERS,
        )


@pytest.fixture
def loop(cloud: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch) -> Loop:
    monkeypatch.setattr(handler, "clock", lambda: NOW)
    return Loop(cloud, context)


def test_people_label_a_random_batch_the_model_labels_what_it_is_sure_of_and_the_unsure_go_to_people_first(
    loop: Loop,
) -> None:
    # Given 100 objects, batches of 10 and a validation sample of 20
    view = loop.start(100, auto_batch_size=10, auto_validation_size=20, auto_max_rounds=3)
    # Then people first label a random batch: 10 training and 20 validation objects
    assert view["next"] == "label" and view["batch_size"] == 30 and view["remaining"] == 70
    first = loop.batch(view)
    assert first != sorted(first)  # shuffled, seeded by the run id
    # When they have labeled it, a labeling model is trained on the 10; the training job never sees the 20
    # (its validation channel is the 10: the threshold is calibrated on the 20, and the algorithm keeps the
    # epoch with the best validation metric)
    view = loop.label(view)
    assert view["next"] == "train"
    trained = {json.loads(line)["source-ref"] for line in loop.read_uri(view["train_uri"]).splitlines()}
    assert len(trained) == 10 and view["validation_uri"] == view["train_uri"]
    calibration = {ref(i) for i in first} - trained
    assert len(calibration) == 20
    predicted = json.loads(loop.read_uri(view["transform_manifest_uri"]))
    assert calibration <= {predicted[0]["prefix"] + relative for relative in predicted[1:]}
    assert view["hyperparameters"]["num_training_samples"] == "10"
    assert view["hyperparameters"]["mini_batch_size"] == "10"  # never more than the training set
    assert (
        view["hyperparameters"]["num_classes"] == "2" and view["hyperparameters"]["image_shape"] == "3,28,28"
    )
    # And when the model is sure and right about the human-labeled ones and the rest below 80, unsure (and
    # wrong) about the others
    loop.transform(view, lambda i: i < 80 or i in first)
    view = loop.round(view, "m1")
    # Then the objects below 80 are machine-labeled; of the 12 unsure left (1-2 batches) people get half, lowest first
    queue_left = [i for i in range(80, 100) if i not in first]
    assert view["next"] == "label" and view["machine"] == 70 - len(queue_left) and len(queue_left) == 12
    assert loop.batch(view) == sorted(queue_left)[:6]
    # When people label them and the retrained model is sure about the rest
    view = loop.label(view)
    assert view["next"] == "train" and view["hyperparameters"]["num_training_samples"] == "16"
    retrained_in, retrained_uri = view["round"], view["train_uri"]
    loop.transform(view, lambda i: True)
    view = loop.round(view, "m2")
    # Then it labels the rest, and a final labeling model is trained, with the run's hyperparameters, on every
    # label outside the validation sample: the 16 human training labels and the 64 machine labels
    assert view["next"] == "train" and view["remaining"] == 0 and view["machine"] == 64
    assert view["hyperparameters"]["num_training_samples"] == "80"
    # (in a round of its own: the training job is named after the round, and names are unique in SageMaker)
    assert view["round"] > retrained_in
    assert view["train_uri"] != retrained_uri
    assert view["hyperparameters"]["mini_batch_size"] == "16" and view["hyperparameters"]["epochs"] == "30"
    final_lines = [json.loads(line) for line in loop.read_uri(view["train_uri"]).splitlines()]
    final_refs = {line["source-ref"] for line in final_lines}
    assert len(final_refs) == 80 and not final_refs & calibration and trained <= final_refs
    assert all(line["category"] == truth(int(line["source-ref"][-7:-4])) for line in final_lines)
    assert sum(line["category-metadata"]["human-annotated"] == "no" for line in final_lines) == 64
    # And the transform predicts only the validation sample, on which its round measures it
    assert len(json.loads(loop.read_uri(view["transform_manifest_uri"]))) == 1 + 20
    loop.transform(view, lambda i: True)
    view = loop.round(view, "m-final")
    assert view["next"] == "finish" and view["machine"] == 64
    result = loop.invoke("auto_finish", state_uri=view["state_uri"])
    # Then every object is labeled once, right, in the input's order; machine labels say so
    counters = result["counters"]
    assert (
        counters["HumanLabeled"] == 36
        and counters["MachineLabeled"] == 64
        and counters["TotalLabeled"] == 100
    )
    lines = [json.loads(line) for line in loop.read_uri(result["output_uri"]).splitlines()]
    assert [line["id"] for line in lines] == list(range(100))
    assert all(line["category"] == truth(line["id"]) for line in lines)
    machine = [line for line in lines if line["category-metadata"]["human-annotated"] == "no"]
    assert len(machine) == 64
    assert all(line["category-metadata"]["confidence"] == 0.97 for line in machine)
    assert machine[0]["category-metadata"]["job-name"] == f"labeling-job/{RUN}-auto"
    # And the final model, the team's answers and the rounds' SageMaker cost are in the result
    assert result["job_output"]["FinalActiveLearningModelArn"] == MODEL_ARN.format("m-final")
    assert result["team"]["answers"] == loop.answers == 3 * 36
    rounds = result["auto_labeling"]["rounds"]
    assert [r["model"] for r in rounds] == ["m1", "m2", "m-final"] and rounds[0]["threshold"] == 0.97
    assert rounds[2]["final"] is True and rounds[2]["validation_accuracy"] == 1.0
    one_round = 0.23 * (120 + 60) / 3600  # ml.m5.xlarge: 120 s training + 60 s transform
    assert result["auto_labeling"]["model_usd"] == pytest.approx(3 * one_round, abs=1e-4)


def test_a_reused_model_predicts_first_after_people_label_only_the_validation_sample(loop: Loop) -> None:
    # Given a run that starts from an earlier run's model
    view = loop.start(
        60, auto_batch_size=10, auto_validation_size=20, initial_active_learning_model_arn=EARLIER
    )
    # Then people label only the 20 validation objects first
    assert view["batch_size"] == 20 and view["remaining"] == 40
    # And when they have, the earlier model predicts without training
    view = loop.label(view)
    assert view["next"] == "transform" and view["model_name"] == "pets-earlier-alm2-0"
    loop.transform(view, lambda i: True)
    view = loop.earlier_round(view, EARLIER)
    # Then it labels the other 40: 20 human answers-worth of objects instead of 60
    assert view["next"] == "finish" and view["machine"] == 40 and view["human"] == 20
    result = loop.invoke("auto_finish", state_uri=view["state_uri"])
    assert result["job_output"]["FinalActiveLearningModelArn"] == EARLIER
    assert result["auto_labeling"]["initial_model_arn"] == EARLIER


def test_a_model_that_expects_its_labels_below_95_percent_right_labels_nothing_whatever_its_sample(
    loop: Loop,
) -> None:
    # Given a run from an earlier model that is right about all 20 validation objects (a threshold: 20 of 20
    # agree) but only 90 % sure of every object
    view = loop.from_earlier(60, auto_batch_size=10, auto_validation_size=20)
    loop.transform(view, lambda i: True, certainty=0.9)
    # When its round is decided
    view = loop.earlier_round(view, EARLIER)
    # Then it machine-labels nothing (it expects its own labels 90 % right) and people get the next batch
    assert view["next"] == "label" and view["machine"] == 0 and view["batch_size"] == 10
    # And the round records the sample's threshold it did not use
    record = json.loads(loop.read_uri(view["state_uri"]))["rounds"][0]
    assert record["threshold"] is None and record["validated_threshold"] == 0.9
    assert record["machine_labeled"] == 0 and record["validation_accuracy"] == 1.0


def test_a_run_from_an_earlier_model_trains_its_next_model_on_its_machine_labels_too(loop: Loop) -> None:
    # Given a run that starts from an earlier model, sure of the even objects only
    view = loop.from_earlier(60, auto_batch_size=10, auto_validation_size=20)
    validation = set(json.loads(loop.read_uri(view["state_uri"]))["validation"])
    loop.transform(view, lambda i: i % 2 == 0 or i in validation)
    view = loop.earlier_round(view, EARLIER)
    machine = view["machine"]
    assert view["next"] == "label" and machine > 0 and view["batch_size"] == 10
    # When people have labeled the 10 it was least sure of
    view = loop.label(view)
    # Then the next model trains on those 10 and on the earlier model's machine labels, not on the 10 alone
    assert view["next"] == "train"
    assert view["hyperparameters"]["num_training_samples"] == str(10 + machine)
    lines = [json.loads(line) for line in loop.read_uri(view["train_uri"]).decode().splitlines()]
    annotated = [line["category-metadata"]["human-annotated"] for line in lines]
    assert (annotated.count("yes"), annotated.count("no")) == (10, machine)
    assert not {ref(i) for i in validation} & {line["source-ref"] for line in lines}


def test_after_the_last_round_people_label_everything_left(loop: Loop) -> None:
    # Given one model round at most and a model that is never sure
    view = loop.label(loop.start(70, auto_batch_size=10, auto_validation_size=20, auto_max_rounds=1))
    loop.transform(view, lambda i: False)
    view = loop.round(view, "m1")
    # Then of the 20 validation objects it disputes, the 2 it is surest of (a tenth of the sample and of
    # the 40 objects left: the verification cap) go to people once more, who confirm their labels
    assert view["next"] == "label" and view["batch_size"] == 2
    view = loop.label(view)
    # And nothing is machine-labeled and the last batch is all 40 objects left
    assert view["next"] == "label" and view["machine"] == 0 and view["batch_size"] == 40
    # And once people have labeled them, a final labeling model is trained on all 50 human training labels,
    # and the transform predicts only the validation sample (nothing is left to label)
    view = loop.label(view)
    assert view["next"] == "train" and view["hyperparameters"]["num_training_samples"] == "50"
    assert len(json.loads(loop.read_uri(view["transform_manifest_uri"]))) == 1 + 20
    loop.transform(view, lambda i: True)
    # When its round comes back, although it disputes none, nothing is verified or machine-labeled: the loop ends
    view = loop.round(view, "m-final")
    assert view["next"] == "finish" and view["machine"] == 0
    result = loop.invoke("auto_finish", state_uri=view["state_uri"])
    assert result["counters"]["HumanLabeled"] == 70 and result["counters"]["MachineLabeled"] == 0
    first, final = result["auto_labeling"]["rounds"]
    assert first["verification_answers"] == 2 and "final" not in first
    # Then the final model is the run's (a later run starts from it), its round recorded and priced
    assert result["job_output"]["FinalActiveLearningModelArn"] == MODEL_ARN.format("m-final")
    assert final["final"] is True and final["validation_accuracy"] == 1.0 and final["machine_labeled"] == 0
    assert final["verification_answers"] == 0 and final["threshold"] is None
    one_round = 0.23 * (120 + 60) / 3600  # ml.m5.xlarge: 120 s training + 60 s transform
    assert result["auto_labeling"]["model_usd"] == pytest.approx(2 * one_round, abs=1e-4)


def test_no_final_model_for_a_few_more_labels_or_a_run_that_never_trained_one(loop: Loop) -> None:
    # Given a run whose model (trained on 20) is unsure of the one object queued
    view = loop.start(41, auto_batch_size=20, auto_validation_size=20, auto_max_rounds=1)
    unsure = (set(range(41)) - set(loop.batch(view))).pop()
    view = loop.label(view)
    assert view["hyperparameters"]["num_training_samples"] == "20"
    loop.transform(view, lambda i: i != unsure)
    view = loop.round(view, "m1")
    assert view["next"] == "label" and view["batch_size"] == 1 and view["machine"] == 0
    # When people label it, the loop ends: 21 labels are not worth a final training job (under a tenth more)
    view = loop.label(view)
    assert view["next"] == "finish"
    result = loop.invoke("auto_finish", state_uri=view["state_uri"])
    assert result["job_output"]["FinalActiveLearningModelArn"] == MODEL_ARN.format("m1")


def test_a_run_from_an_earlier_model_keeps_it_as_its_final_model_when_people_label_the_rest(
    loop: Loop,
) -> None:
    # Given a run that starts from an earlier model that is never sure on this data
    view = loop.from_earlier(40, auto_validation_size=20, auto_max_rounds=1)
    loop.transform(view, lambda i: False)
    view = loop.earlier_round(view, EARLIER)
    while view["next"] == "label":  # verification, then the 20 left
        view = loop.label(view)
    # Then no model is trained on its 20 hardest labels alone: the earlier model stays the final one
    assert view["next"] == "finish"
    result = loop.invoke("auto_finish", state_uri=view["state_uri"])
    assert result["counters"]["HumanLabeled"] == 40
    assert result["job_output"]["FinalActiveLearningModelArn"] == EARLIER


def test_an_unknown_instance_type_leaves_the_cost_unpriced_not_wrong(loop: Loop) -> None:
    # Given a round on an instance type without a price
    view = loop.label(loop.start(50, auto_batch_size=10, auto_validation_size=20))
    loop.transform(view, lambda i: True)
    view = loop.round(view, "m1", training={**TRAINING, "instance_type": "ml.x99.huge"})
    # Then the round's seconds are recorded and its cost is None
    result = loop.invoke("auto_finish", state_uri=view["state_uri"])
    assert result["auto_labeling"]["rounds"][0]["training_seconds"] == 120
    assert result["auto_labeling"]["model_usd"] is None


def test_bad_input_fails_with_the_reason(loop: Loop) -> None:
    # Given a payload of a task type the loop does not label / Then it fails naming it
    with pytest.raises(auto.AutoLabelingFailed, match="object-detection runs; got semantic-segmentation"):
        loop.invoke(
            "auto_start",
            run_id=RUN,
            task_type="semantic-segmentation",
            manifest_uri=f"s3://{DATA_BUCKET}/incoming/none.manifest",
            label_attribute="boxes",
            class_names=CLASSES,
        )
    # And a state that does not exist is named
    with pytest.raises(auto.AutoLabelingFailed, match="cannot be read"):
        loop.invoke("auto_finish", state_uri=f"s3://{DATA_BUCKET}/labeling/auto/none/state.json")
