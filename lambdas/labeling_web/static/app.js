// The labeling app: sign in, pick a job, label its tasks one after another.
// Plain modules, no framework; everything the page shows is built with DOM calls (no innerHTML), so
// text from the service (titles, instructions, class names) can never become markup.

import { LabelingApi } from "./api.js";
import { Cognito, PASSWORD_POLICY, passwordHint } from "./auth.js";
import { answersAreBoxes, backToJobs, keyDown, loadJobs, sendStaged, skip, submit, undoRedo } from "./labeling.js";
import { setNewPassword, signIn, signOut, verifyMfa } from "./signin.js";
import { actualSize, applyZoom, zoom, ZOOM_STEP } from "./stage.js";
import { $, state } from "./state.js";
import { suggestion } from "./suggestion.js";
import { fail, say, show } from "./view.js";

// ---- start ----

async function loadJson(name) {
  const response = await fetch(name, { cache: "no-store" });
  if (!response.ok) throw new Error(`${name} answered ${response.status}`);
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
  $("submit-task").addEventListener("click", () => {
    if (answersAreBoxes()) submit();
    else if (sendStaged()) return;
    else if (suggestion()) submit({ label: suggestion().label }); // pre-annotation: accept the model's class
    else fail("Click the image's class (or press its key) first.");
  });
  $("skip-task").addEventListener("click", skip);
  $("undo").addEventListener("click", () => undoRedo("undo"));
  $("redo").addEventListener("click", () => undoRedo("redo"));
  $("zoom-in").addEventListener("click", () => zoom(ZOOM_STEP));
  $("zoom-out").addEventListener("click", () => zoom(1 / ZOOM_STEP));
  $("zoom-reset").addEventListener("click", () => zoom(0));
  $("zoom-actual").addEventListener("click", actualSize);
  $("delete-box").addEventListener("click", () => {
    const number = state.editor ? state.editor.selected + 1 : 0;
    if (state.editor && state.editor.deleteSelected()) say(`Box ${number} deleted.`);
  });
  document.addEventListener("keydown", keyDown);
  window.addEventListener("resize", () => {
    if (state.task) applyZoom();
  });
  window.addEventListener("pagehide", () => {
    // The tab closes: a staged class is sent (it was chosen; its grace period is cut short), else the task
    // is given back at once instead of when the lease runs out.
    const task = state.task;
    const session = state.cognito && state.cognito.session;
    if (!task || !session) return;
    const label = state.staged ? state.staged.take() : null;
    const seconds = Math.round((performance.now() - state.shownAt) / 100) / 10;
    const [action, body] =
      label === null ? ["release", { lease_id: task.lease_id }] : ["answer", { lease_id: task.lease_id, answer: { label }, seconds }];
    fetch(`api/jobs/${encodeURIComponent(task.job_name)}/tasks/${task.index}/${action}`, {
      method: "POST",
      keepalive: true,
      headers: { Authorization: session.idToken, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }).catch(() => {});
  });
}

async function main() {
  wire();
  let config;
  try {
    // Where to sign in, and the task kinds (the server's task registry: this page names no task type).
    [config, state.tasks] = await Promise.all([loadJson("config.json"), loadJson("app/tasks.json")]);
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
