// Keyboard shortcuts for classes. Each class of a job gets one key, by this rule (docs/labeling-service.md,
// "Hotkeys"), so that the key a labeler sees on the image is the key that sends it:
//   1. keys the job configures (`hotkeys`: class name -> key) are used as given;
//   2. when every other class name is a digit ("3") or an English number word ("three", any case), each
//      gets its digit, provided no two share one;
//   3. else, when the other class names start with distinct letters or digits, each gets its first
//      character (lower case);
//   4. else the positional keys: 1-9, 0, then a-z, in class order (36 classes at most get one).
// Keys taken by rule 1 are never given again; a class a rule cannot serve falls to the next rule's free keys.

const KEYS = [..."1234567890", ..."abcdefghijklmnopqrstuvwxyz"];
const NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

/** The positional shortcut key of class `index` (0-based), or null when there are more classes than keys. */
export function shortcutFor(index) {
  return index >= 0 && index < KEYS.length ? KEYS[index] : null;
}

/** The class index a positional key selects (case-insensitive), or -1 when it is no class's shortcut. */
export function classForKey(key, classCount) {
  if (typeof key !== "string" || key.length !== 1) return -1;
  const index = KEYS.indexOf(key.toLowerCase());
  return index >= 0 && index < classCount ? index : -1;
}

/** The digit a class name stands for ("7", "seven", " Seven "), or null. */
export function digitOf(name) {
  const text = String(name).trim().toLowerCase();
  if (/^[0-9]$/.test(text)) return text;
  const word = NUMBER_WORDS.indexOf(text);
  return word >= 0 ? String(word) : null;
}

function distinct(keys) {
  return keys.every((key) => key !== null) && new Set(keys).size === keys.length;
}

/** A valid configured key: one letter or digit (lower case), or null. */
function usableKey(key) {
  const text = typeof key === "string" ? key.trim().toLowerCase() : "";
  return KEYS.includes(text) ? text : null;
}

/**
 * The key of each class, in class order (null: no key left for it), by the rule above. `configured` is the
 * job's optional map class name -> key; keys that are not one letter or digit, or that two classes claim,
 * are ignored (those classes fall to the default rule).
 */
export function assignHotkeys(classNames, configured = {}) {
  const names = Array.from(classNames || [], String);
  const keys = names.map(() => null);
  const claims = {};
  names.forEach((name, index) => {
    const key = usableKey(configured && Object.hasOwn(configured, name) ? configured[name] : null);
    if (key) (claims[key] = claims[key] || []).push(index);
  });
  for (const [key, indexes] of Object.entries(claims)) if (indexes.length === 1) keys[indexes[0]] = key;
  const taken = new Set(keys.filter(Boolean));
  const rest = names.map((_, index) => index).filter((index) => keys[index] === null);
  const free = (candidates) => distinct(candidates) && candidates.every((key) => !taken.has(key));
  const digits = rest.map((index) => digitOf(names[index]));
  const initials = rest.map((index) => usableKey(names[index].trim().charAt(0)));
  const chosen = free(digits) ? digits : free(initials) ? initials : null;
  if (chosen) {
    rest.forEach((index, position) => (keys[index] = chosen[position]));
    return keys;
  }
  const positional = KEYS.filter((key) => !taken.has(key));
  rest.forEach((index, position) => (keys[index] = positional[position] ?? null));
  return keys;
}

/** The class index `key` selects among `hotkeys` (from assignHotkeys; case-insensitive), or -1. */
export function classForHotkey(key, hotkeys) {
  if (typeof key !== "string" || key.length !== 1) return -1;
  return (hotkeys || []).indexOf(key.toLowerCase());
}

/** Ctrl+Z (undo), Ctrl+Shift+Z or Ctrl+Y (redo; Cmd on macOS), or null for any other key. */
export function historyCommand(event) {
  if (!(event.ctrlKey || event.metaKey) || event.altKey) return null;
  const key = String(event.key || "").toLowerCase();
  if (key === "z") return event.shiftKey ? "redo" : "undo";
  if (key === "y" && !event.shiftKey) return "redo";
  return null;
}

/** A keyboard event the app must leave alone: typing in a field, or a browser/OS shortcut. */
export function isTyping(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return true;
  return inField(event);
}

/** The event's target is a text field, a select or editable content (its own undo applies there). */
export function inField(event) {
  const target = event.target;
  if (!target || !target.tagName) return false;
  const tag = target.tagName.toLowerCase();
  return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable === true;
}
