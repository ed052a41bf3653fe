// The labeling app: sign in, pick a job, label its tasks one after another.
// Plain modules, no framework; everything the page shows is built with DOM calls (no innerHTML), so
// text from the service (titles, instructions, class names) can never become markup.

import { ApiError, LabelingApi, SignInRequired } from "./api.js";
import { Cognito, PASSWORD_POLICY, passwordHint, passwordProblems, signInMessage } from "./auth.js";
import { BoxEditor, answerBoxes, classColor } from "./boxes.js";
import { classForKey, isTyping, shortcutFor } from "./shortcuts.js";

const $ = (id) => document.getElementById(id);
const VIEWS = ["sign-in-view", "new-password-view", "mfa-view", "jobs-view", "task-view", "done"];
const ZOOM_STEP = 1.25;
const ZOOM_MIN = 0.25;
const ZOOM_MAX = 8;
const MAX_FIT_HEIGHT_SHARE = 0.65; // of the window's height: room for the buttons below the image

const state = {
  cognito: null,
  api: null,
  challenge: null,
  jobs: [],
  job: null, // the job being labeled (from the job list)
  task: null, // the leased task
  progress: null, // {objects, objects_done, my_answers}
  shownAt: 0, // performance.now() when the task's image appeared
  zoom: 1,
  natural: { width: 0, height: 0 },
  editor: null,
  busy: false,
  leaseTimer: 0,
  leaseWarned: false,
  // The lease's end on this browser's clock (epoch s): when the lease came plus its remaining length. The
  // service's lease_expires_at is on its clock, and a labeler's clock may be off from it by any amount.
  leaseEndsAt: 0,
};

// ---- status and views ----

function say(message) {
  const status = $("status");
  status.dataset.kind = "info";
  status.textContent = message;
}

function fail(message) {
  const status = $("status");
  status.dataset.kind = "error";
  status.textContent = `Error: ${message}`;
}

function clearStatus() {
  $("status").textContent = "";
  $("status").dataset.kind = "info";
}

function show(view, focusId) {
  $("loading").hidden = true;
  for (const id of VIEWS) $(id).hidden = id !== view;
  const signedIn = Boolean(state.cognito && state.cognito.session);
  $("who").hidden = !signedIn;
  $("who-name").textContent = signedIn ? `Signed in as ${state.cognito.session.username}` : "";
  if (view !== "task-view") stopLeaseTimer();
  const target = focusId ? $(focusId) : null;
  if (target) target.focus();
}

function busy(on) {
  state.busy = on;
  for (const id of ["submit-task", "skip-task", "sign-in", "set-password", "verify-mfa"]) $(id).disabled = on;
  for (const button of document.querySelectorAll(".class-button")) button.setAttribute("aria-disabled", String(on));
  document.body.classList.toggle("busy", on);
}

