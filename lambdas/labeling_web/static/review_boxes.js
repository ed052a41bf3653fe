// The review view's boxes (jobs whose answers are boxes; docs/labeling-service.md, "Review"). The
// consolidated boxes start in the labeling view's box editor (boxes.js: the same drawing, moving,
// resizing, deleting and adding) with the same boxes list (boxlist.js: a box's class is changed there or
// with a class key); every anonymised answer's boxes are drawn beneath as guides (thin, dotted, tagged
// `L1`, `L2`, ... for Labeler 1, 2, ...), each shown or hidden with its toggle in the answers list; every
// edit can be undone and redone (history.js) as in the labeling view. What is sent is in whole image
// pixels: a fix is the boxes as they are now, and only when they differ from the consolidated ones.

import { answerBoxes, BoxEditor } from "./boxes.js";
import { boxListItems } from "./boxlist.js";
import { History } from "./history.js";
import { $ } from "./state.js";
import { element, say } from "./view.js";

const boxes = {
  editor: null,
  history: null,
  classNames: [],
  width: 0, // the image's natural size: the boxes' pixels
  height: 0,
  initial: "[]", // the consolidated boxes, whole pixels, as JSON text
  answers: [], // [{tag, boxes}] of the item's answers
  shown: new Set(), // the answers drawn as guides (their index in `answers`)
  onChange: () => {},
};

/**
 * The review of a box job starts: the editor on `#review-canvas` (made once) with the job's `classNames`;
 * `onChange(editor)` is called after every change of the boxes or the selection (after the list is drawn).
 */
export function setUpBoxReview(classNames, onChange) {
  boxes.classNames = classNames || [];
  boxes.onChange = onChange || (() => {});
  if (!boxes.editor) boxes.editor = new BoxEditor($("review-canvas"), { onChange: renderBoxList, classNames: boxes.classNames });
  boxes.editor.classNames = boxes.classNames;
  boxes.editor.currentClass = 0;
  return boxes.editor;
}

/** A review item's image loaded (natural `width` x `height`): its consolidated boxes, its answers' guides. */
export function showReviewBoxes(item, width, height) {
  const editor = boxes.editor;
  boxes.width = width;
  boxes.height = height;
  boxes.answers = (item.answers || []).map((answer, index) => ({ tag: `L${index + 1}`, boxes: (answer.answer && answer.answer.boxes) || [] }));
  boxes.shown = new Set(boxes.answers.map((_, index) => index));
  const start = ((item.label && item.label.boxes) || []).map((box) => ({ ...box }));
  boxes.initial = JSON.stringify(answerBoxes(start, width, height));
  boxes.history = null; // the reset's empty list is no state to undo to
  editor.reset(width, height);
  editor.boxes = start;
  boxes.history = new History(start);
  editor.setGuides(shownGuides());
  fitReviewCanvas();
  editor.changed();
}

/** Match the canvas to the image as shown now (after it loaded, and when the window changes size). */
export function fitReviewCanvas() {
  const image = $("review-image");
  if (boxes.editor && boxes.width) boxes.editor.resize(image.clientWidth, image.clientHeight);
}

function shownGuides() {
  return boxes.answers.filter((_, index) => boxes.shown.has(index));
}

/** The answers list's toggle of answer `index` (its boxes drawn on the image, or not). */
export function guideToggle(index) {
  const button = element("button", {
    type: "button",
    className: "guide-toggle secondary",
    "aria-pressed": "true",
    dataset: { answer: String(index) },
    text: `L${index + 1}`,
    title: `Show or hide Labeler ${index + 1}'s boxes on the image (drawn dotted, tagged L${index + 1})`,
  });
  button.addEventListener("click", () => {
    const showing = !boxes.shown.has(index);
    if (showing) boxes.shown.add(index);
    else boxes.shown.delete(index);
    button.setAttribute("aria-pressed", String(showing));
    boxes.editor.setGuides(shownGuides());
    say(`Labeler ${index + 1}'s boxes ${showing ? "shown" : "hidden"}.`);
  });
  return button;
}

/** The boxes now, as the review API takes a fix: whole pixels inside the image, with the image's size. */
export function fixedBoxes() {
  return { boxes: answerBoxes(boxes.editor.boxes, boxes.width, boxes.height), image_size: { width: boxes.width, height: boxes.height } };
}

/** Whether the boxes (in whole pixels) differ from the consolidated ones the review started with. */
export function boxesChanged() {
  return JSON.stringify(answerBoxes(boxes.editor.boxes, boxes.width, boxes.height)) !== boxes.initial;
}

/** Undo or redo (`command`) the last edit of the boxes; says what happened. */
export function undoRedoBoxes(command) {
  if (!boxes.history) return;
  const value = command === "undo" ? boxes.history.undo() : boxes.history.redo();
  if (value === undefined) {
    say(command === "undo" ? "Nothing to undo." : "Nothing to redo.");
    return;
  }
  boxes.editor.boxes = value;
  boxes.editor.selected = -1;
  boxes.editor.changed();
  say(`${command === "undo" ? "Undone" : "Redone"}: ${value.length} box(es).`);
}

function renderBoxList() {
  const editor = boxes.editor;
  $("review-box-list").replaceChildren(...boxListItems(editor, boxes.classNames, { idPrefix: "review-box-class", canvas: $("review-canvas") }));
  $("review-box-count").textContent = `(${editor.boxes.length})`;
  if (boxes.history) boxes.history.record(editor.boxes); // an unchanged list records nothing
  if (editor.selected >= 0) editor.currentClass = editor.boxes[editor.selected].class_id;
  boxes.onChange(editor);
}
