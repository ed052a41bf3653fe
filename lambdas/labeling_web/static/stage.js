// The task image: loading it, fitting it into the visible part of the window by default (zoom 1 = fit),
// zooming and the 100 % toggle (the box canvas follows its size).

import { $, drawsBoxes, state } from "./state.js";
import { fail, say } from "./view.js";

export const ZOOM_STEP = 1.25;
const ZOOM_MIN = 0.25;
const ZOOM_MAX = 8;

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

// The stage ends this far above the window's bottom edge (main's bottom padding, the stage's border, air).
const FIT_MARGIN_PX = 24;
const MIN_FIT_PX = 160;
// Below this window width the class buttons sit under the image (app.css): leave them room on screen.
const STACKED_WIDTH_PX = 56 * 16;
const STACKED_HEIGHT_SHARE = 0.6;

/** The stage's largest size that needs no scrolling of the page: the rest of the window below the
 * stage's top (measured on the page, not the viewport, so a scrolled page fits the same). */
function fitArea() {
  const stage = $("image-stage");
  const top = stage.getBoundingClientRect().top + window.scrollY;
  let height = window.innerHeight - top - FIT_MARGIN_PX;
  if (window.innerWidth <= STACKED_WIDTH_PX) height = Math.min(height, window.innerHeight * STACKED_HEIGHT_SHARE);
  return { width: Math.max(stage.clientWidth - 4, 64), height: Math.max(height, MIN_FIT_PX) };
}

/** CSS pixels per image pixel at zoom 1 ("Fit"): the whole image in the fit area, aspect ratio kept. */
export function fitScale() {
  const area = fitArea();
  const { width: naturalWidth, height: naturalHeight } = state.natural;
  if (!naturalWidth || !naturalHeight) return 1;
  return Math.min((area.width - 2) / naturalWidth, (area.height - 2) / naturalHeight);
}

/** Size the image (and the box canvas over it) for the current zoom. Boxes stay in image pixels: the
 * canvas maps pointer positions through its on-screen size, whatever the zoom. */
export function applyZoom() {
  const area = fitArea();
  const stage = $("image-stage");
  // Zoomed in, the stage scrolls inside the fit area; the page itself never needs scrolling.
  stage.style.maxHeight = `${Math.round(area.height)}px`;
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
  const actual = Math.abs(scale - 1) < 0.005;
  $("zoom-actual").setAttribute("aria-pressed", String(actual));
  image.dataset.scale = String(Math.round(scale * 1000) / 1000);
}

/** The "100 %" toggle: the image at its own size (one screen pixel per image pixel), or back to fit. */
export function actualSize() {
  if (!state.task || !state.natural.width) return;
  const fit = fitScale();
  const atActual = Math.abs(fit * state.zoom - 1) < 0.005;
  state.zoom = atActual ? 1 : 1 / fit;
  applyZoom();
  say(atActual ? "Fit to the window." : "Actual size (100 %).");
}

export function zoom(factor) {
  if (!state.task) return;
  state.zoom = factor === 0 ? 1 : Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, state.zoom * factor));
  applyZoom();
  say(`Zoom ${Math.round(state.zoom * 100)}%.`);
}
