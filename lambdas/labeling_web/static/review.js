// The review view (docs/labeling-service.md, "Review"): for members of `labeling-reviewers`, the labels the
// service selected for review, one after another: the image with the consolidated label (its class, or its
// boxes drawn in the box editor), the anonymised answers with the labelers' comments, and three decisions:
// accept, fix (pick the right class with the labeling view's class buttons and keys, or edit the boxes in
// the same box editor), reject (with a reason: another labeler answers, or, when no re-queue is left, the
// object stays unlabeled). A review-only job's given labels (label-error finding) show the model's class and
// offer accept and fix only. Built with DOM calls only (no innerHTML): service text stays text.

import { ApiError, SignInRequired } from "./api.js";
import { answerBoxes, BoxEditor, classColor } from "./boxes.js";
import { loadJobs } from "./labeling.js";
import { assignHotkeys, classForHotkey, isTyping } from "./shortcuts.js";
import { $, drawsBoxes, state } from "./state.js";
import { busy, element, fail, say, show } from "./view.js";

export const REVIEWERS = "labeling-reviewers";

const review = { job: null, item: null, fixClass: null, editor: null, hotkeys: [], natural: { width: 0, height: 0 } };

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
  if (detection && !review.editor) review.editor = new BoxEditor($("review-canvas"), { classNames: job.class_names });
  if (review.editor) review.editor.classNames = job.class_names || [];
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
  if (drawsBoxes(review.job)) {
    review.editor.setCurrentClass(index);
  } else {
    review.fixClass = index;
  }
  for (const button of document.querySelectorAll("#review-classes .class-button")) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.classIndex) === index));
  }
  const name = review.job.class_names[index];
  $("review-fix").textContent = drawsBoxes(review.job) ? "Send fixed boxes" : `Send fix: ${name}`;
  say(drawsBoxes(review.job) ? `Drawing ${name}.` : `Fix chosen: ${name}.`);
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
    ...item.answers.map((answer) =>
      element("li", {}, [
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
  $("review-fix").textContent = drawsBoxes(job) ? "Send fixed boxes" : "Send fix";
  for (const button of document.querySelectorAll("#review-classes .class-button")) {
    const chosen = !drawsBoxes(job) && Number(button.dataset.classIndex) === item.label.label;
    button.setAttribute("aria-pressed", String(chosen));
  }
  const image = $("review-image");
  delete image.dataset.ready;
  image.onload = () => {
    review.natural = { width: image.naturalWidth, height: image.naturalHeight };
    if (drawsBoxes(job)) {
      review.editor.reset(image.naturalWidth, image.naturalHeight);
      review.editor.boxes = (item.label.boxes || []).map((box) => ({ ...box }));
      review.editor.resize(image.clientWidth, image.clientHeight);
      review.editor.changed();
    }
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

function fixBody() {
  if (drawsBoxes(review.job)) {
    const { width, height } = review.natural;
    return { decision: "fix", label: { boxes: answerBoxes(review.editor.boxes, width, height), image_size: { width, height } } };
  }
  return review.fixClass === null ? null : { decision: "fix", label: { label: review.fixClass } };
}

function wire() {
  $("review-back").addEventListener("click", loadJobs);
  $("review-accept").addEventListener("click", () => decide({ decision: "accept" }, "Accepted."));
  $("review-fix").addEventListener("click", () => {
    const body = fixBody();
    if (!body) fail("Pick the right class first (click it or press its key).");
    else decide(body, "Fixed.");
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
    if ($("review-view").hidden || !review.item || isTyping(event)) return;
    const index = classForHotkey(event.key, review.hotkeys);
    if (index >= 0) {
      event.preventDefault();
      chooseFix(index);
    } else if (drawsBoxes(review.job) && (event.key === "Delete" || event.key === "Backspace")) {
      event.preventDefault();
      review.editor.deleteSelected();
    }
  });
}

wire();
