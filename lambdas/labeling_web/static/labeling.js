// Labeling: the job list, leasing tasks one after another, answering them (a class, staged for a grace
// period so it can be undone; or drawn boxes, with undo/redo of every edit), the boxes list and the
// keyboard. Built with DOM calls only (no innerHTML): service text stays text.

import { ApiError, SignInRequired } from "./api.js";
import { answerBoxes, BoxEditor, classColor } from "./boxes.js";
import { boxListItems } from "./boxlist.js";
import { History } from "./history.js";
import { assignHotkeys, classForHotkey, historyCommand, inField, isTyping } from "./shortcuts.js";
import { applyZoom, showImage, zoom, ZOOM_STEP } from "./stage.js";
import { reviewButtons } from "./review.js";
import { GRACE_MS, StagedAnswer } from "./staging.js";
import { boxTag, renderSuggestion, showSuggestion, suggestion } from "./suggestion.js";
import { $, drawsBoxes, state, taskKind } from "./state.js";
import { busy, element, fail, say, show, startLeaseTimer, stopLeaseTimer } from "./view.js";

function handleError(error, context) {
  if (error instanceof SignInRequired) {
    state.cognito.forget();
    resetTask();
    show("sign-in-view", "username");
    fail("Your session ended; sign in again.");
    return;
  }
  if (error instanceof ApiError && error.code === "NotALabeler") {
    fail("Your account is not in the labeling team; ask your labeling admin to add you.");
    return;
  }
  fail(`${context}: ${error.message || error}`);
}

// ---- jobs ----

function jobSummary(job) {
  const closes = job.expires_at ? new Date(job.expires_at * 1000).toLocaleString() : "";
  const kind = taskKind(job.task_type);
  const typeName = kind ? kind.title : job.task_type;
  return `${typeName} · ${job.objects_done} / ${job.object_count} objects done · my answers: ${job.my_answers}` +
    (closes ? ` · closes ${closes}` : "");
}

export async function loadJobs() {
  try {
    const data = await state.api.jobs();
    state.jobs = (data && data.jobs) || [];
  } catch (error) {
    show("jobs-view");
    handleError(error, "Could not load the jobs");
    return;
  }
  const list = $("job-list");
  list.replaceChildren(
    ...state.jobs.map((job) => {
      const button = element("button", { type: "button", className: "job-button", dataset: { job: job.job_name } }, [
        element("span", { className: "job-title", text: job.title || job.job_name }),
        element("span", { className: "job-meta", text: jobSummary(job) }),
      ]);
      button.addEventListener("click", () => startJob(job.job_name));
      return element("li", {}, [button, ...reviewButtons(job)]);
    }),
  );
  $("no-jobs").hidden = state.jobs.length > 0;
  const first = list.querySelector("button");
  show("jobs-view", first ? undefined : "refresh-jobs");
  if (first) first.focus();
}

// ---- tasks ----

/** True while the leased task is answered with boxes (its task kind draws boxes). */
export function answersAreBoxes() {
  return drawsBoxes(state.task);
}

export function resetTask() {
  state.task = null;
  staging().reset();
  state.boxHistory = new History([]);
  $("task-comment").value = ""; // a comment belongs to one answer
  stopLeaseTimer();
  const image = $("task-image");
  image.removeAttribute("src");
  delete image.dataset.ready;
}

async function startJob(jobName) {
  const job = state.jobs.find((candidate) => candidate.job_name === jobName);
  if (!job) return;
  if (!taskKind(job.task_type)) {
    // The server's task registry names every task type a job can have: this page is older than it.
    fail(`This app cannot label ${job.task_type} tasks; reload the page.`);
    return;
  }
  state.job = job;
  state.progress = { objects: job.object_count, objects_done: job.objects_done, my_answers: job.my_answers };
  $("task-title").textContent = job.title || job.job_name;
  $("instructions").textContent = job.instructions || "Label each image.";
  buildClassButtons(job.class_names || [], drawsBoxes(job));
  renderProgress();
  await nextTask(true);
}