function element(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

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

// ---- sign-in ----

async function afterSignIn(outcome) {
  if (outcome.session) {
    state.challenge = null;
    $("password").value = "";
    $("new-password").value = "";
    $("new-password-again").value = "";
    $("mfa-code").value = "";
    say(`Signed in as ${outcome.session.username}.`);
    await loadJobs();
    return;
  }
  state.challenge = outcome.challenge;
  if (outcome.challenge.name === "NEW_PASSWORD_REQUIRED") {
    // For password managers: which account the new password belongs to.
    $("new-password-username").value = $("username").value.trim();
    show("new-password-view", "new-password");
    say("Choose a new password to finish signing in.");
  } else if (outcome.challenge.name === "SOFTWARE_TOKEN_MFA") {
    show("mfa-view", "mfa-code");
    say("Enter the code from your authenticator app.");
  } else {
    state.challenge = null;
    show("sign-in-view", "username");
    fail(`Sign-in step ${outcome.challenge.name} is not supported by this app; ask your labeling admin.`);
  }
}

async function signIn(event) {
  event.preventDefault();
  if (state.busy) return;
  const username = $("username").value.trim();
  const password = $("password").value;
  if (!username || !password) {
    fail("Enter your user name and password.");
    $(username ? "password" : "username").focus();
    return;
  }
  busy(true);
  say("Signing in…");
  try {
    await afterSignIn(await state.cognito.signIn(username, password));
  } catch (error) {
    fail(signInMessage(error));
    $("password").focus();
  } finally {
    busy(false);
  }
}

async function setNewPassword(event) {
  event.preventDefault();
  if (state.busy || !state.challenge) return;
  const password = $("new-password").value;
  const problems = passwordProblems(password);
  if (problems.length) {
    fail(`The new password needs ${problems.join(", ")}.`);
    $("new-password").focus();
    return;
  }
  if (password !== $("new-password-again").value) {
    fail("The two passwords differ.");
    $("new-password-again").focus();
    return;
  }
  busy(true);
  say("Setting your password…");
  try {
    await afterSignIn(await state.cognito.respond(state.challenge, { newPassword: password }));
  } catch (error) {
    fail(signInMessage(error));
    if (error.code === "NotAuthorizedException") show("sign-in-view", "username");
    else $("new-password").focus();
  } finally {
    busy(false);
  }
}

async function verifyMfa(event) {
  event.preventDefault();
  if (state.busy || !state.challenge) return;
  const code = $("mfa-code").value.trim();
  if (!/^[0-9]{6}$/.test(code)) {
    fail("The code has 6 digits.");
    $("mfa-code").focus();
    return;
  }
  busy(true);
  try {
    await afterSignIn(await state.cognito.respond(state.challenge, { code }));
  } catch (error) {
    fail(signInMessage(error));
    if (error.code === "NotAuthorizedException") show("sign-in-view", "username");
    else $("mfa-code").focus();
  } finally {
    busy(false);
  }
}

async function signOut() {
  await releaseCurrent();
  resetTask();
  await state.cognito.signOut();
  show("sign-in-view", "username");
  say("Signed out.");
}

// ---- jobs ----

function jobSummary(job) {
  const closes = job.expires_at ? new Date(job.expires_at * 1000).toLocaleString() : "";
  const typeName = job.task_type === "object-detection" ? "Bounding boxes" : "Image classification";
  return `${typeName} · ${job.objects_done} / ${job.object_count} objects done · my answers: ${job.my_answers}` +
    (closes ? ` · closes ${closes}` : "");
}

async function loadJobs() {
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
      return element("li", {}, [button]);
    }),
  );
  $("no-jobs").hidden = state.jobs.length > 0;
  const first = list.querySelector("button");
  show("jobs-view", first ? undefined : "refresh-jobs");
  if (first) first.focus();
}

// ---- tasks ----

function isDetection() {
  return state.task && state.task.task_type === "object-detection";
}

function resetTask() {
  state.task = null;
  stopLeaseTimer();
  const image = $("task-image");
  image.removeAttribute("src");
  delete image.dataset.ready;
}

async function startJob(jobName) {
  const job = state.jobs.find((candidate) => candidate.job_name === jobName);
  if (!job) return;
  state.job = job;
  state.progress = { objects: job.object_count, objects_done: job.objects_done, my_answers: job.my_answers };
  $("task-title").textContent = job.title || job.job_name;
  $("instructions").textContent = job.instructions || "Label each image.";
  buildClassButtons(job.class_names || [], job.task_type === "object-detection");
  renderProgress();
  await nextTask(true);
}

