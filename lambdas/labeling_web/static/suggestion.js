// Pre-annotation: a task may come with a model's suggestion (docs/labeling-service.md, "Pre-annotation").
// A class task shows the suggested class marked as the model's on its button; a box task starts with the
// model's boxes drawn (dashed while unchanged). The labeler accepts it with one key (Enter) or corrects it;
// what they change stays visible: the model's class beside the chosen one, and every box tagged as the
// model's, changed or added, with a count of the model's boxes removed. No suggestion: nothing here shows.

import { $, drawsBoxes, state } from "./state.js";
import { element } from "./view.js";

const EDGES = ["class_id", "left", "top", "width", "height"];

/** The current task's suggestion, or null. */
export function suggestion() {
  return (state.task && state.task.suggestion) || null;
}

function percent(value) {
  return typeof value === "number" ? ` (${Math.round(value * 100)} %)` : "";
}

/** Whether box `a` has the same class and whole-pixel edges as box `b`. */
function sameBox(a, b) {
  return EDGES.every((key) => Math.round(a[key]) === Math.round(b[key]));
}

/** "model" (the model's box, unchanged), "changed" (the model's box, moved/resized/reclassed) or "added". */
export function boxOrigin(box) {
  if (!box.origin) return "added";
  return sameBox(box, box.origin) ? "model" : "changed";
}

/**
 * A task was shown: mark its suggestion (the class button, or the model's boxes put on the canvas as the
 * starting point that undo returns to). Returns the boxes to start from (box tasks), else null.
 */
export function showSuggestion() {
  const model = suggestion();
  for (const button of document.querySelectorAll(".class-button")) {
    const suggested = Boolean(model) && !drawsBoxes(state.task) && Number(button.dataset.classIndex) === model.label;
    button.classList.toggle("suggested", suggested);
    button.querySelector(".model-badge")?.remove();
    if (suggested) button.append(element("span", { className: "model-badge", text: `model${percent(model.confidence)}` }));
  }
  $("suggestion").hidden = !model;
  if (!model) return null;
  if (!drawsBoxes(state.task)) {
    renderSuggestion(null);
    return null;
  }
  const boxes = (model.boxes || []).map((box) => {
    const own = { class_id: box.class_id, left: box.left, top: box.top, width: box.width, height: box.height };
    return { ...own, origin: own };
  });
  state.editor.boxes = boxes;
  state.editor.changed();
  return boxes;
}

/** What the labeler changed of the suggestion, shown beside it; `chosen` is the staged class (class tasks). */
export function renderSuggestion(chosen) {
  const model = suggestion();
  const panel = $("suggestion");
  if (!model) {
    panel.hidden = true;
    return;
  }
  const names = (state.job && state.job.class_names) || [];
  let text;
  let changed;
  if (!drawsBoxes(state.task)) {
    const said = `${names[model.label] ?? model.label}${percent(model.confidence)}`;
    changed = chosen !== null && chosen !== undefined && chosen !== model.label;
    text = changed
      ? `Changed: the model suggested ${said}; you chose ${names[chosen]}.`
      : `The model suggests ${said}. Enter accepts it; choose another class to correct it.`;
    if (chosen === null || chosen === undefined) $("submit-task").textContent = `Accept ${names[model.label] ?? model.label}`;
  } else {
    const boxes = (state.editor && state.editor.boxes) || [];
    const count = (kind) => boxes.filter((box) => boxOrigin(box) === kind).length;
    const removed = (model.boxes || []).length - boxes.filter((box) => box.origin).length;
    changed = count("changed") + count("added") + removed > 0;
    text = changed
      ? `Changed from the model's ${(model.boxes || []).length} box(es): ${count("model")} kept, ${count("changed")} changed, ${count("added")} added, ${removed} removed.`
      : `The model drew ${(model.boxes || []).length} box(es) (dashed). Enter accepts them; correct any box first.`;
  }
  panel.dataset.changed = String(changed);
  panel.textContent = text;
  panel.hidden = false;
}

/** The list item's marker of a box's origin (box tasks with a suggestion), or null. */
export function boxTag(box) {
  if (!suggestion()) return null;
  const origin = boxOrigin(box);
  const text = { model: "model", changed: "changed", added: "yours" }[origin];
  return element("span", { className: `box-origin ${origin}`, text });
}