function buildClassButtons(classNames, detection) {
  state.hotkeys = assignHotkeys(classNames, state.job.hotkeys || {});
  const buttons = classNames.map((name, index) => {
    const key = state.hotkeys[index];
    const button = element(
      "button",
      {
        type: "button",
        className: "class-button",
        dataset: { classIndex: String(index) },
        ...(key ? { "aria-keyshortcuts": key, title: `${name} (key ${key})` } : { title: name }),
        "aria-pressed": "false",
      },
      [
        ...(key ? [element("kbd", { className: "key", text: key })] : []),
        ...(detection ? [element("span", { className: "swatch", "aria-hidden": "true" })] : []),
        element("span", { className: "class-name", text: name }),
      ],
    );
    if (detection) button.querySelector(".swatch").style.background = classColor(index);
    button.addEventListener("click", () => chooseClass(index));
    return button;
  });
  $("classes").replaceChildren(...buttons);
  $("classes-hint").textContent = detection
    ? "Pick a class, then drag on the image to draw a box. Click a box to select it; drag it to move it, drag its corners to resize. Keys: the class shortcuts (also change the selected box), + / − zoom, Esc deselects, Delete removes the selected box, Enter submits, Ctrl+Z undoes and Ctrl+Shift+Z redoes a change."
    : `Click the class of the image, or press its key. It is sent after ${GRACE_MS / 1000} s (Enter sends it at once); until then Ctrl+Z undoes it and Ctrl+Shift+Z redoes it.`;
  $("box-panel").hidden = !detection;
  $("staged").hidden = detection;
  $("box-canvas").hidden = !detection;
  state.editor = detection
    ? state.editor || new BoxEditor($("box-canvas"), { onChange: renderBoxes, classNames })
    : state.editor;
  if (state.editor) state.editor.classNames = classNames;
  if (detection) state.editor.currentClass = 0;
  renderCurrentClass();
}

function renderCurrentClass() {
  const detection = drawsBoxes(state.job);
  if (!detection) {
    renderStaged(staging().choice);
    return;
  }
  if (!state.editor) return;
  for (const button of document.querySelectorAll(".class-button")) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.classIndex) === state.editor.currentClass));
  }
}

function renderProgress() {
  const progress = state.progress || {};
  $("progress").textContent =
    `Objects done: ${progress.objects_done ?? 0} / ${progress.objects ?? 0} · My answers: ${progress.my_answers ?? 0}`;
}

async function nextTask(first = false) {
  resetTask();
  busy(true);
  let data;
  try {
    data = await state.api.lease(state.job.job_name);
  } catch (error) {
    busy(false);
    if (jobClosed(error)) {
      showDone("the job takes no more answers");
      return;
    }
    show("jobs-view");
    handleError(error, "Could not get a task");
    return;
  }
  busy(false);
  if (!data || !data.task) {
    showDone(data && data.reason);
    return;
  }
  state.task = data.task;
  state.leaseEndsAt = Date.now() / 1000 + data.task.lease_seconds_left;
  show("task-view");
  await showImage(data.task.image_url);
  const suggested = showSuggestion(); // pre-annotation: the model's class marked, or its boxes drawn
  if (suggested) state.boxHistory = new History(suggested); // undo goes back to the model's boxes
  startLeaseTimer();
  if (state.natural.width) applyZoom(); // fit again, should the page above the image have moved
  if (first) $("task-title").focus();
}

// The job is complete, closed or gone: nothing is wrong, there is just nothing more to do in it.
function jobClosed(error) {
  return error instanceof ApiError && ["JobNotOpen", "JobExpired", "UnknownJob"].includes(error.code);
}

function showDone(reason) {
  $("done-reason").textContent = reason
    ? `There are no more tasks for you in this job (${reason}). Thank you!`
    : "There are no more tasks for you in this job. Thank you!";
  show("done", "done");
  say("Nothing left to label in this job.");
}

// ---- answers ----

function chooseClass(index) {
  if (!state.task || state.busy) return;
  if (answersAreBoxes()) {
    state.editor.setCurrentClass(index);
    renderCurrentClass();
    const name = state.job.class_names[index];
    say(state.editor.selected >= 0 ? `Box ${state.editor.selected + 1} is now ${name}.` : `Drawing ${name}.`);
    return;
  }
  staging().choose(index);
}

