"""COCO, YOLO and Pascal VOC import and export (``gtpipe export``, ``gtpipe submit --format``), checked against
the formats' reference tools (pycocotools, globox) and a published VOC example (tests/data/formats/README.md),
in both directions."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from globox import Annotation, AnnotationSet, BoundingBox, BoxFormat
from gtpipe_shared.consolidation import Box
from gtpipe_shared.manifest import ManifestRules, validate_manifest
from gtpipe_shared.tasks import TaskType
from PIL import Image
from pycocotools.coco import COCO

from gtpipe_cli.errors import Exit
from gtpipe_cli.formats.model import Dataset, FormatError, Item, read_manifest, write_manifest
from gtpipe_cli.formats.registry import WRITERS, read_dataset
from gtpipe_cli.formats.voc import write_voc
from gtpipe_cli.label_commands import local_image_size
from tests.cli.conftest import gtpipe
from tests.cli.stacks import aws_stacks, put_run  # noqa: F401 (aws_stacks: a fixture)

PUBLISHED = Path(__file__).resolve().parents[1] / "data" / "formats"
CLASSES = ["cat", "dog", "bird"]
SIZES = {"a.jpg": (640, 480), "sub/b.jpg": (300, 200), "c.jpg": (50, 80)}


def draw_images(folder: Path, sizes: dict[str, tuple[int, int]] = SIZES) -> None:
    for name, size in sizes.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (90, 120, 30)).save(folder / name)


def detection() -> Dataset:
    items = [
        Item("a.jpg", boxes=[Box(0, 10, 20, 100, 50), Box(2, 0, 0, 640, 480)], width=640, height=480),
        Item("sub/b.jpg", boxes=[Box(1, 299, 150, 1, 50)], width=300, height=200),
        Item("c.jpg", boxes=[], width=50, height=80),
    ]
    return Dataset(TaskType.OBJECT_DETECTION, list(CLASSES), items)


def classification() -> Dataset:
    items = [Item("a.jpg", label=1), Item("sub/b.jpg", label=0), Item("c.jpg", label=2)]
    return Dataset(TaskType.IMAGE_CLASSIFICATION, list(CLASSES), items)


def labels_by_name(dataset: Dataset) -> dict[str, Any]:
    """What every format holds: per image file, its class name or its boxes by class name (sorted)."""
    found: dict[str, Any] = {}
    for item in dataset.items:
        name = item.ref.split("/", 1)[1] if item.ref.startswith(("images/", "JPEGImages/")) else item.ref
        if item.label is not None:
            found[name.split("/", 2)[-1] if name.startswith("train/") else name] = dataset.class_names[
                item.label
            ]
        else:
            boxes = [(dataset.class_names[b.class_id], b.left, b.top, b.width, b.height) for b in item.boxes]
            found[name] = sorted(boxes)
    return found


def write(written_files: dict[str, bytes], folder: Path) -> None:
    for name, body in written_files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(body)


def globox_boxes(annotations: AnnotationSet, strip: str = "") -> dict[str, list[tuple[Any, ...]]]:
    return {
        str(a.image_id).removeprefix(strip): sorted(
            (b.label, *(round(v, 6) for v in b.ltwh)) for b in a.boxes
        )
        for a in annotations
    }


# -- export, read back by the reference tools --------------------------------------------------------------


def test_coco_export_loads_in_pycocotools_and_globox(tmp_path: Path) -> None:
    write(WRITERS["coco"](detection()).files, tmp_path)
    coco = COCO(str(tmp_path / "annotations" / "instances.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == CLASSES
    image = next(i for i in coco.dataset["images"] if i["file_name"] == "a.jpg")
    assert (image["width"], image["height"]) == (640, 480)
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
    assert sorted((coco.cats[a["category_id"]]["name"], a["bbox"]) for a in anns) == [
        ("bird", [0, 0, 640, 480]),
        ("cat", [10, 20, 100, 50]),
    ]
    boxes = globox_boxes(AnnotationSet.from_coco(tmp_path / "annotations" / "instances.json"))
    assert boxes == {
        name: [(label, *map(float, box)) for label, *box in value]
        for name, value in labels_by_name(detection()).items()
    }


def test_coco_classification_export_is_one_image_level_annotation_per_image(tmp_path: Path) -> None:
    dataset = classification()
    for item in dataset.items:
        item.width, item.height = SIZES[item.ref]
    write(WRITERS["coco"](dataset).files, tmp_path)
    coco = COCO(str(tmp_path / "annotations" / "instances.json"))
    labels = {
        coco.imgs[a["image_id"]]["file_name"]: coco.cats[a["category_id"]]["name"]
        for a in coco.dataset["annotations"]
    }
    assert labels == {"a.jpg": "dog", "sub/b.jpg": "cat", "c.jpg": "bird"}
    assert all("bbox" not in a for a in coco.dataset["annotations"])
    back = read_dataset("coco", tmp_path, local_image_size)
    assert labels_by_name(back) == labels_by_name(dataset)


def test_yolo_export_reads_back_in_globox(tmp_path: Path) -> None:
    written = WRITERS["yolo"](detection())
    write(written.files, tmp_path)
    draw_images(tmp_path / "images")
    assert set(written.images) == {f"images/{name}" for name in SIZES}
    for folder, suffix in (("labels", ".txt"), ("images", ".jpg")):  # globox reads one flat folder
        (tmp_path / folder / "sub" / f"b{suffix}").rename(tmp_path / folder / f"b{suffix}")
    annotations = AnnotationSet.from_yolo_darknet(tmp_path / "labels", image_folder=tmp_path / "images")
    ids = {str(i): name for i, name in enumerate(CLASSES)}
    found = {
        image: sorted((ids[label], *(round(v) for v in box)) for label, *box in boxes)
        for image, boxes in globox_boxes(annotations).items()
    }
    expected = labels_by_name(detection())
    assert {Path(k).stem: v for k, v in found.items()} == {Path(k).stem: v for k, v in expected.items()}


def test_voc_export_reads_back_in_globox_and_classification_is_refused(tmp_path: Path) -> None:
    write(WRITERS["voc"](detection()).files, tmp_path)
    boxes = globox_boxes(AnnotationSet.from_pascal_voc(tmp_path / "Annotations", recursive=True))
    assert boxes == {
        name: [(label, *map(float, box)) for label, *box in value]
        for name, value in labels_by_name(detection()).items()
    }
    with pytest.raises(FormatError, match="Pascal VOC holds bounding boxes only"):
        write_voc(classification())


# -- import of files the reference tools wrote --------------------------------------------------------------


def reference_set() -> AnnotationSet:
    """The detection dataset as globox holds it (labels by name, boxes in pixels)."""
    annotations = []
    for item in detection().items:
        boxes = [
            BoundingBox.create(
                label=CLASSES[b.class_id],
                coords=(b.left, b.top, b.width, b.height),
                box_format=BoxFormat.LTWH,
            )
            for b in item.boxes
        ]
        annotations.append(Annotation(item.ref, (item.width, item.height), boxes))
    return AnnotationSet(annotations)


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_import_of_what_globox_wrote_equals_the_source(fmt: str, tmp_path: Path) -> None:
    reference = reference_set()
    label_to_id = {name: i for i, name in enumerate(CLASSES)}
    if fmt == "coco":
        (tmp_path / "annotations").mkdir()
        image_ids = {item.ref: i + 1 for i, item in enumerate(detection().items)}
        reference.save_coco(
            tmp_path / "annotations" / "instances.json", label_to_id=label_to_id, imageid_to_id=image_ids
        )
    elif fmt == "yolo":
        draw_images(tmp_path / "images")
        flat = AnnotationSet(
            Annotation(a.image_id.replace("sub/", ""), a.image_size, a.boxes) for a in reference
        )
        (tmp_path / "labels").mkdir()
        flat.save_yolo_darknet(tmp_path / "labels", label_to_id=label_to_id)
        (tmp_path / "classes.txt").write_text("".join(f"{n}\n" for n in CLASSES))
        (tmp_path / "images" / "sub" / "b.jpg").rename(tmp_path / "images" / "b.jpg")
    else:
        (tmp_path / "Annotations").mkdir()
        flat = AnnotationSet(Annotation(Path(a.image_id).name, a.image_size, a.boxes) for a in reference)
        flat.save_pascal_voc(tmp_path / "Annotations")
    dataset = read_dataset(fmt, tmp_path, local_image_size, CLASSES)
    expected = {Path(k).name: v for k, v in labels_by_name(detection()).items()}
    assert {Path(k).name: v for k, v in labels_by_name(dataset).items()} == expected


def test_the_published_voc2007_example_imports_as_a_valid_augmented_manifest() -> None:
    dataset = read_dataset("voc", PUBLISHED / "voc", local_image_size)
    assert dataset.class_names == ["dog", "person"]
    text = write_manifest(dataset)
    line = json.loads(text)
    assert line["source-ref"] == "000001.jpg"
    assert line["category"] == {
        "image_size": [{"width": 353, "height": 500, "depth": 3}],
        "annotations": [
            {"class_id": 0, "left": 48, "top": 240, "width": 147, "height": 131},
            {"class_id": 1, "left": 8, "top": 12, "width": 344, "height": 486},
        ],
    }
    assert line["category-metadata"]["class-map"] == {"0": "dog", "1": "person"}
    s3_text = text.replace('"000001.jpg"', '"s3://bucket/000001.jpg"')
    report = validate_manifest(
        io.BytesIO(s3_text.encode()),
        ManifestRules(allowed_buckets=frozenset({"bucket"}), class_names=("dog", "person")),
    )
    assert report.ok and report.summary.kind == "augmented", report.messages()


# -- round trips through the manifest ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "task"),
    [
        ("coco", "detection"),
        ("coco", "classification"),
        ("yolo", "detection"),
        ("yolo", "classification"),
        ("voc", "detection"),
    ],
)
def test_manifest_to_format_to_manifest_is_lossless(fmt: str, task: str, tmp_path: Path) -> None:
    source = detection() if task == "detection" else classification()
    manifest = write_manifest(source)
    dataset = read_manifest(manifest)
    if fmt == "coco" and task == "classification":  # export reads the sizes from the images
        for item in dataset.items:
            item.width, item.height = SIZES[item.ref]
    written = WRITERS[fmt](dataset)
    write(written.files, tmp_path)
    for place, ref in written.images.items():
        (tmp_path / place).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", SIZES[ref]).save(tmp_path / place)
    back = read_dataset(fmt, tmp_path, local_image_size, CLASSES)
    assert labels_by_name(back) == labels_by_name(source)


# -- invalid files -------------------------------------------------------------------------------------------


def test_invalid_files_name_the_file_and_the_entry_or_line(tmp_path: Path) -> None:
    coco = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3]}],
        "categories": [{"id": 1, "name": "cat"}],
    }
    (tmp_path / "instances.json").write_text(json.dumps(coco))
    with pytest.raises(FormatError, match=r"instances.json: annotations\[0\] \(a.jpg\): bbox has 3 numbers"):
        read_dataset("coco", tmp_path / "instances.json", local_image_size)

    yolo = tmp_path / "yolo"
    draw_images(yolo / "images", {"a.jpg": (10, 10)})
    (yolo / "labels").mkdir()
    (yolo / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2\n")
    (yolo / "classes.txt").write_text("cat\n")
    with pytest.raises(
        FormatError, match=r"labels/a.txt line 2: expected 5 numbers \(class cx cy w h\), got 4"
    ):
        read_dataset("yolo", yolo, local_image_size)

    voc = tmp_path / "voc" / "Annotations"
    voc.mkdir(parents=True)
    (voc / "a.xml").write_text("<annotation>\n<filename>a.jpg</filename>\n<size>\n</annotation>\n")
    with pytest.raises(FormatError, match=r"Annotations/a.xml line 4: invalid XML"):
        read_dataset("voc", voc.parent, local_image_size)


# -- the commands --------------------------------------------------------------------------------------------


def test_export_command_writes_a_local_manifest_as_each_format(tmp_path: Path) -> None:
    draw_images(tmp_path)
    manifest = tmp_path / "output.manifest"
    manifest.write_text(write_manifest(classification()))
    result = gtpipe("export", str(manifest), "--format", "coco", "--out", str(tmp_path / "coco"))
    assert result.code == 0, result.err
    assert "exported 3 labeled images as coco" in result.out
    coco = COCO(str(tmp_path / "coco" / "annotations" / "instances.json"))
    assert {i["file_name"]: (i["width"], i["height"]) for i in coco.dataset["images"]} == SIZES

    result = gtpipe("export", str(manifest), "--format", "yolo", "--out", str(tmp_path / "yolo"))
    assert result.code == 0, result.err
    assert (tmp_path / "yolo" / "train" / "dog" / "a.jpg").is_file()

    result = gtpipe("export", str(manifest), "--format", "voc", "--out", str(tmp_path / "voc"))
    assert result.code == Exit.USAGE and "Pascal VOC holds bounding boxes only" in result.err


def test_submit_of_a_voc_dataset_drops_a_labeled_manifest_and_uploads_its_images(
    aws_stacks: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    dataset = tmp_path / "pets"
    (dataset / "Annotations").mkdir(parents=True)
    (dataset / "Annotations" / "000001.xml").write_bytes(
        (PUBLISHED / "voc" / "Annotations" / "000001.xml").read_bytes()
    )
    draw_images(dataset / "JPEGImages", {"000001.jpg": (353, 500)})
    result = gtpipe("submit", str(dataset), "--format", "voc", "--region", "us-east-1")
    assert result.code == 0, result.err
    bucket = aws_stacks["DataBucketName"]
    s3 = boto3.client("s3", region_name="us-east-1")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["images/pets/JPEGImages/000001.jpg", "incoming/pets.manifest"]
    line = json.loads(s3.get_object(Bucket=bucket, Key="incoming/pets.manifest")["Body"].read())
    assert line["source-ref"] == f"s3://{bucket}/images/pets/JPEGImages/000001.jpg"
    assert line["category-metadata"]["type"] == "groundtruth/object-detection"
    assert "to a labeled manifest of 1 images (labeling is skipped)" in result.out

    bad = gtpipe("submit", str(tmp_path / "nothing"), "--format", "coco", "--region", "us-east-1")
    assert bad.code == Exit.INPUT_MISSING and "not found" in bad.err


def test_export_of_a_run_reads_its_labeling_output_and_writes_to_s3(
    aws_stacks: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    bucket, table = aws_stacks["DataBucketName"], aws_stacks["RunsTableName"]
    s3 = boto3.client("s3", region_name="us-east-1")
    source = classification()
    for item in source.items:
        draw_images(tmp_path, {item.ref: SIZES[item.ref]})
        s3.put_object(Bucket=bucket, Key=f"images/pets/{item.ref}", Body=(tmp_path / item.ref).read_bytes())
        item.ref = f"s3://{bucket}/images/pets/{item.ref}"
    output = "labeling/gtpipe-pets-1/manifests/output/output.manifest"
    run_id = "digits-0123456789abcdef"  # put_run's
    put_run(table, status="RUNNING", manifest_kind="input", steps={"label": {"job_name": "gtpipe-pets-1"}})
    args = (
        "export",
        run_id,
        "--format",
        "coco",
        "--out",
        f"s3://{bucket}/exports/pets/",
        "--region",
        "us-east-1",
    )
    missing = gtpipe(*args)
    assert missing.code == Exit.NOT_YET and f"no labeled manifest at s3://{bucket}/{output}" in missing.err
    s3.put_object(Bucket=bucket, Key=output, Body=write_manifest(source).encode())
    result = gtpipe(*args)
    assert result.code == 0, result.err
    body = s3.get_object(Bucket=bucket, Key="exports/pets/annotations/instances.json")["Body"].read()
    (tmp_path / "instances.json").write_bytes(body)
    coco = COCO(str(tmp_path / "instances.json"))
    assert {i["file_name"]: (i["width"], i["height"]) for i in coco.dataset["images"]} == SIZES

    unknown = gtpipe("export", "nope-0123456789abcdee", "--format", "coco", "--region", "us-east-1")
    assert unknown.code == Exit.UNKNOWN_RUN


def test_submit_of_a_coco_file_follows_classes_and_refuses_invalid_files_before_uploading(
    aws_stacks: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    folder = tmp_path / "zoo"
    (folder / "annotations").mkdir(parents=True)
    draw_images(folder / "images")
    image_ids = {item.ref: i + 1 for i, item in enumerate(detection().items)}
    label_to_id = {name: i + 1 for i, name in enumerate(CLASSES)}
    coco_file = folder / "annotations" / "instances.json"
    reference_set().save_coco(coco_file, label_to_id=label_to_id, imageid_to_id=image_ids)
    saved = tmp_path / "zoo.manifest"
    common = ("--region", "us-east-1", "--save-manifest", str(saved))
    bad = gtpipe("submit", str(coco_file), "--classes", "bird,cat", *common)
    assert bad.code == Exit.USAGE and "classes dog are not in --classes (bird, cat)" in bad.err
    result = gtpipe("submit", str(coco_file), "--classes", "bird,dog,cat", *common)
    assert result.code == 0, result.err
    dataset = read_manifest(saved.read_text())
    assert dataset.class_names == ["bird", "dog", "cat"]
    assert labels_by_name(dataset) == labels_by_name(detection())
    bucket = aws_stacks["DataBucketName"]
    keys = sorted(
        o["Key"]
        for o in boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=bucket)["Contents"]
    )
    assert keys == [
        "images/zoo/a.jpg",
        "images/zoo/c.jpg",
        "images/zoo/sub/b.jpg",
        "incoming/zoo.manifest",
    ]


@pytest.mark.parametrize("make", [classification, detection])
def test_imported_manifests_pass_start_runs_validation_as_labeled(make: Any) -> None:
    dataset = make()
    for item in dataset.items:
        item.ref = f"s3://bucket/{item.ref}"
    report = validate_manifest(
        io.BytesIO(write_manifest(dataset).encode()),
        ManifestRules(allowed_buckets=frozenset({"bucket"}), class_names=tuple(CLASSES)),
    )
    assert report.ok, report.messages()
    assert report.summary.kind == "augmented" and report.summary.task_type == dataset.task_type.value
