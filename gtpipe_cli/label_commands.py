"""The label-format commands: ``gtpipe export`` and ``gtpipe submit`` of a COCO, YOLO or VOC dataset
(the conversions are :mod:`gtpipe_cli.formats`, export's I/O :mod:`gtpipe_cli.exporting`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import ClientError
from gtpipe_shared.images import declared_dimensions

from gtpipe_cli.errors import CliError, Exit
from gtpipe_cli.exporting import Reader, export_labels, is_local_source, run_labels_uri
from gtpipe_cli.formats.model import DEFAULT_LABEL_ATTRIBUTE, write_manifest
from gtpipe_cli.formats.registry import (
    EXPORT_FORMATS,
    IMPORT_FORMATS,
    detect_format,
    image_root,
    read_dataset,
)
from gtpipe_cli.naming import is_run_id


def export_options(sub: argparse.ArgumentParser) -> None:
    """Arguments and options of ``export``."""
    sub.add_argument("source", help="run id, or an augmented manifest (local file or s3:// URI)")
    sub.add_argument("--format", required=True, choices=EXPORT_FORMATS, help="what to write")
    sub.add_argument(
        "--out", help="folder or s3://bucket/prefix/ (default .gtpipe/exports/<source>-<format>/)"
    )
    sub.add_argument(
        "--images",
        action="store_true",
        help="copy the images too (YOLO classification always does: its layout is the images)",
    )


def dataset_options(sub: argparse.ArgumentParser) -> None:
    """The options of ``submit`` for a dataset in another format."""
    sub.add_argument(
        "--format", choices=IMPORT_FORMATS, help="the dataset's format (default: told from a folder or .json)"
    )
    sub.add_argument(
        "--classes",
        help="comma-separated class names in the pipeline's order (they fix the class ids of an imported "
        "dataset; default: the format's own order)",
    )
    sub.add_argument(
        "--label-attribute",
        default=DEFAULT_LABEL_ATTRIBUTE,
        help=f"label attribute of an imported dataset's manifest (default {DEFAULT_LABEL_ATTRIBUTE})",
    )
    sub.add_argument(
        "--save-manifest", type=Path, metavar="FILE", help="also write the converted manifest here"
    )


def is_dataset(args: argparse.Namespace) -> bool:
    """``submit`` was given a COCO, YOLO or VOC dataset rather than a manifest."""
    path = Path(args.manifest)
    return bool(args.format) or path.is_dir() or path.suffix.lower() == ".json"


def local_image_size(path: Path) -> tuple[int, int] | None:
    """A local image's declared ``(width, height)``."""
    with path.open("rb") as file:
        head = file.read(1 << 16)
    return declared_dimensions(head) or declared_dimensions(path.read_bytes())


def convert_dataset(args: argparse.Namespace) -> tuple[Path, bytes, Path]:
    """``submit`` of a dataset: (the manifest's name, its content, the images folder)."""
    path = Path(args.manifest)
    if not path.exists():
        raise CliError(f"dataset {path} not found", Exit.INPUT_MISSING)
    fmt = args.format or detect_format(path)
    classes = [name.strip() for name in args.classes.split(",")] if args.classes else None
    dataset = read_dataset(fmt, path, local_image_size, classes)
    images = args.images or image_root(fmt, path)
    text = write_manifest(dataset, label_attribute=args.label_attribute, job_name=f"imported-{fmt}")
    if args.save_manifest:
        args.save_manifest.write_text(text, encoding="utf-8")
    folder = path if path.is_dir() else path.parent
    if folder.name == "annotations":
        folder = folder.parent
    return Path(folder.resolve().name + ".manifest"), text.encode(), images


def cmd_export(args: argparse.Namespace, target: Any, out: TextIO) -> int:
    """``gtpipe export``. ``target``: the :class:`~gtpipe_cli.target.Target`, or for a local manifest a
    stand-in that resolves it only if the manifest's images are read from S3."""
    source = str(args.source)
    folder = args.out or str(Path(".gtpipe") / "exports" / f"{Path(source).stem}-{args.format}")
    if is_local_source(source):
        reader = Reader(lambda: target.client("s3"), Path(source).resolve().parent)
        text = Path(source).read_text(encoding="utf-8")
    else:
        reader = Reader(lambda: target.client("s3"), Path.cwd())
        uri = source
        if not source.startswith("s3://"):
            if not is_run_id(source):
                raise CliError(
                    f"{source!r} is neither a run id, an s3:// URI nor a manifest file", Exit.UNKNOWN_RUN
                )
            uri = run_labels_uri(target.client("dynamodb"), target.runs_table, target.bucket, source)
        try:
            text = reader.read(uri).decode("utf-8")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise CliError(f"no labeled manifest at {uri} (yet)", Exit.NOT_YET) from None
            raise
    done = export_labels(text, args.format, folder, reader, where=source, with_images=args.images)
    out.write(
        f"exported {done.objects} labeled images as {args.format} to {done.where}: {done.files} label "
        f"file(s), {done.images} image(s)\n"
    )
    return Exit.OK
