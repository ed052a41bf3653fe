"""Automated labeling of bounding boxes on the builtin service: the loop's actions against moto S3, with a
labeling model whose box scores are far below 0.5 (as the local detector's are after one small batch).

The test plays the other states, as tests/lambdas/test_handler_labeling_auto.py does: each human batch's
output manifest (Ground Truth's bounding-box labels) and the batch transform's answers (the built-in's
``{"prediction": [[class_id, score, xmin, ymin, xmax, ymax], ...]}``, coordinates relative). The images
are real PNGs in S3: the loop reads their size from the header.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from gtpipe_shared.labeling_suggestions import SUGGESTION_KEY
from labeling import auto, handler
from PIL import Image

from tests.lambdas.conftest import DATA_BUCKET, Cloud, FakeContext
from tests.lambdas.test_handler_labeling_auto import MODEL_ARN, NOW, RUN, Loop

CLASSES = ["circle", "square"]
# Every image has one object, here (pixels).
LEFT, TOP, WIDTH, HEIGHT = 10, 20, 40, 30


def size(index: int) -> tuple[int, int]:
    """Images differ in width: machine labels must be in each image's own pixels."""
    return 100 + index, 80


def truth(index: int) -> int:
    return index % 2


def ref(index: int) -> str:
    return f"s3://{DATA_BUCKET}/images/scenes/{index:03d}.png"


def sure(index: int) -> bool:
    """The model is right (and surer) about nine images in ten."""
    return index % 10 != 0


def relative(index: int, shift: int = 0) -> list[float]:
    width, height = size(index)
    return [(LEFT + shift) / width, TOP / height, (LEFT + shift + WIDTH) / width, (TOP + HEIGHT) / height]


def answer(index: int) -> dict[str, Any]:
    """Sure: the right box at 0.45 and a stray one at 0.03. Unsure: the right box and a second box of its
    class elsewhere, both at 0.42 (kept, they disagree with people's one box; dropped, nothing is found)."""
    if sure(index):
        return {"prediction": [[truth(index), 0.45, *relative(index)], [1, 0.03, 0.7, 0.1, 0.9, 0.3]]}
    return {
        "prediction": [[truth(index), 0.42, *relative(index)], [truth(index), 0.42, *relative(index, 45)]]
    }


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


class BoxLoop(Loop):
    """The state machine's side of the loop for a bounding-box run."""

    def start(self, count: int, **settings: Any) -> dict[str, Any]:
        for index in range(count):
            self.cloud.s3.put_object(
                Bucket=DATA_BUCKET, Key=ref(index).split("/", 3)[3], Body=png(*size(index))
            )
        body = "".join(json.dumps({"source-ref": ref(i), "id": i}) + "\n" for i in range(count))
        self.cloud.put("incoming/scenes.manifest", body)
        return self.invoke(
            "auto_start",
            run_id=RUN,
            task_type="object-detection",
            manifest_uri=f"s3://{DATA_BUCKET}/incoming/scenes.manifest",
            label_attribute="boxes",
            class_names=CLASSES,
            settings={"output_path": f"s3://{DATA_BUCKET}/labeling/", **settings},
        )

    def lines(self, view: dict[str, Any]) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.read_uri(view["batch_manifest_uri"]).decode().splitlines()]

    def label(self, view: dict[str, Any]) -> dict[str, Any]:
        """People draw the one box right (the batch job's bounding-box output), one answer each."""
        indices = self.batch(view)
        key = f"labeling/{RUN}-al{view['round']}-0/manifests/output/output.manifest"
        lines = []
        for i in indices:
            width, height = size(i)
            box = {
                "class_id": self.drawn_class(i),
                "left": LEFT,
                "top": TOP,
                "width": WIDTH,
                "height": HEIGHT,
            }
            lines.append(
                {
                    "source-ref": ref(i),
                    "id": i,
                    "boxes": {
                        "image_size": [{"width": width, "height": height, "depth": 3}],
                        "annotations": [box],
                    },
                    "boxes-metadata": {"objects": [{"confidence": 0.9}], "human-annotated": "yes"},
                }
            )
        self.cloud.put(key, "".join(json.dumps(line) + "\n" for line in lines))
        self.answers += len(indices)
        return self.invoke(
            "auto_add",
            state_uri=view["state_uri"],
            batch={"output_uri": f"s3://{DATA_BUCKET}/{key}", "team": {"answers": len(indices)}},
            hyperparameters={
                "epochs": "24",
                "lr_scheduler_step": "21",
                "mini_batch_size": "16",
                "image_shape": "96",
            },
        )

    def drawn_class(self, index: int) -> int:
        """The class people give the image's box (here: the right one)."""
        return truth(index)

    def verified(self, view: dict[str, Any]) -> dict[str, Any]:
        """People answer the round's verification batches (disputed validation images), drawing their one
        box again; the view after them."""
        while "pending_verification" in json.loads(self.read_uri(view["state_uri"])):
            view = self.label(view)
        return view

    def transform(self, view: dict[str, Any], sure: Any = None) -> None:
        """The batch transform's answers (:func:`answer`)."""
        manifest = json.loads(self.read_uri(view["transform_manifest_uri"]))
        for name in manifest[1:]:
            index = int(name.rsplit("/", 1)[-1].split(".")[0])
            bucket, _, key = f"{view['transform_output_uri']}{name}.out"[len("s3://") :].partition("/")
            self.cloud.s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(answer(index)).encode())


