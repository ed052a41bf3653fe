// Keyboard shortcuts for classes: 1-9, 0, then the letters a-z (36 classes at most get one).
const KEYS = [..."1234567890", ..."abcdefghijklmnopqrstuvwxyz"];

/** The shortcut key of class `index` (0-based), or null when there are more classes than keys. */
export function shortcutFor(index) {
  return index >= 0 && index < KEYS.length ? KEYS[index] : null;
}

/** The class index a key press selects (case-insensitive), or -1 when the key is no class's shortcut. */
export function classForKey(key, classCount) {
  if (typeof key !== "string" || key.length !== 1) return -1;
  const index = KEYS.indexOf(key.toLowerCase());
  return index >= 0 && index < classCount ? index : -1;
}

/** A keyboard event the app must leave alone: typing in a field, or a browser/OS shortcut. */
export function isTyping(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return true;
  const target = event.target;
  if (!target || !target.tagName) return false;
  const tag = target.tagName.toLowerCase();
  return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable === true;
}
