// The task image: loading it, fitting it to the window and zooming (the box canvas follows its size).

import { $, drawsBoxes, state } from "./state.js";
import { fail, say } from "./view.js";

export const ZOOM_STEP = 1.25;
const ZOOM_MIN = 0.25;
const ZOOM_MAX = 8;
const MAX_FIT_HEIGHT_SHARE = 0.65; // of the window's height: room for the buttons below the image

export function showImage(url) {
  const image = $("task-image");
  return new Promise((resolve) => {
    image.onload = () => {
      state.natural = { width: image.naturalWidth, height: image.naturalHeight };
      state.zoom = 1;
      if (drawsBoxes(state.task)) state.editor.reset(image.naturalWidth, image.naturalHeight);
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

export function applyZoom() {
  const scale = fitScale() * state.zoom;
  const cssWidth = Math.max(1, Math.round(state.natural.width * scale));
  const cssHeight = Math.max(1, Math.round(state.natural.height * scale));
  const image = $("task-image");
  image.style.width = `${cssWidth}px`;
  image.style.height = `${cssHeight}px`;
  // Small images (e.g. 28-pixel digits) are enlarged: keep their pixels crisp instead of blurred.
  image.classList.toggle("pixelated", scale >= 3);
  if (drawsBoxes(state.task)) state.editor.resize(cssWidth, cssHeight);
  $("zoom-level").textContent = `${Math.round(state.zoom * 100)}%`;
}

export function zoom(factor) {
  if (!state.task) return;
  state.zoom = factor === 0 ? 1 : Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, state.zoom * factor));
  applyZoom();
  say(`Zoom ${Math.round(state.zoom * 100)}%.`);
}