// ---- the staged class (classification) ----

function staging() {
  if (!state.staged) {
    state.staged = new StagedAnswer({
      send: (label) => submit({ label }),
      canSend: () => Boolean(state.task) && !state.busy,
      render: renderStaged,
    });
  }
  return state.staged;
}

function renderStaged(label, sendsAt = 0) {
  const names = (state.job && state.job.class_names) || [];
  const chosen = label === null || label === undefined ? null : label;
  if (drawsBoxes(state.job)) return; // a detection job's buttons show the class being drawn instead
  for (const button of document.querySelectorAll(".class-button")) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.classIndex) === chosen));
  }
  const staged = $("staged");
  staged.dataset.staged = chosen === null ? "" : String(chosen);
  if (chosen === null) {
    staged.textContent = "";
  } else {
    const when = sendsAt ? `it is sent in ${Math.max(0, Math.round((sendsAt - Date.now()) / 100) / 10)} s` : "press Enter to send it";
    staged.textContent = `Chosen: ${names[chosen]} — ${when}; Ctrl+Z undoes.`;
  }
  $("submit-task").textContent = chosen === null ? "Send" : `Send ${names[chosen]} now`;
  renderSuggestion(chosen);
}

/** Undo or redo (`command`): the staged class, or the boxes drawn on this task. */
export function undoRedo(command) {
  if (!state.task || state.busy) return;
  if (answersAreBoxes()) {
    const boxes = command === "undo" ? state.boxHistory.undo() : state.boxHistory.redo();
    if (boxes === undefined) {
      say(command === "undo" ? "Nothing to undo." : "Nothing to redo.");
      return;
    }
    state.editor.boxes = boxes;
    state.editor.selected = -1;
    state.editor.changed();
    say(`${command === "undo" ? "Undone" : "Redone"}: ${boxes.length} box(es).`);
    return;
  }
  const done = command === "undo" ? staging().undo() : staging().redo();
  if (!done) {
    say(command === "undo" ? "Nothing to undo: answers already sent are final." : "Nothing to redo.");
    return;
  }
  const label = staging().choice;
  say(label === null ? "Undone: no class chosen." : `${command === "undo" ? "Undone" : "Redone"}: ${state.job.class_names[label]} chosen.`);
}

/** Send the staged class now; false when none is staged. */
export function sendStaged() {
  return staging().flush();
}

function currentAnswer() {
  if (!answersAreBoxes()) return null;
  const { width, height } = state.natural;
  return { boxes: answerBoxes(state.editor.boxes, width, height), image_size: { width, height } };
}

/**
 * Send `answer` (default: the drawn boxes) for the leased task, then lease the next task unless `next` is
 * false. True when the service stored it; on a failure a class answer is staged again (Enter resends it).
 */
export async function submit(answer, { next = true } = {}) {
  if (!state.task || state.busy) return false;
  const body = answer || currentAnswer();
  if (!body) return false;
  const seconds = Math.round((performance.now() - state.shownAt) / 100) / 10;
  const task = state.task;
  busy(true);
  try {
    const comment = $("task-comment").value.trim(); // for the reviewers (the review stage)
    const data = await state.api.answer(task.job_name, task.index, {
      lease_id: task.lease_id,
      answer: body,
      seconds,
      ...(comment ? { comment } : {}),
    });
    if (data && data.progress) state.progress = data.progress;
    renderProgress();
    say(body.boxes ? `Sent ${body.boxes.length} box(es).` : `Sent ${state.job.class_names[body.label]}.`);
  } catch (error) {
    busy(false);
    if (jobClosed(error)) {
      showDone("the job closed before this answer was saved");
      return false;
    }
    if (error instanceof ApiError && error.status === 409) {
      say("This task's lease was lost (its time ran out); loading the next task.");
      await nextTask();
      return false;
    }
    handleError(error, "The answer was not saved");
    if (body.label !== undefined && state.task === task) staging().keep(body.label);
    return false;
  }
  busy(false);
  const progress = state.progress || {};
  if (!next) {
    resetTask();
  } else if (progress.objects && progress.objects_done >= progress.objects) {
    // Every object has all its answers: the job is complete, there is nothing left to lease.
    showDone("every object has all its answers");
  } else {
    await nextTask();
  }
  return true;
}

