// Bounding boxes over the task image: geometry in natural image pixels, drawn on a canvas overlay.
// The canvas has the image's displayed size; pointer positions map to image pixels through the canvas's
// on-screen rectangle, so zoom and scrolling never skew coordinates. Dragging draws a new box (of the
// current class) wherever it starts; a click selects the box under the pointer; the selected box moves
// by dragging it and resizes by dragging its corner handles. Guides (the review view's anonymised answers)
// are drawn beneath, thin and dotted, and never take a click.

export const MIN_BOX_PIXELS = 2; // smaller drags are clicks, not boxes
const HANDLE_CSS_PIXELS = 7; // half the side of a corner handle, on screen
const PALETTE = ["#d7191c", "#2b83ba", "#1a9641", "#7b3294", "#e66101", "#008080", "#c51b7d", "#4d4d4d", "#a6611a", "#0571b0"];

/** The colour of class `classId` (outline and list swatch). */
export function classColor(classId) {
  return PALETTE[((classId % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

const clamp = (value, low, high) => Math.min(Math.max(value, low), high);

/** The box spanned by two corners, clipped to a `width` x `height` image. */
export function spanBox(x0, y0, x1, y1, width, height) {
  const left = clamp(Math.min(x0, x1), 0, width);
  const top = clamp(Math.min(y0, y1), 0, height);
  const right = clamp(Math.max(x0, x1), 0, width);
  const bottom = clamp(Math.max(y0, y1), 0, height);
  return { left, top, width: right - left, height: bottom - top };
}

/** `box` moved by (dx, dy), kept inside the image whole. */
export function movedBox(box, dx, dy, width, height) {
  return {
    ...box,
    left: clamp(box.left + dx, 0, Math.max(0, width - box.width)),
    top: clamp(box.top + dy, 0, Math.max(0, height - box.height)),
  };
}

/** `box` with `corner` (nw, ne, sw, se) dragged to (x, y); the opposite corner stays put. */
export function resizedBox(box, corner, x, y, width, height) {
  const right = box.left + box.width;
  const bottom = box.top + box.height;
  const fixedX = corner.includes("w") ? right : box.left;
  const fixedY = corner.includes("n") ? bottom : box.top;
  return { ...box, ...spanBox(fixedX, fixedY, x, y, width, height) };
}

/** The corner handle of `box` under (x, y), with `tolerance` in image pixels; null when none. */
export function handleAt(box, x, y, tolerance) {
  const corners = {
    nw: [box.left, box.top],
    ne: [box.left + box.width, box.top],
    sw: [box.left, box.top + box.height],
    se: [box.left + box.width, box.top + box.height],
  };
  for (const [name, [cx, cy]] of Object.entries(corners)) {
    if (Math.abs(x - cx) <= tolerance && Math.abs(y - cy) <= tolerance) return name;
  }
  return null;
}

/** The index of the smallest box containing (x, y) (the innermost of nested boxes), or -1. */
export function boxAt(boxes, x, y) {
  let best = -1;
  let bestArea = Infinity;
  boxes.forEach((box, index) => {
    const inside = x >= box.left && x <= box.left + box.width && y >= box.top && y <= box.top + box.height;
    const area = box.width * box.height;
    if (inside && area < bestArea) {
      best = index;
      bestArea = area;
    }
  });
  return best;
}

/** Boxes as the answer wants them: whole pixels, inside the image, no empty boxes. */
export function answerBoxes(boxes, width, height) {
  return boxes
    .map((box) => {
      const left = clamp(Math.round(box.left), 0, width);
      const top = clamp(Math.round(box.top), 0, height);
      const right = clamp(Math.round(box.left + box.width), 0, width);
      const bottom = clamp(Math.round(box.top + box.height), 0, height);
      return { class_id: box.class_id, left, top, width: right - left, height: bottom - top };
    })
    .filter((box) => box.width > 0 && box.height > 0);
}

/**
 * The drawing surface: owns the boxes of the current task and the selection.
 * `onChange()` is called after every change of boxes or selection (the page re-renders its list).
 */
export class BoxEditor {
  constructor(canvas, { onChange, classNames }) {
    this.canvas = canvas;
    this.onChange = onChange || (() => {});
    this.classNames = classNames || [];
    this.boxes = [];
    this.selected = -1;
    this.currentClass = 0;
    this.imageWidth = 0;
    this.imageHeight = 0;
    this.drag = null;
    this.guides = []; // read-only boxes drawn beneath: [{boxes, tag}] (setGuides)
    canvas.addEventListener("pointerdown", (event) => this.pointerDown(event));
    canvas.addEventListener("pointermove", (event) => this.pointerMove(event));
    canvas.addEventListener("pointerup", (event) => this.pointerUp(event));
    canvas.addEventListener("pointercancel", () => this.cancelDrag());
    canvas.addEventListener("keydown", (event) => this.keyDown(event));
  }

  /** A new image of natural size `width` x `height`, without boxes. */
  reset(width, height) {
    this.boxes = [];
    this.selected = -1;
    this.drag = null;
    this.imageWidth = width;
    this.imageHeight = height;
    this.onChange();
  }

  /**
   * Read-only boxes drawn beneath the editable ones, thin and dotted, each tagged with its set's `tag`
   * (e.g. "L1" for Labeler 1's answer): `guides` is [{boxes, tag}] in image pixels; [] draws none.
   */
  setGuides(guides) {
    this.guides = (guides || []).map(({ boxes, tag }) => ({ boxes: (boxes || []).map((box) => ({ ...box })), tag: String(tag) }));
    this.draw();
  }

  /** The on-screen size changed (zoom, window): match the canvas to it, sharp on high-DPI screens. */
  resize(cssWidth, cssHeight) {
    const ratio = window.devicePixelRatio || 1;
    this.canvas.style.width = `${cssWidth}px`;
    this.canvas.style.height = `${cssHeight}px`;
    this.canvas.width = Math.max(1, Math.round(cssWidth * ratio));
    this.canvas.height = Math.max(1, Math.round(cssHeight * ratio));
    this.draw();
  }

  /** Image pixels per CSS pixel on screen now. */
  scale() {
    const rect = this.canvas.getBoundingClientRect();
    return rect.width > 0 && this.imageWidth > 0 ? rect.width / this.imageWidth : 1;
  }

  /** A pointer event's position in natural image pixels. */
  imagePoint(event) {
    const rect = this.canvas.getBoundingClientRect();
    return {
      x: ((event.clientX - rect.left) / rect.width) * this.imageWidth,
      y: ((event.clientY - rect.top) / rect.height) * this.imageHeight,
    };
  }

  select(index) {
    this.selected = index >= 0 && index < this.boxes.length ? index : -1;
    this.changed();
  }

  deleteSelected() {
    if (this.selected < 0) return false;
    this.boxes.splice(this.selected, 1);
    this.selected = -1;
    this.changed();
    return true;
  }

  deleteBox(index) {
    this.select(index);
    return this.deleteSelected();
  }

  setBoxClass(index, classId) {
    if (index < 0 || index >= this.boxes.length) return;
    this.boxes[index] = { ...this.boxes[index], class_id: classId };
    this.changed();
  }

  /** The class new boxes get; a selected box changes to it too. */
  setCurrentClass(classId) {
    this.currentClass = classId;
    if (this.selected >= 0) this.setBoxClass(this.selected, classId);
    else this.changed();
  }

  changed() {
    this.draw();
    this.onChange();
  }

  pointerDown(event) {
    if (event.button !== 0 || !this.imageWidth) return;
    event.preventDefault();
    this.canvas.focus({ preventScroll: true });
    const point = this.imagePoint(event);
    const tolerance = HANDLE_CSS_PIXELS / this.scale();
    if (this.selected >= 0) {
      const corner = handleAt(this.boxes[this.selected], point.x, point.y, tolerance);
      if (corner) {
        this.drag = { kind: "resize", corner, index: this.selected };
      }
    }
    if (!this.drag) {
      const hit = boxAt(this.boxes, point.x, point.y);
      if (this.selected >= 0 && boxAt([this.boxes[this.selected]], point.x, point.y) === 0) {
        const hit = this.selected;
        this.drag = { kind: "move", index: hit, start: point, original: { ...this.boxes[hit] } };
      } else {
        // Drawing may start anywhere, even inside another box; a click without a drag selects that box.
        this.drag = { kind: "create", start: point, box: null, hit };
      }
    }
    this.canvas.setPointerCapture(event.pointerId);
    this.changed();
  }

  pointerMove(event) {
    const point = this.imagePoint(event);
    if (!this.drag) {
      this.canvas.style.cursor = this.cursorAt(point);
      return;
    }
    const { imageWidth: width, imageHeight: height } = this;
    if (this.drag.kind === "create") {
      this.drag.box = { class_id: this.currentClass, ...spanBox(this.drag.start.x, this.drag.start.y, point.x, point.y, width, height) };
    } else if (this.drag.kind === "move") {
      const dx = point.x - this.drag.start.x;
      const dy = point.y - this.drag.start.y;
      this.boxes[this.drag.index] = movedBox(this.drag.original, dx, dy, width, height);
    } else if (this.drag.kind === "resize") {
      this.boxes[this.drag.index] = resizedBox(this.boxes[this.drag.index], this.drag.corner, point.x, point.y, width, height);
      // The dragged corner may cross the opposite one: keep dragging the corner now under the pointer.
      const box = this.boxes[this.drag.index];
      const west = Math.abs(point.x - box.left) < Math.abs(point.x - (box.left + box.width));
      const north = Math.abs(point.y - box.top) < Math.abs(point.y - (box.top + box.height));
      this.drag.corner = `${north ? "n" : "s"}${west ? "w" : "e"}`;
    }
    this.draw();
  }

  pointerUp(event) {
    if (!this.drag) return;
    if (this.canvas.hasPointerCapture(event.pointerId)) this.canvas.releasePointerCapture(event.pointerId);
    const drag = this.drag;
    this.drag = null;
    if (drag.kind === "create") {
      if (drag.box && drag.box.width >= MIN_BOX_PIXELS && drag.box.height >= MIN_BOX_PIXELS) {
        this.boxes.push(drag.box);
        this.selected = this.boxes.length - 1;
      } else {
        this.selected = drag.hit;
      }
    }
    this.changed();
  }

  cancelDrag() {
    if (this.drag && this.drag.kind === "move") this.boxes[this.drag.index] = this.drag.original;
    this.drag = null;
    this.changed();
  }

  // Keyboard editing on the focused canvas: arrows move the selected box (Shift: 10 pixels).
  keyDown(event) {
    const steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (!(event.key in steps) || this.selected < 0) return;
    event.preventDefault();
    const [dx, dy] = steps[event.key].map((step) => step * (event.shiftKey ? 10 : 1));
    this.boxes[this.selected] = movedBox(this.boxes[this.selected], dx, dy, this.imageWidth, this.imageHeight);
    this.changed();
  }

  cursorAt(point) {
    if (this.selected >= 0) {
      const corner = handleAt(this.boxes[this.selected], point.x, point.y, HANDLE_CSS_PIXELS / this.scale());
      if (corner) return corner === "nw" || corner === "se" ? "nwse-resize" : "nesw-resize";
    }
    const overSelected = this.selected >= 0 && boxAt([this.boxes[this.selected]], point.x, point.y) === 0;
    return overSelected ? "move" : "crosshair";
  }

  draw() {
    const context = this.canvas.getContext("2d");
    if (!context || !this.imageWidth) return;
    const ratio = this.canvas.width / this.imageWidth; // device pixels per image pixel
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.clearRect(0, 0, this.canvas.width, this.canvas.height);
    const devicePerCss = window.devicePixelRatio || 1;
    const boxes = this.drag && this.drag.kind === "create" && this.drag.box ? [...this.boxes, this.drag.box] : this.boxes;
    context.font = `${Math.round(12 * devicePerCss)}px system-ui, sans-serif`;
    context.textBaseline = "top";
    this.drawGuides(context, ratio, devicePerCss);
    boxes.forEach((box, index) => {
      const x = box.left * ratio;
      const y = box.top * ratio;
      const w = box.width * ratio;
      const h = box.height * ratio;
      const selected = index === this.selected;
      const color = classColor(box.class_id);
      // A white halo under the coloured line keeps boxes visible on dark and light images alike.
      context.lineWidth = (selected ? 5 : 4) * devicePerCss;
      context.strokeStyle = "rgba(255,255,255,0.85)";
      context.strokeRect(x, y, w, h);
      context.lineWidth = (selected ? 3 : 2) * devicePerCss;
      context.strokeStyle = color;
      // Pre-annotation: a model's box not changed yet is dashed (suggestion.js tags it with its origin).
      if (box.origin && ["class_id", "left", "top", "width", "height"].every((k) => Math.round(box[k]) === Math.round(box.origin[k]))) {
        context.setLineDash([8 * devicePerCss, 5 * devicePerCss]);
      }
      context.strokeRect(x, y, w, h);
      context.setLineDash([]);
      const label = `${index + 1} ${this.classNames[box.class_id] ?? box.class_id}`;
      const textWidth = context.measureText(label).width + 6 * devicePerCss;
      context.fillStyle = color;
      context.fillRect(x, Math.max(0, y - 16 * devicePerCss), textWidth, 16 * devicePerCss);
      context.fillStyle = "#ffffff";
      context.fillText(label, x + 3 * devicePerCss, Math.max(0, y - 16 * devicePerCss) + 2 * devicePerCss);
      if (selected) {
        const half = HANDLE_CSS_PIXELS * devicePerCss * 0.7;
        for (const [cx, cy] of [[x, y], [x + w, y], [x, y + h], [x + w, y + h]]) {
          context.fillStyle = "#ffffff";
          context.fillRect(cx - half, cy - half, half * 2, half * 2);
          context.lineWidth = 2 * devicePerCss;
          context.strokeStyle = color;
          context.strokeRect(cx - half, cy - half, half * 2, half * 2);
        }
      }
    });
  }
  // The guides: a thin dotted line in the class colour over a white one, and the set's tag in the box's
  // lower left corner (the editable boxes' labels sit above their top edge, so the two never cover each
  // other), each set's tag a step further right, so that nearly equal answers' tags stay readable.
  drawGuides(context, ratio, devicePerCss) {
    this.guides.forEach(({ boxes, tag }, set) => {
      const shift = set * 52 * devicePerCss;
      for (const box of boxes) {
        const [x, y, w, h] = [box.left * ratio, box.top * ratio, box.width * ratio, box.height * ratio];
        context.lineWidth = 2 * devicePerCss;
        context.strokeStyle = "rgba(255,255,255,0.8)";
        context.strokeRect(x, y, w, h);
        context.lineWidth = 1.5 * devicePerCss;
        context.strokeStyle = classColor(box.class_id);
        context.setLineDash([2 * devicePerCss, 3 * devicePerCss]);
        context.strokeRect(x, y, w, h);
        context.setLineDash([]);
        const label = `${tag} ${this.classNames[box.class_id] ?? box.class_id}`;
        const textWidth = context.measureText(label).width + 6 * devicePerCss;
        context.fillStyle = "rgba(255,255,255,0.85)";
        context.fillRect(x + shift, y + h - 16 * devicePerCss, textWidth, 16 * devicePerCss);
        context.fillStyle = classColor(box.class_id);
        context.fillText(label, x + shift + 3 * devicePerCss, y + h - 14 * devicePerCss);
      }
    });
  }
}
