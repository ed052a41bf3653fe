"""The report's figures of validation images: sample detections, and per-class grids of validation
images with the model's predictions marked (pages of ``GRID_ROWS_PER_PAGE`` classes).

Images come downscaled in :class:`RunData` (``report.gather``); a missing image is drawn as a crossed
tile, not dropped.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.patches import Patch, Rectangle
from PIL import Image, ImageDraw

from report.examples import DISPLAY_MIN_SCORE, class_errors, match_boxes
from report.figure_kit import BLUE, DPI, GRAY, GREEN, ORANGE, RED, new_figure, short, to_png
from report.model import Box, ClassificationExample, DetectionExample, RunData

if TYPE_CHECKING:
    from matplotlib.axes import Axes

GRID_ROWS_PER_PAGE = 8
GRID_COLUMNS = 8
CELL_PX = 96
CELL_TEXT_PX = 22
GRID_LEFT_PX = 190
GRID_TOP_PX = 56
FRAME_PX = 5


# -- sample detections ----------------------------------------------------------------------------


def _mark_box(
    ax: Axes, box: Box, size: tuple[int, int], label: str, color: str, *, below: bool, **line: Any
) -> None:
    """Outline a normalized ``box`` on an image of ``size`` pixels in ``color`` (``line``: the outline's
    width and style) and write ``label`` on ``color`` at its left edge, under its bottom (``below``) or
    over its top."""
    x0, y0, x1, y1 = box
    width, height = size
    ax.add_patch(
        Rectangle(
            (x0 * width, y0 * height),
            (x1 - x0) * width,
            (y1 - y0) * height,
            fill=False,
            edgecolor=color,
            **line,
        )
    )
    ax.text(
        x0 * width,
        (y1 if below else y0) * height,
        label,
        color="white",
        fontsize=6,
        va="top" if below else "bottom",
        bbox={"facecolor": color, "pad": 1, "linewidth": 0},
    )


def _draw_detection_axes(ax: object, example: DetectionExample, data: RunData) -> None:
    from matplotlib.axes import Axes

    assert isinstance(ax, Axes) and example.image is not None
    size = example.image.size
    ax.imshow(np.asarray(example.image))
    match = match_boxes(example.truth, example.detections)
    for index, (class_id, box) in enumerate(example.truth):
        found = index in match.matched_truth
        _mark_box(
            ax,
            box,
            size,
            short(data.class_name(class_id), 14),
            GREEN if found else ORANGE,
            below=True,
            linewidth=1.5 if found else 2.5,
            linestyle="--" if found else "-",
        )
    for index in sorted(match.drawn_detections):
        class_id, score, box = (example.detections or [])[index]
        label = f"{short(data.class_name(class_id), 14)} {score:.2f}"
        _mark_box(
            ax,
            box,
            size,
            label,
            BLUE if index in match.matched_detections else RED,
            below=False,
            linewidth=1.5,
        )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(short(example.source_ref.rsplit("/", 1)[-1], 36), fontsize=7)


_DETECTION_LEGEND = [
    Patch(edgecolor=GREEN, facecolor="none", linestyle="--", label="true box, found"),
    Patch(edgecolor=ORANGE, facecolor="none", linewidth=2.5, label="true box, missed"),
    Patch(edgecolor=BLUE, facecolor="none", label="detection, correct"),
    Patch(edgecolor=RED, facecolor="none", label="detection, false positive"),
]


def sample_detections(data: RunData) -> bytes:
    """Up to 8 validation images with true boxes and detections (score >= DISPLAY_MIN_SCORE)."""
    examples = [
        data.detection_examples[i] for i in data.detection_samples if data.detection_examples[i].image
    ]
    columns = min(4, len(examples))
    rows = (len(examples) + columns - 1) // columns
    aspect = sum(e.image.height / e.image.width for e in examples if e.image) / len(examples)
    figure = new_figure(4 * columns, (4 * aspect + 0.5) * rows + 0.9)
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    for ax, example in zip(axes, examples, strict=False):
        _draw_detection_axes(ax, example, data)
    for ax in axes[len(examples) :]:
        ax.set_visible(False)
    figure.legend(handles=_DETECTION_LEGEND, loc="outside lower center", ncols=4)
    figure.suptitle(
        f"Sample detections on validation images (detections with score >= {DISPLAY_MIN_SCORE:g})"
    )
    return to_png(figure)


# -- 6: grids of validation images ----------------------------------------------------------------


def fit(image: Image.Image, size: int) -> Image.Image:
    """``image`` scaled to fit ``size`` x ``size``, enlarged too (small images stay crisp: nearest)."""
    scale = min(size / image.width, size / image.height)
    width, height = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    resample = Image.Resampling.NEAREST if scale >= 2 else Image.Resampling.BICUBIC
    return image.resize((width, height), resample)


def _cell_image(image: Image.Image | None, frame: str) -> np.ndarray:
    """A CELL_PX square: the image centred on white inside a colored frame."""
    cell = Image.new("RGB", (CELL_PX, CELL_PX), frame)
    inner = CELL_PX - 2 * FRAME_PX
    canvas = Image.new("RGB", (inner, inner), "white")
    if image is not None:
        picture = fit(image, inner)
        canvas.paste(picture, ((inner - picture.width) // 2, (inner - picture.height) // 2))
    else:
        ImageDraw.Draw(canvas).line([(0, 0), (inner, inner)], fill=GRAY, width=2)
    cell.paste(canvas, (FRAME_PX, FRAME_PX))
    return np.asarray(cell)


@dataclass
class GridCell:
    """One tile of a grid page: image, frame color, caption and caption color."""

    image: Image.Image | None
    frame: str
    caption: str
    caption_color: str


@dataclass
class GridRow:
    """One class row: its label, the tiles and a note when the class has no images."""

    label: str
    cells: list[GridCell]
    empty_note: str | None = None


def grid_page(title: str, rows: Sequence[GridRow], legend: str) -> bytes:
    """A page of class rows laid out in exact pixels: one image with the tiles, text around it."""
    row_px = CELL_PX + CELL_TEXT_PX
    width = GRID_LEFT_PX + GRID_COLUMNS * (CELL_PX + 6) + 10
    legend_lines = textwrap.wrap(legend, width=150) or [""]
    grid_top = GRID_TOP_PX + 13 * (len(legend_lines) - 1)
    height = grid_top + len(rows) * row_px + 30
    mosaic = np.full((height, width, 3), 255, dtype=np.uint8)
    for r, row in enumerate(rows):
        top = grid_top + r * row_px
        for c, cell in enumerate(row.cells[:GRID_COLUMNS]):
            left = GRID_LEFT_PX + c * (CELL_PX + 6)
            mosaic[top : top + CELL_PX, left : left + CELL_PX] = _cell_image(cell.image, cell.frame)
    figure = new_figure(width / DPI, height / DPI, constrained=False)
    ax = figure.add_axes((0, 0, 1, 1))
    ax.imshow(mosaic, extent=(0, width, height, 0), interpolation="nearest")
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    ax.text(10, 20, short(title, 150), fontsize=12, weight="bold", va="center")
    ax.text(10, 36, "\n".join(legend_lines), fontsize=8, va="top", color="#424242", linespacing=1.2)
    for r, row in enumerate(rows):
        top = grid_top + r * row_px
        ax.text(10, top + CELL_PX / 2, row.label, fontsize=8, va="center", wrap=False)
        if row.empty_note:
            ax.text(GRID_LEFT_PX, top + CELL_PX / 2, row.empty_note, fontsize=8, va="center", color=GRAY)
        for c, cell in enumerate(row.cells[:GRID_COLUMNS]):
            left = GRID_LEFT_PX + c * (CELL_PX + 6)
            ax.text(
                left + CELL_PX / 2,
                top + CELL_PX + 3,
                cell.caption,
                fontsize=6.5,
                ha="center",
                va="top",
                color=cell.caption_color,
            )
    return to_png(figure)


def classification_rows(data: RunData) -> list[GridRow]:
    """One row per class: its validation images, wrong predictions first (red frame), correct (green)."""
    by_class: dict[int, list[ClassificationExample]] = {}
    for example in data.classification_examples:
        by_class.setdefault(example.true_class, []).append(example)
    rows = []
    for class_id, name in enumerate(data.class_names):
        examples = by_class.get(class_id, [])
        cells = []
        for example in examples:
            if example.predicted_class is None:
                cells.append(GridCell(example.image, GRAY, "no prediction", GRAY))
                continue
            color = GREEN if example.correct else RED
            confidence = f" {example.confidence:.2f}" if example.confidence is not None else ""
            cells.append(
                GridCell(
                    example.image,
                    color,
                    short(data.class_name(example.predicted_class), 11) + confidence,
                    color,
                )
            )
        wrong = sum(1 for e in examples if e.predicted_class is not None and not e.correct)
        unanswered = sum(1 for e in examples if e.predicted_class is None)
        label = f"{short(name, 20)}\n{len(examples)} shown, {wrong} wrong"
        if unanswered:
            label += f"\n{unanswered} without prediction"
        rows.append(GridRow(label, cells, None if examples else "no validation images of this class"))
    return rows


def detection_rows(data: RunData) -> list[GridRow]:
    """One row per class: images showing it, drawn with that class's boxes only, errors first."""
    rows = []
    for class_id, name in enumerate(data.class_names):
        cells = []
        for index in data.detection_rows.get(class_id, []):
            example = data.detection_examples[index]
            misses, false_positives = class_errors(example.truth, example.detections, class_id)
            image = _boxes_for_class(example, class_id)
            if example.detections is None:
                cells.append(GridCell(image, GRAY, "no prediction", GRAY))
                continue
            if misses or false_positives:
                parts = ([f"{misses} missed"] if misses else []) + (
                    [f"{false_positives} false+"] if false_positives else []
                )
                cells.append(GridCell(image, RED, ", ".join(parts), RED))
            else:
                cells.append(GridCell(image, GREEN, "all found", GREEN))
        label = f"{short(name, 20)}\n{len(cells)} shown"
        rows.append(GridRow(label, cells, None if cells else "no validation images show this class"))
    return rows


