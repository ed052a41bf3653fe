// Undo and redo over a task's states: the chosen class of a classification task (staged, not yet sent)
// or the boxes of a detection task. Values are plain JSON data, compared and copied as JSON text.

/** The states one task went through: `current`, what undo returns to, and what redo brings back. */
export class History {
  constructor(initial) {
    this.past = [];
    this.future = [];
    this.current = JSON.stringify(initial ?? null);
  }

  /** The current state (a copy). */
  get value() {
    return JSON.parse(this.current);
  }

  /** Record `value` as the new state; false when it equals the current one (nothing to undo then).
   * A new state forgets what could be redone, as in every editor. */
  record(value) {
    const text = JSON.stringify(value ?? null);
    if (text === this.current) return false;
    this.past.push(this.current);
    this.future = [];
    this.current = text;
    return true;
  }

  get canUndo() {
    return this.past.length > 0;
  }

  get canRedo() {
    return this.future.length > 0;
  }

  /** Back to the previous state; its value, or undefined when there is none. */
  undo() {
    if (!this.canUndo) return undefined;
    this.future.push(this.current);
    this.current = this.past.pop();
    return this.value;
  }

  /** Forward to the state undone last; its value, or undefined when there is none. */
  redo() {
    if (!this.canRedo) return undefined;
    this.past.push(this.current);
    this.current = this.future.pop();
    return this.value;
  }
}