function buildClassButtons(classNames, detection) {
  const buttons = classNames.map((name, index) => {
    const key = shortcutFor(index);
    const button = element(
      "button",
      {
        type: "button",
        className: "class-button",
        dataset: { classIndex: String(index) },
        ...(key ? { "aria-keyshortcuts": key, title: `${name} (key ${key})` } : { title: name }),
        ...(detection ? { "aria-pressed": "false" } : {}),
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
    ? "Pick a class, then drag on the image to draw a box. Click a box to select it; drag it to move it, drag its corners to resize. Keys: the class shortcuts (also change the selected box), + / − zoom, Esc deselects, Delete removes the selected box, Enter submits."
    : "Click the class of the image, or press its key. The answer is sent at once.";
  $("box-panel").hidden = !detection;
  // Classification answers on the class click itself; only boxes need an explicit submit.
  $("submit-task").hidden = !detection;
  $("box-canvas").hidden = !detection;
  state.editor = detection
    ? state.editor || new BoxEditor($("box-canvas"), { onChange: renderBoxes, classNames })
    : state.editor;
  if (state.editor) state.editor.classNames = classNames;
  if (detection) state.editor.currentClass = 0;
  renderCurrentClass();
}

function renderCurrentClass() {
  const detection = state.job && state.job.task_type === "object-detection";
  if (!detection || !state.editor) return;
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
  startLeaseTimer();
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

function showImage(url) {
  const image = $("task-image");
  return new Promise((resolve) => {
    image.onload = () => {
      state.natural = { width: image.naturalWidth, height: image.naturalHeight };
      state.zoom = 1;
      if (isDetection()) state.editor.reset(image.naturalWidth, image.naturalHeight);
      applyZoom();
      state.shownAt = performance.now();
      // Which object is on screen, and that it is ready to label (tests and assistive tools read these).
      image.dataset.sourceRef = state.task.source_ref || "";
      image.dataset.ready = "true";
      resolve(true);
    };
    image.onerror = () => {
      fail("The image could not be loaded. Skip this task, or go back to the jobs and try again.");
      resolve(false);
    };
    image.alt = `Image ${state.task.index + 1} to label`;
    image.src = url;
  });
}

function fitScale() {
  const stage = $("image-stage");
  const width = Math.max(stage.clientWidth - 4, 64);
  const height = Math.max(window.innerHeight * MAX_FIT_HEIGHT_SHARE, 160);
  const { width: naturalWidth, height: naturalHeight } = state.natural;
  if (!naturalWidth || !naturalHeight) return 1;
  return Math.min(width / naturalWidth, height / naturalHeight);
}

function applyZoom() {
  const scale = fitScale() * state.zoom;
  const cssWidth = Math.max(1, Math.round(state.natural.width * scale));
  const cssHeight = Math.max(1, Math.round(state.natural.height * scale));
  const image = $("task-image");
  image.style.width = `${cssWidth}px`;
  image.style.height = `${cssHeight}px`;
  // Small images (e.g. 28-pixel digits) are enlarged: keep their pixels crisp instead of blurred.
  image.classList.toggle("pixelated", scale >= 3);
  if (isDetection()) state.editor.resize(cssWidth, cssHeight);
  $("zoom-level").textContent = `${Math.round(state.zoom * 100)}%`;
}

function zoom(factor) {
  if (!state.task) return;
  state.zoom = factor === 0 ? 1 : Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, state.zoom * factor));
  applyZoom();
  say(`Zoom ${Math.round(state.zoom * 100)}%.`);
}

// ---- the lease countdown ----

function startLeaseTimer() {
  stopLeaseTimer();
  state.leaseWarned = false;
  renderLease();
  state.leaseTimer = window.setInterval(renderLease, 1000);
}

function stopLeaseTimer() {
  if (state.leaseTimer) window.clearInterval(state.leaseTimer);
  state.leaseTimer = 0;
  $("lease").textContent = "";
}

function renderLease() {
  if (!state.task || !state.leaseEndsAt) return;
  const left = Math.round(state.leaseEndsAt - Date.now() / 1000);
  if (left <= 0) {
    $("lease").textContent = "This task's time is up: it may have gone to someone else.";
    return;
  }
  const minutes = Math.floor(left / 60);
  const seconds = String(left % 60).padStart(2, "0");
  $("lease").textContent = `Time left for this task: ${minutes}:${seconds}`;
  if (left <= 30 && !state.leaseWarned) {
    state.leaseWarned = true;
    say("30 seconds left for this task.");
  }
}

// ---- answers ----

function chooseClass(index) {
  if (!state.task || state.busy) return;
  if (isDetection()) {
    state.editor.setCurrentClass(index);
    renderCurrentClass();
    const name = state.job.class_names[index];
    say(state.editor.selected >= 0 ? `Box ${state.editor.selected + 1} is now ${name}.` : `Drawing ${name}.`);
    return;
  }
  submit({ label: index });
}

function currentAnswer() {
  if (!isDetection()) return null;
  const { width, height } = state.natural;
  return { boxes: answerBoxes(state.editor.boxes, width, height), image_size: { width, height } };
}

async function submit(answer) {
  if (!state.task || state.busy) return;
  const body = answer || currentAnswer();
  if (!body) return;
  const seconds = Math.round((performance.now() - state.shownAt) / 100) / 10;
  const task = state.task;
  busy(true);
  try {
    const data = await state.api.answer(task.job_name, task.index, { lease_id: task.lease_id, answer: body, seconds });
    if (data && data.progress) state.progress = data.progress;
    renderProgress();
    say(body.boxes ? `Sent ${body.boxes.length} box(es).` : `Sent ${state.job.class_names[body.label]}.`);
  } catch (error) {
    busy(false);
    if (jobClosed(error)) {
      showDone("the job closed before this answer was saved");
      return;
    }
    if (error instanceof ApiError && error.status === 409) {
      say("This task's lease was lost (its time ran out); loading the next task.");
      await nextTask();
      return;
    }
    handleError(error, "The answer was not saved");
    return;
  }
  busy(false);
  const progress = state.progress || {};
  if (progress.objects && progress.objects_done >= progress.objects) {
    // Every object has all its answers: the job is complete, there is nothing left to lease.
    showDone("every object has all its answers");
    return;
  }
  await nextTask();
}

async function releaseCurrent(skip = false) {
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

async function skip() {
  if (!state.task || state.busy) return;
  busy(true);
  await releaseCurrent(true);
  busy(false);
  say("Skipped.");
  await nextTask();
}

async function backToJobs() {
  await releaseCurrent();
  resetTask();
  await loadJobs();
}

// ---- boxes list ----

function renderBoxes() {
  const editor = state.editor;
  if (!editor || !state.job) return;
  const classNames = state.job.class_names || [];
  const items = editor.boxes.map((box, index) => {
    const selected = index === editor.selected;
    const selectButton = element("button", {
      type: "button",
      className: "box-select",
      "aria-pressed": String(selected),
      text: `Box ${index + 1}: ${Math.round(box.left)}, ${Math.round(box.top)}, ${Math.round(box.width)} × ${Math.round(box.height)}`,
    });
    selectButton.addEventListener("click", () => {
      editor.select(index);
      $("box-canvas").focus();
    });
    const selectId = `box-class-${index}`;
    const classSelect = element(
      "select",
      { id: selectId },
      classNames.map((name, classId) => {
        const option = element("option", { value: String(classId), text: name });
        option.selected = classId === box.class_id;
        return option;
      }),
    );
    classSelect.addEventListener("change", () => editor.setBoxClass(index, Number(classSelect.value)));
    const deleteButton = element("button", { type: "button", className: "box-delete secondary", text: "Delete", "aria-label": `Delete box ${index + 1}` });
    deleteButton.addEventListener("click", () => {
      editor.deleteBox(index);
      say(`Box ${index + 1} deleted.`);
      $("box-canvas").focus();
    });
    const swatch = element("span", { className: "swatch", "aria-hidden": "true" });
    swatch.style.background = classColor(box.class_id);
    return element("li", { className: selected ? "box-item selected" : "box-item", dataset: { boxIndex: String(index) } }, [
      swatch,
      selectButton,
      element("label", { for: selectId, className: "visually-hidden", text: `Class of box ${index + 1}` }),
      classSelect,
      deleteButton,
    ]);
  });
  $("box-list").replaceChildren(...items);
  $("box-count").textContent = `(${editor.boxes.length})`;
  $("delete-box").disabled = editor.selected < 0;
  $("submit-task").textContent = editor.boxes.length ? `Submit ${editor.boxes.length} box(es)` : "Submit: no objects";
  if (editor.selected >= 0 && editor.boxes[editor.selected].class_id !== editor.currentClass) {
    editor.currentClass = editor.boxes[editor.selected].class_id;
  }
  renderCurrentClass();
}

// ---- keyboard ----

function keyDown(event) {
  if (isTyping(event) || $("task-view").hidden || !state.task) return;
  const classCount = (state.job && state.job.class_names.length) || 0;
  const index = classForKey(event.key, classCount);
  if (index >= 0) {
    event.preventDefault();
    const button = document.querySelector(`.class-button[data-class-index="${index}"]`);
    if (button && !isDetection()) button.focus();
    chooseClass(index);
    return;
  }
  if (event.key === "+" || event.key === "=") {
    event.preventDefault();
    zoom(ZOOM_STEP);
  } else if (event.key === "-" || event.key === "_") {
    event.preventDefault();
    zoom(1 / ZOOM_STEP);
  } else if (isDetection() && (event.key === "Delete" || event.key === "Backspace")) {
    event.preventDefault();
    const number = state.editor.selected + 1;
    if (state.editor.deleteSelected()) say(`Box ${number} deleted.`);
  } else if (isDetection() && event.key === "Escape") {
    state.editor.select(-1);
  } else if (isDetection() && event.key === "Enter") {
    // Enter on a focused button already clicks it; only elsewhere does Enter mean "submit".
    const tag = (event.target && event.target.tagName) || "";
    if (tag !== "BUTTON" && tag !== "A" && tag !== "SUMMARY") {
      event.preventDefault();
      submit();
    }
  }
}

// ---- start ----

async function loadConfig() {
  const response = await fetch("config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json answered ${response.status}`);
  return response.json();
}

function wire() {
  $("new-password-hint").textContent = passwordHint();
  $("new-password").minLength = PASSWORD_POLICY.minLength;
  $("sign-in-form").addEventListener("submit", signIn);
  $("new-password-form").addEventListener("submit", setNewPassword);
  $("mfa-form").addEventListener("submit", verifyMfa);
  $("sign-out").addEventListener("click", signOut);
  $("refresh-jobs").addEventListener("click", loadJobs);
  $("back-to-jobs").addEventListener("click", backToJobs);
  $("done-back").addEventListener("click", loadJobs);
  $("submit-task").addEventListener("click", () => (isDetection() ? submit() : fail("Click the image's class to answer.")));
  $("skip-task").addEventListener("click", skip);
  $("zoom-in").addEventListener("click", () => zoom(ZOOM_STEP));
  $("zoom-out").addEventListener("click", () => zoom(1 / ZOOM_STEP));
  $("zoom-reset").addEventListener("click", () => zoom(0));
  $("delete-box").addEventListener("click", () => {
    const number = state.editor ? state.editor.selected + 1 : 0;
    if (state.editor && state.editor.deleteSelected()) say(`Box ${number} deleted.`);
  });
  document.addEventListener("keydown", keyDown);
  window.addEventListener("resize", () => {
    if (state.task) applyZoom();
  });
  window.addEventListener("pagehide", () => {
    // Give the task back at once when the tab closes, instead of when the lease runs out.
    const task = state.task;
    const session = state.cognito && state.cognito.session;
    if (task && session) {
      fetch(`api/jobs/${encodeURIComponent(task.job_name)}/tasks/${task.index}/release`, {
        method: "POST",
        keepalive: true,
        headers: { Authorization: session.idToken, "Content-Type": "application/json" },
        body: JSON.stringify({ lease_id: task.lease_id }),
      }).catch(() => {});
    }
  });
}

async function main() {
  wire();
  let config;
  try {
    config = await loadConfig();
  } catch (error) {
    $("loading").hidden = true;
    fail(`The app could not load its settings (${error.message}). Reload the page.`);
    return;
  }
  state.cognito = new Cognito({ endpoint: config.cognitoEndpoint, clientId: config.clientId });
  state.api = new LabelingApi(state.cognito);
  if (state.cognito.restore() && (await state.cognito.idToken())) {
    await loadJobs();
  } else {
    state.cognito.forget();
    show("sign-in-view", "username");
  }
}

main();