export async function releaseCurrent(skip = false) {
  const task = state.task;
  if (!task) return;
  state.task = null;
  try {
    await state.api.release(task.job_name, task.index, task.lease_id, skip);
  } catch (error) {
    // The lease runs out by itself; a failed release only delays the task for others.
    if (!(error instanceof ApiError && error.status === 409)) console.warn("release failed", error);
  }
}

export async function skip() {
  if (!state.task || state.busy) return;
  staging().reset(); // skipping drops the class chosen for this task
  busy(true);
  await releaseCurrent(true);
  busy(false);
  say("Skipped.");
  await nextTask();
}

export async function backToJobs() {
  // A staged class was chosen: it is sent, not dropped; if that fails the page stays on the task.
  if (staging().choice !== null) {
    if (state.busy || !(await submit({ label: staging().take() }, { next: false }))) return;
  }
  await releaseCurrent();
  resetTask();
  await loadJobs();
}

// ---- boxes list ----

function renderBoxes() {
  const editor = state.editor;
  if (!editor || !state.job) return;
  const classNames = state.job.class_names || [];
  // Pre-annotation: each row is tagged as the model's, changed or added box.
  const items = boxListItems(editor, classNames, { idPrefix: "box-class", canvas: $("box-canvas"), tagFor: boxTag });
  $("box-list").replaceChildren(...items);
  $("box-count").textContent = `(${editor.boxes.length})`;
  if (state.boxHistory) state.boxHistory.record(editor.boxes); // an unchanged list records nothing
  $("delete-box").disabled = editor.selected < 0;
  $("submit-task").textContent = editor.boxes.length ? `Submit ${editor.boxes.length} box(es)` : "Submit: no objects";
  if (editor.selected >= 0 && editor.boxes[editor.selected].class_id !== editor.currentClass) {
    editor.currentClass = editor.boxes[editor.selected].class_id;
  }
  renderCurrentClass();
  if (state.task) renderSuggestion(null);
}

// ---- keyboard ----

export function keyDown(event) {
  if ($("task-view").hidden || !state.task) return;
  const command = historyCommand(event);
  if (command && !inField(event)) {
    event.preventDefault();
    undoRedo(command);
    return;
  }
  if (isTyping(event)) return;
  if (!answersAreBoxes() && event.key === "Enter" && staging().choice !== null) {
    event.preventDefault(); // a focused class button would otherwise choose again instead of sending
    sendStaged();
    return;
  }
  if (!answersAreBoxes() && event.key === "Enter" && suggestion() && !state.busy) {
    event.preventDefault(); // pre-annotation: one key accepts the model's class as it is
    submit({ label: suggestion().label });
    return;
  }
  const index = classForHotkey(event.key, state.hotkeys);
  if (index >= 0) {
    event.preventDefault();
    const button = document.querySelector(`.class-button[data-class-index="${index}"]`);
    if (button && !answersAreBoxes()) button.focus();
    chooseClass(index);
    return;
  }
  if (event.key === "+" || event.key === "=") {
    event.preventDefault();
    zoom(ZOOM_STEP);
  } else if (event.key === "-" || event.key === "_") {
    event.preventDefault();
    zoom(1 / ZOOM_STEP);
  } else if (answersAreBoxes() && (event.key === "Delete" || event.key === "Backspace")) {
    event.preventDefault();
    const number = state.editor.selected + 1;
    if (state.editor.deleteSelected()) say(`Box ${number} deleted.`);
  } else if (answersAreBoxes() && event.key === "Escape") {
    state.editor.select(-1);
  } else if (answersAreBoxes() && event.key === "Enter") {
    // Enter on a focused button already clicks it; only elsewhere does Enter mean "submit".
    const tag = (event.target && event.target.tagName) || "";
    if (tag !== "BUTTON" && tag !== "A" && tag !== "SUMMARY") {
      event.preventDefault();
      submit();
    }
  }
}
