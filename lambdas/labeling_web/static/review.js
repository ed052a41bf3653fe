// The review view (docs/labeling-service.md, "Review"): for members of `labeling-reviewers`, the labels the
// service selected for review, one after another: the image with the consolidated label (its class, or its
// boxes in the box editor, with every answer's boxes drawn beneath: review_boxes.js), the anonymised answers
// with the labelers' comments, and three decisions: accept, fix (pick the right class with the labeling
// view's class buttons and keys, or edit the boxes in the same box editor, with undo/redo), reject (with a
// reason: another labeler answers, or, when no re-queue is left, the object stays unlabeled). A review-only
// job's given labels (label-error finding) show the model's class and offer accept and fix only. Built with
// DOM calls only (no innerHTML): service text stays text.

import { ApiError, SignInRequired } from "./api.js";
import { classColor } from "./boxes.js";
import { loadJobs } from "./labeling.js";
import { boxesChanged, fitReviewCanvas, fixedBoxes, guideToggle, setUpBoxReview, showReviewBoxes, undoRedoBoxes } from "./review_boxes.js";
import { assignHotkeys, classForHotkey, historyCommand, inField, isTyping } from "./shortcuts.js";
import { $, drawsBoxes, state } from "./state.js";
import { busy, element, fail, say, show } from "./view.js";

export const REVIEWERS = "labeling-reviewers";

const review = { job: null, item: null, fixClass: null, editor: null, hotkeys: [] };

/** True when the signed-in user is in the reviewers' group (the service checks it again: 403 otherwise). */
export function isReviewer() {
  const session = state.cognito && state.cognito.session;
  return Boolean(session && (session.groups || []).includes(REVIEWERS));
}

/** The job list's "Review" button of `job` for a reviewer, when labels wait for review; else nothing. */
export function reviewButtons(job) {
  if (!isReviewer() || !job.reviews_open) return [];
  const button = element("button", {
    type: "button",
    className: "review-button secondary",
    dataset: { reviewJob: job.job_name },
    text: `Review ${job.reviews_open} label(s)`,
  });
  button.addEventListener("click", () => startReview(job));
  return [button];
}

function handleError(error, context) {
  if (error instanceof SignInRequired) {
    state.cognito.forget();
    show("sign-in-view", "username");
    fail("Your session ended; sign in again.");
    return;
  }
  if (error instanceof ApiError && error.code === "NotAReviewer") {
    fail("Your account is not a reviewer; ask your labeling admin to add you to the reviewers.");
    return;
  }
  fail(`${context}: ${error.message || error}`);
}

function labelText(job, label) {
  const names = job.class_names || [];
  if (label && Array.isArray(label.boxes)) {
    return label.boxes.length
      ? label.boxes.map((box) => names[box.class_id] ?? `class ${box.class_id}`).join(", ") + ` (${label.boxes.length} box(es))`
      : "no objects";
  }
  return label ? names[label.label] ?? `class ${label.label}` : "";
}

async function startReview(job) {
  review.job = job;
  review.hotkeys = assignHotkeys(job.class_names || [], job.hotkeys || {});
  const detection = drawsBoxes(job);
  $("review-canvas").hidden = !detection;
  $("review-box-panel").hidden = !detection;
  review.editor = detection ? setUpBoxReview(job.class_names, renderCurrentClass) : null;
  $("review-classes-title").textContent = detection ? "Fix: the class to draw or change to" : "Fix: the right class";
  $("review-classes-hint").textContent = detection
    ? "Solid: the consolidated boxes; dotted: the answers' (L1: Labeler 1). Drag to draw a box; click one to select it, drag it or its corners to move or resize it; a class key or the list changes its class. Delete removes it, Ctrl+Z / Ctrl+Shift+Z undo / redo."
    : "Click the right class, or press its key, then send the fix.";
  $("review-classes").replaceChildren(
    ...(job.class_names || []).map((name, index) => {
      const key = review.hotkeys[index];
      const button = element(
        "button",
        {
          type: "button",
          className: "class-button",
          dataset: { classIndex: String(index) },
          "aria-pressed": "false",
          ...(key ? { "aria-keyshortcuts": key, title: `${name} (key ${key})` } : { title: name }),
        },
        [
          ...(key ? [element("kbd", { className: "key", text: key })] : []),
          ...(detection ? [element("span", { className: "swatch", "aria-hidden": "true" })] : []),
          element("span", { className: "class-name", text: name }),
        ],
      );
      if (detection) button.querySelector(".swatch").style.background = classColor(index);
      button.addEventListener("click", () => chooseFix(index));
      return button;
    }),
  );
  await nextReview();
}