@pytest.fixture
def loop(cloud: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch) -> BoxLoop:
    monkeypatch.setattr(handler, "clock", lambda: NOW)
    return BoxLoop(cloud, context)


def test_a_detector_scoring_below_one_half_machine_labels_boxes_in_each_images_pixels(loop: BoxLoop) -> None:
    # Given 160 box images, batches of 20 and a validation sample of 60 (boxes' threshold needs 44 agreeing
    # images: labeling.auto.BOX_CREDIBILITY), one model round
    view = loop.start(160, auto_batch_size=20, auto_validation_size=60, auto_max_rounds=1)
    # When people have labeled the first batch, the detector is trained with a label width for their boxes
    view = loop.label(view)
    assert view["next"] == "train"
    assert view["hyperparameters"]["num_training_samples"] == "20"
    assert view["hyperparameters"]["label_width"] == "350"  # the built-in's default fits one box a label
    assert (view["hyperparameters"]["epochs"], view["hyperparameters"]["lr_scheduler_step"]) == ("24", "21")
    # And it answers with every box scored below 0.5
    loop.transform(view)
    view = loop.verified(loop.round(view, "m1"))
    # Then the round calibrates the score cut-off on the validation sample below 0.5 (between the stray
    # boxes' 0.03 and the right boxes' 0.45) and machine-labels the images it is sure of: every one right,
    # none of the unsure ones
    state = json.loads(loop.read_uri(view["state_uri"]))
    cutoff = state["rounds"][0]["box_cutoff"]
    assert 0.03 < cutoff < 0.45
    machine = {int(i) for i in state["machine"]}
    queue = set(range(160)) - {int(i) for i in state["human"]}
    assert machine == {i for i in queue if sure(i)}
    # And the unsure ones go to people with the model's boxes drawn as the suggestion (pre-annotation)
    assert view["next"] == "label" and view["batch_size"] == len(queue) - len(machine)
    suggested = loop.lines(view)
    assert {line["id"] for line in suggested} == queue - machine
    first = suggested[0]
    assert first[SUGGESTION_KEY]["image_size"] == dict(
        zip(("width", "height"), size(first["id"]), strict=True)
    )
    assert [box["class_id"] for box in first[SUGGESTION_KEY]["boxes"]] == [truth(first["id"])] * 2
    assert [box["score"] for box in first[SUGGESTION_KEY]["boxes"]] == [0.42, 0.42]
    # When people have labeled them, the final labeling model is trained on every label outside the
    # validation sample (people's and the machine's boxes), and with its round the loop finishes (nothing
    # left to machine-label)
    view = loop.label(view)
    labeled = len({int(i) for i in state["human"]} - set(state["validation"])) + len(queue)
    assert view["next"] == "train" and view["hyperparameters"]["num_training_samples"] == str(labeled)
    loop.transform(view)
    view = loop.round(view, "m-final")
    assert view["next"] == "finish"
    result = loop.invoke("auto_finish", state_uri=view["state_uri"])
    assert result["job_output"]["FinalActiveLearningModelArn"] == MODEL_ARN.format("m-final")
    assert result["counters"]["MachineLabeled"] == len(machine)
    assert result["counters"]["TotalLabeled"] == 160
    # Then the machine labels are Ground Truth's bounding-box labels in each image's own pixels
    lines = {
        json.loads(line)["id"]: json.loads(line) for line in loop.read_uri(result["output_uri"]).splitlines()
    }
    for index in machine:
        label, metadata = lines[index]["boxes"], lines[index]["boxes-metadata"]
        width, height = size(index)
        assert label["image_size"] == [{"width": width, "height": height, "depth": 3}]
        assert label["annotations"] == [
            {"class_id": truth(index), "left": LEFT, "top": TOP, "width": WIDTH, "height": HEIGHT}
        ]
        assert metadata["human-annotated"] == "no" and metadata["type"] == "groundtruth/object-detection"
        assert metadata["objects"] == [{"confidence": 0.45}]
        assert metadata["class-map"] == {str(truth(index)): CLASSES[truth(index)]}
        assert metadata["job-name"] == f"labeling-job/{RUN}-auto"
    assert result["auto_labeling"]["rounds"][0]["model"] == "m1"
    # And the round is priced as for classes (its training and transform)
    assert result["auto_labeling"]["model_usd"] > 0


