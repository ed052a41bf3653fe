// Status line, views, the busy state, DOM building and the lease countdown: what every step of the page uses.

import { $, state } from "./state.js";

const VIEWS = ["sign-in-view", "new-password-view", "mfa-view", "jobs-view", "task-view", "review-view", "done"];

// ---- status and views ----

export function say(message) {
  const status = $("status");
  status.dataset.kind = "info";
  status.textContent = message;
}

export function fail(message) {
  const status = $("status");
  status.dataset.kind = "error";
  status.textContent = `Error: ${message}`;
}

export function show(view, focusId) {
  $("loading").hidden = true;
  for (const id of VIEWS) $(id).hidden = id !== view;
  const signedIn = Boolean(state.cognito && state.cognito.session);
  $("who").hidden = !signedIn;
  $("who-name").textContent = signedIn ? `Signed in as ${state.cognito.session.username}` : "";
  if (view !== "task-view") stopLeaseTimer();
  const target = focusId ? $(focusId) : null;
  if (target) target.focus();
}

export function busy(on) {
  state.busy = on;
  for (const id of ["submit-task", "skip-task", "sign-in", "set-password", "verify-mfa"]) $(id).disabled = on;
  for (const button of document.querySelectorAll(".class-button")) button.setAttribute("aria-disabled", String(on));
  document.body.classList.toggle("busy", on);
}

export function element(tag, props = {}, children = []) {
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

// ---- the lease countdown ----

export function startLeaseTimer() {
  stopLeaseTimer();
  state.leaseWarned = false;
  renderLease();
  state.leaseTimer = window.setInterval(renderLease, 1000);
}

export function stopLeaseTimer() {
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
