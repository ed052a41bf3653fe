"""Box scenes of fewer classes (the seed's three-job experiment has one): the demo task's class names and the
builtin-auto bench's ``--classes``."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.builtin_auto_bench import LoopSettings, _context, main
from local.drivers.demo_tasks import TASKS, DetectionDemo
from training.scenes import SCENE_CLASSES


def test_a_one_class_detection_demo_draws_and_names_only_that_class(tmp_path: Path) -> None:
    # Given the detection demo of stars only
    task = DetectionDemo(("star",))
    # When it draws 30 scenes and gives its synthesis context
    drawn = task.draw(tmp_path, images=30, holdout=0.0, bucket="data")
    context = task.context(epochs=None)
    # Then the label categories are the one class and every object is class 0, some scenes holding several
    assert context["gtpipe:labelCategories"] == ["star"]
    objects = [o for image in drawn for o in image.truth.objects]
    assert objects and {o.class_id for o in objects} == {0}
    assert max(len(image.truth.objects) for image in drawn) > 1
    assert all(a["class_id"] == 0 for image in drawn for a in image.reference["annotations"])


def test_the_default_detection_demo_keeps_all_four_shapes() -> None:
    assert TASKS["object-detection"].context(epochs=None)["gtpipe:labelCategories"] == list(SCENE_CLASSES)


def test_the_bench_context_labels_the_classes_it_was_given() -> None:
    # Given the bench's loop on circles only
    loop = LoopSettings(objects=60, batch=20, validation=10, rounds=1, epochs=2, classes=("circle",))
    # When it builds the runs' synthesis context
    context = _context("object-detection", loop, reuse=True)
    # Then the runs label circles, with automated labeling and reuse on
    assert context["gtpipe:labelCategories"] == ["circle"]
    assert context["gtpipe:labeling"]["autoLabeling"] is True
    assert context["gtpipe:labeling"]["reuseModel"] is True


def test_classes_on_digits_is_refused_by_name() -> None:
    with pytest.raises(SystemExit, match="--classes is for box scenes"):
        main(["--classes", "circle"])