def test_boxes_need_a_stricter_threshold_than_classes(loop: BoxLoop) -> None:
    # Given 100 box images, a batch of 20 and 30 validation images (too few left to widen), one round, and a
    # detector right and sure on 27 of the 30: enough for a class's threshold (20 of 20 at credibility 0.65)
    view = loop.start(100, auto_batch_size=20, auto_validation_size=30, auto_max_rounds=1)
    state = json.loads(loop.read_uri(view["state_uri"]))
    assert state["plan"]["credibility"] == auto.BOX_CREDIBILITY > auto.CREDIBILITY
    view = loop.label(view)
    loop.transform(view)
    view = loop.round(view, "m1")
    # Then no box threshold is reached (44 of 44 agreeing images needed): people label every image left
    state = json.loads(loop.read_uri(view["state_uri"]))
    assert state["rounds"][0]["threshold"] is None and state["machine"] == {}
    assert view["next"] == "label" and view["batch_size"] == 50


def test_an_image_whose_header_cannot_be_read_is_left_to_people(loop: BoxLoop) -> None:
    # Given a run whose images are sure predictions, one of which is not an image (no size to draw on)
    view = loop.start(140, auto_batch_size=20, auto_validation_size=60, auto_max_rounds=1)
    queue = set(range(140)) - set(loop.batch(view))
    broken = min(i for i in queue if sure(i))
    loop.cloud.s3.put_object(Bucket=DATA_BUCKET, Key=ref(broken).split("/", 3)[3], Body=b"not an image")
    view = loop.label(view)
    loop.transform(view)
    view = loop.verified(loop.round(view, "m1"))
    # Then it is not machine-labeled but sent to people, without a suggestion
    state = json.loads(loop.read_uri(view["state_uri"]))
    assert str(broken) not in state["machine"] and view["machine"] > 0
    line = next(line for line in loop.lines(view) if line["id"] == broken)
    assert SUGGESTION_KEY not in line


def test_the_labeling_models_epochs_move_the_runs_learning_rate_schedule_with_them(loop: BoxLoop) -> None:
    # Given a run training 24 epochs with the learning rate cut at epoch 21, and a labeling model of 96 epochs
    view = loop.start(60, auto_batch_size=20, auto_validation_size=20, auto_epochs=96)
    # When its first model is trained
    view = loop.label(view)
    # Then the cut comes at the same share of its epochs (84 of 96), not after 21 of them
    assert view["next"] == "train"
    assert (view["hyperparameters"]["epochs"], view["hyperparameters"]["lr_scheduler_step"]) == ("96", "84")


def test_the_labeling_models_own_hyperparameters_go_over_the_runs(loop: BoxLoop) -> None:
    # Given a labeling model with 96 epochs, a smaller mini-batch and its own learning-rate cut
    view = loop.start(
        60,
        auto_batch_size=20,
        auto_validation_size=20,
        auto_epochs=96,
        auto_hyperparameters={"mini_batch_size": "4", "lr_scheduler_step": "60", "learning_rate": "0.0005"},
    )
    # When its first model is trained
    view = loop.label(view)
    # Then its training job has them, over the run's and over the moved schedule; the rest stays the run's
    hps = view["hyperparameters"]
    assert (hps["epochs"], hps["lr_scheduler_step"]) == ("96", "60")
    assert (hps["mini_batch_size"], hps["learning_rate"]) == ("4", "0.0005")
    assert (hps["image_shape"], hps["num_training_samples"], hps["num_classes"]) == ("96", "20", "2")


class WrongAtTopLoop(BoxLoop):
    """A detector as :func:`answer`'s, but sure (one box at 0.9) of the wrong class on one image."""

    wrong = -1

    def transform(self, view: dict[str, Any], sure: Any = None) -> None:
        manifest = json.loads(self.read_uri(view["transform_manifest_uri"]))
        for name in manifest[1:]:
            index = int(name.rsplit("/", 1)[-1].split(".")[0])
            body = answer(index)
            if index == self.wrong:
                body = {"prediction": [[1 - truth(index), 0.9, *relative(index)]]}
            bucket, _, key = f"{view['transform_output_uri']}{name}.out"[len("s3://") :].partition("/")
            self.cloud.s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body).encode())


