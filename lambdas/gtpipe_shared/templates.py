"""Ground Truth worker UI templates (Liquid + crowd HTML elements) and the label categories file.

The categories are written into the template itself (HTML-escaped JSON) rather than read from
``task.input.labels``, so the template works whatever the pre-annotation Lambda passes through. The
element names match what the built-in consolidation Lambdas read: ``crowd-image-classifier`` for
classification and ``boundingBox`` for bounding boxes.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence

from gtpipe_shared.aws_limits import label_category_document
from gtpipe_shared.tasks import task_spec

CROWD_ELEMENTS_SCRIPT = '<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>'

_CLASSIFICATION = """__SCRIPT__
<crowd-form>
  <crowd-image-classifier
    name="crowd-image-classifier"
    src="{{ task.input.taskObject | grant_read_access }}"
    header="__HEADER__"
    categories="__CATEGORIES__"
  >
    <full-instructions header="Classification instructions">
      <p>__DESCRIPTION__</p>
      <p>Choose exactly one category. If the image fits none well, pick the closest one.</p>
    </full-instructions>
    <short-instructions>
      <p>__DESCRIPTION__</p>
    </short-instructions>
  </crowd-image-classifier>
</crowd-form>
"""

_BOUNDING_BOX = """__SCRIPT__
<crowd-form>
  <crowd-bounding-box
    name="boundingBox"
    src="{{ task.input.taskObject | grant_read_access }}"
    header="__HEADER__"
    labels="__CATEGORIES__"
  >
    <full-instructions header="Bounding box instructions">
      <p>__DESCRIPTION__</p>
      <p>Draw one tight box around every visible object and choose its label.</p>
    </full-instructions>
    <short-instructions>
      <p>__DESCRIPTION__</p>
    </short-instructions>
  </crowd-bounding-box>
</crowd-form>
"""


def _validated(categories: Sequence[str]) -> list[str]:
    names = [str(name) for name in categories]
    if not names or any(not name.strip() for name in names):
        raise ValueError("label categories must be a non-empty list of non-empty names")
    return names


def label_categories_json(categories: Sequence[str]) -> str:
    """The label category configuration file, ``{"document-version": "2018-11-28", "labels": [{"label":
    "..."}]}``; list order defines class ids (first is class 0). Ground Truth requires the version
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateLabelingJob.html)."""
    return json.dumps(label_category_document(_validated(categories)), ensure_ascii=False)


def ui_template(task_type: str, categories: Sequence[str], *, header: str, description: str) -> str:
    """The Liquid UI template for ``task_type`` with the categories embedded; a task type outside the
    registry is a ValueError (:class:`gtpipe_shared.tasks.UnknownTaskType`)."""
    names = _validated(categories)
    try:
        boxes = task_spec(task_type).boxes
    except ValueError as exc:
        raise ValueError(f"no UI template for task type '{task_type}': {exc}") from None
    template = _BOUNDING_BOX if boxes else _CLASSIFICATION
    # html.escape also escapes quotes, so the JSON is safe inside a double-quoted attribute. Liquid tags in
    # user text are neutralized by escaping braces.
    replacements = {
        "__SCRIPT__": CROWD_ELEMENTS_SCRIPT,
        "__HEADER__": _text(header),
        "__DESCRIPTION__": _text(description),
        "__CATEGORIES__": html.escape(json.dumps(names, ensure_ascii=False), quote=True),
    }
    for placeholder, value in replacements.items():
        template = template.replace(placeholder, value)
    return template


def _text(value: str) -> str:
    return html.escape(value, quote=True).replace("{", "&#123;").replace("}", "&#125;")