function chooseFix(index) {
  if (!review.item || state.busy) return;
  const name = review.job.class_names[index];
  if (drawsBoxes(review.job)) {
    const selected = review.editor.selected;
    review.editor.setCurrentClass(index); // a selected box changes to it too (renderCurrentClass follows)
    say(selected >= 0 ? `Box ${selected + 1} is now ${name}.` : `Drawing ${name}.`);
    return;
  }
  review.fixClass = index;
  pressClass(index);
  $("review-fix").textContent = `Send fix: ${name}`;
  say(`Fix chosen: ${name}.`);
}

function pressClass(index) {
  for (const button of document.querySelectorAll("#review-classes .class-button")) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.classIndex) === index));
  }
}

// A box job's boxes or selection changed: the class buttons show the class being drawn (the selected box's).
function renderCurrentClass(editor) {
  pressClass(editor.currentClass);
  $("review-fix").textContent = `Send fixed boxes (${editor.boxes.length})`;
}

async function nextReview() {
  review.item = null;
  review.fixClass = null;
  busy(true);
  let data;
  try {
    data = await state.api.leaseReview(review.job.job_name);
  } catch (error) {
    busy(false);
    await loadJobs();
    handleError(error, "Could not get a label to review");
    return;
  }
  busy(false);
  if (!data || !data.review) {
    await loadJobs();
    say(`Nothing left to review in this job${data && data.reason ? ` (${data.reason})` : ""}.`);
    return;
  }
  renderReview(data.review);
  show("review-view", "review-title");
}

function renderReview(item) {
  review.item = item;
  const job = review.job;
  const why = {
    disagreed: "the answers disagree",
    "low-confidence": "its confidence is low",
    "qa-sample": "it is in the quality sample",
    "label-error": "a model trained on the other objects doubts its label",
  };
  $("review-why").textContent =
    `Object ${item.index + 1}: selected because ${why[item.selected_because] || item.selected_because}` +
    (item.round ? ` · review round ${item.round + 1}` : "");
  // A review-only job (label-error finding) reviews given labels: no confidence, the model's class beside it.
  const given = item.selected_because === "label-error";
  $("review-label").textContent =
    labelText(job, item.label) +
    (given ? " (the given label)" : ` (confidence ${Number(item.confidence).toFixed(2)})`) +
    (item.suggestion ? ` · the model suggests ${labelText(job, item.suggestion)}` : "");
  $("review-answers").replaceChildren(
    ...item.answers.map((answer, index) =>
      element("li", {}, [
        ...(drawsBoxes(job) ? [guideToggle(index)] : []),
        element("span", { text: `${answer.labeler}: ${labelText(job, answer.answer)}` }),
        ...(answer.comment ? [element("q", { className: "muted", text: ` ${answer.comment}` })] : []),
      ]),
    ),
  );
  $("review-reason").value = "";
  // The service refuses a reject of a given label (nobody would label the object anew): accept or fix only.
  $("review-reject").hidden = given;
  $("review-reason").hidden = given;
  $("review-reject-hint").textContent = given
    ? "Accept the given label or fix it."
    : item.rejects_left
      ? "Reject asks another labeler for an answer; the label comes back for review."
      : "No re-queue left: a reject is final and leaves the object unlabeled.";
  if (!drawsBoxes(job)) $("review-fix").textContent = "Send fix";
  for (const button of document.querySelectorAll("#review-classes .class-button")) {
    const chosen = !drawsBoxes(job) && Number(button.dataset.classIndex) === item.label.label;
    button.setAttribute("aria-pressed", String(chosen));
  }
  const image = $("review-image");
  delete image.dataset.ready;
  image.onload = () => {
    if (drawsBoxes(job)) showReviewBoxes(item, image.naturalWidth, image.naturalHeight);
    image.dataset.sourceRef = item.source_ref || "";
    image.dataset.ready = "true";
  };
  image.alt = `Image ${item.index + 1} to review`;
  image.src = item.image_url || "";
}