def test_a_box_round_without_a_threshold_widens_its_validation_sample_too(
    cloud: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handler, "clock", lambda: NOW)
    loop = WrongAtTopLoop(cloud, context)
    # Given 200 box images, a first batch of 20 and 30 validation images, one of which the detector is
    # surer of than of any other image and wrong about (30 images reach no box threshold whatever their
    # labels, 44 agreeing are needed, so no dispute is worth verifying yet)
    view = loop.start(200, auto_batch_size=20, auto_validation_size=30, auto_max_rounds=1)
    loop.wrong = loop.batch(view)[20]
    view = loop.label(view)
    loop.transform(view)
    queue = set(json.loads(loop.read_uri(view["state_uri"]))["queue"])
    view = loop.round(view, "m1")
    # Then people first label 30 queued images as more validation, without suggestions
    state = json.loads(loop.read_uri(view["state_uri"]))
    assert view["next"] == "label" and view["batch_size"] == 30 and view["machine"] == 0
    drawn = loop.batch(view)
    assert state["pending_widening"] == drawn and set(drawn) <= queue
    assert not any(SUGGESTION_KEY in line for line in loop.lines(view))
    # When they answer (and the round widens again while no threshold is reached, and people confirm their
    # boxes on the disputed images it can reach)
    while state.get("pending_widening") or state.get("pending_verification"):
        view = loop.label(view)
        state = json.loads(loop.read_uri(view["state_uri"]))
    assert state["rounds"][0]["verification_answers"] > 0
    # Then the wider sample reaches a threshold with the same predictions and the images the detector is
    # sure of are machine-labeled, right
    [record] = state["rounds"]
    assert record["validation_added"] >= 30 and record["threshold"] is not None
    assert len(state["validation"]) == 30 + record["validation_added"]
    machine = {int(i) for i in state["machine"]}
    assert machine and all(sure(i) and i != loop.wrong for i in machine)
    assert all(state["machine"][str(i)]["boxes"]["annotations"][0]["class_id"] == truth(i) for i in machine)


class SlipLoop(BoxLoop):
    """People give the wrong class to the ``slips`` images the first time they are asked, the right one
    after."""

    slips: frozenset[int] = frozenset()

    def __init__(self, cloud: Cloud, context: FakeContext) -> None:
        super().__init__(cloud, context)
        self.asked: dict[int, int] = {}

    def drawn_class(self, index: int) -> int:
        self.asked[index] = self.asked.get(index, 0) + 1
        if index in self.slips and self.asked[index] == 1:
            return 1 - truth(index)
        return truth(index)


def test_peoples_slips_on_box_images_the_detector_is_sure_of_are_verified_so_the_round_reaches_a_threshold(
    cloud: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handler, "clock", lambda: NOW)
    loop = SlipLoop(cloud, context)
    # Given 160 box images, a batch of 20 and 60 validation images, one round, a detector right and sure on
    # 54 of the 60, and people who drew the wrong class on two of those 54 (two disagreements at the top: 104
    # validation images would be needed for the boxes' threshold)
    view = loop.start(160, auto_batch_size=20, auto_validation_size=60, auto_max_rounds=1)
    validation = json.loads(loop.read_uri(view["state_uri"]))["validation"]
    loop.slips = frozenset(sorted(i for i in validation if sure(i))[:2])
    view = loop.label(view)
    loop.transform(view)
    view = loop.round(view, "m1")
    # Then the round first sends the disputed images, the two slips among them, to people again, without
    # the model's boxes as a suggestion
    state = json.loads(loop.read_uri(view["state_uri"]))
    assert loop.slips <= set(state["pending_verification"]) and view["next"] == "label"
    assert not any(SUGGESTION_KEY in line for line in loop.lines(view))
    # When people answer (twice more for a slip: its two labels differ until a third settles it)
    view = loop.verified(view)
    # Then the slips' labels are the right boxes, and the round reaches a threshold on its 60 images (no
    # widening) and machine-labels the images the detector is sure of, right
    state = json.loads(loop.read_uri(view["state_uri"]))
    attribute = "boxes"
    for index in loop.slips:
        assert state["human"][str(index)][attribute]["annotations"][0]["class_id"] == truth(index)
        assert len(state["answers"][str(index)]) == 3
    [record] = state["rounds"]
    assert record["threshold"] is not None and record["validation_added"] == 0
    assert record["verification_answers"] >= 4
    queue = set(range(160)) - {int(i) for i in state["human"]}
    assert {int(i) for i in state["machine"]} == {i for i in queue if sure(i)}
