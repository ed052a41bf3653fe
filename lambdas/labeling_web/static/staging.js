// The staged answer of a classification task: a class key or click chooses, and the choice is sent when a
// short grace period ends (or at once on Enter / "Send now"). Until then Ctrl+Z undoes it (back to the
// previous choice, or to none) and Ctrl+Shift+Z / Ctrl+Y redoes it. The service takes one answer per lease
// and never takes an answer back, so undo works only before the answer leaves the page: `take()` hands
// the choice out exactly once, which is what keeps an answer from being sent twice.

import { History } from "./history.js";

export const GRACE_MS = 1500;

export class StagedAnswer {
  /**
   * `send(label)` sends a class index (called at most once per staged choice); `canSend()` says whether
   * the page can send now (not busy: else the send waits another grace period); `render(label, sendsAt)`
   * shows the choice (null: none) and when it goes (ms since the epoch; 0: only on Enter).
   */
  constructor({ send, canSend, render, graceMs = GRACE_MS }) {
    this.send = send;
    this.canSend = canSend || (() => true);
    this.render = render || (() => {});
    this.graceMs = graceMs;
    this.timer = 0;
    this.history = new History(null);
  }

  /** The class index chosen and not sent yet, or null. */
  get choice() {
    return this.history.value;
  }

  /** A new task: nothing chosen, nothing to undo. */
  reset() {
    this.stop();
    this.history = new History(null);
    this.render(null, 0);
  }

  /** Choose class `label`; it is sent when the grace period ends unless undone or changed first. */
  choose(label) {
    this.history.record(label);
    this.arm(true);
  }

  /** Choose `label` again after a failed send: kept until Enter, never resent by itself. */
  keep(label) {
    this.history.record(label);
    this.arm(false);
  }

  /** Undo the last choice; false when there is nothing to undo. */
  undo() {
    if (this.history.undo() === undefined) return false;
    this.arm(true);
    return true;
  }

  /** Redo the choice undone last; false when there is nothing to redo. */
  redo() {
    if (this.history.redo() === undefined) return false;
    this.arm(true);
    return true;
  }

  /** The staged choice, removed (with its history: a sent answer cannot be undone), or null. */
  take() {
    const label = this.choice;
    this.reset();
    return label;
  }

  /** Send the staged choice now (Enter, "Send now", the grace period's end). */
  flush() {
    if (this.choice === null) return false;
    if (!this.canSend()) {
      this.arm(true); // something else is in flight: try again after another grace period
      return false;
    }
    this.send(this.take());
    return true;
  }

  stop() {
    if (this.timer) window.clearTimeout(this.timer);
    this.timer = 0;
  }

  arm(timed) {
    this.stop();
    const label = this.choice;
    if (label !== null && timed) this.timer = window.setTimeout(() => this.flush(), this.graceMs);
    this.render(label, label !== null && timed ? Date.now() + this.graceMs : 0);
  }
}