async function decide(body, done) {
  const item = review.item;
  if (!item || state.busy) return;
  busy(true);
  let data;
  try {
    data = await state.api.decide(review.job.job_name, item.index, { lease_id: item.lease_id, ...body });
  } catch (error) {
    busy(false);
    handleError(error, "The decision was not saved");
    return;
  }
  busy(false);
  if (data && data.job_completed) {
    // The last decision: the job is complete, nothing is left to review in it.
    review.item = null;
    await loadJobs();
    say(`${done} Every label of this job is decided: the job is complete.`);
    return;
  }
  say(data && data.requeued ? "Rejected: another labeler will answer it." : done);
  await nextReview();
}

// The fix to send, or null with the reason shown (a class not picked; boxes as consolidated: that is an accept).
function fixBody() {
  if (drawsBoxes(review.job)) {
    if (boxesChanged()) return { decision: "fix", label: fixedBoxes() };
    fail("The boxes are as consolidated: accept them, or change them before sending a fix.");
    return null;
  }
  if (review.fixClass === null) fail("Pick the right class first (click it or press its key).");
  return review.fixClass === null ? null : { decision: "fix", label: { label: review.fixClass } };
}

function accept() {
  // Accept records the consolidated label: edits would be lost without a word, so they must be sent or undone.
  if (review.item && drawsBoxes(review.job) && boxesChanged()) {
    fail("You changed the boxes: send them with \"Send fixed boxes\", or undo the changes to accept the consolidated ones.");
    return;
  }
  decide({ decision: "accept" }, "Accepted.");
}

function wire() {
  $("review-back").addEventListener("click", loadJobs);
  $("review-accept").addEventListener("click", accept);
  $("review-fix").addEventListener("click", () => {
    const body = fixBody();
    if (body) decide(body, "Fixed.");
  });
  $("review-undo").addEventListener("click", () => review.item && !state.busy && undoRedoBoxes("undo"));
  $("review-redo").addEventListener("click", () => review.item && !state.busy && undoRedoBoxes("redo"));
  window.addEventListener("resize", () => {
    if (!$("review-view").hidden && review.editor) fitReviewCanvas();
  });
  $("review-reject").addEventListener("click", () => {
    const reason = $("review-reason").value.trim();
    if (!reason) {
      fail("Say why the label is rejected (the reason field).");
      $("review-reason").focus();
      return;
    }
    decide({ decision: "reject", reason }, "Rejected.");
  });
  document.addEventListener("keydown", (event) => {
    if ($("review-view").hidden || !review.item) return;
    const boxes = drawsBoxes(review.job);
    const command = historyCommand(event);
    if (boxes && command && !inField(event)) {
      event.preventDefault();
      if (!state.busy) undoRedoBoxes(command);
      return;
    }
    if (isTyping(event)) return;
    const index = classForHotkey(event.key, review.hotkeys);
    if (index >= 0) {
      event.preventDefault();
      chooseFix(index);
    } else if (boxes && (event.key === "Delete" || event.key === "Backspace")) {
      event.preventDefault();
      const number = review.editor.selected + 1;
      if (review.editor.deleteSelected()) say(`Box ${number} deleted.`);
    } else if (boxes && event.key === "Escape") {
      review.editor.select(-1);
    }
  });
}

wire();