def _boxes_for_class(example: DetectionExample, class_id: int) -> Image.Image | None:
    if example.image is None:
        return None
    picture = fit(example.image, CELL_PX - 2 * FRAME_PX)
    width, height = picture.size
    draw = ImageDraw.Draw(picture)
    match = match_boxes(example.truth, example.detections)
    for index, (true_class, (x0, y0, x1, y1)) in enumerate(example.truth):
        if true_class == class_id:
            color = GREEN if index in match.matched_truth else ORANGE
            draw.rectangle([x0 * width, y0 * height, x1 * width, y1 * height], outline=color, width=2)
    for index in match.drawn_detections:
        det_class, _score, (x0, y0, x1, y1) = (example.detections or [])[index]
        if det_class == class_id:
            color = BLUE if index in match.matched_detections else RED
            draw.rectangle([x0 * width, y0 * height, x1 * width, y1 * height], outline=color, width=1)
    return picture


def grid_pages(rows: list[GridRow], title: str, legend: str) -> list[bytes]:
    """Rows split into pages of GRID_ROWS_PER_PAGE classes."""
    pages = []
    count = (len(rows) + GRID_ROWS_PER_PAGE - 1) // GRID_ROWS_PER_PAGE
    for page in range(count):
        chunk = rows[page * GRID_ROWS_PER_PAGE : (page + 1) * GRID_ROWS_PER_PAGE]
        first = page * GRID_ROWS_PER_PAGE
        suffix = (
            f" (class ids {first}-{first + len(chunk) - 1}, page {page + 1} of {count})" if count > 1 else ""
        )
        pages.append(grid_page(title + suffix, chunk, legend))
    return pages
