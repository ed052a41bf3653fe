// The page's shared state and its task kinds: every module of the app reads and changes this one object.

export const $ = (id) => document.getElementById(id);

export const state = {
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
  hotkeys: [], // the key of each class of the job, in class order (shortcuts.js: assignHotkeys)
  staged: null, // the classification task's staged class (staging.js: StagedAnswer)
  boxHistory: null, // the boxes of the detection task, for undo/redo (history.js: History)
  busy: false,
  leaseTimer: 0,
  leaseWarned: false,
  // The lease's end on this browser's clock (epoch s): when the lease came plus its remaining length. The
  // service's lease_expires_at is on its clock, and a labeler's clock may be off from it by any amount.
  leaseEndsAt: 0,
  tasks: {}, // task type -> {title, boxes}: GET app/tasks.json, the server's task registry
};

/** How the page shows `taskType` ({title, boxes}, from the server's task registry), or null when unknown. */
export function taskKind(taskType) {
  return state.tasks[taskType] || null;
}

/** True when `item` (a job or a task) is of a task type whose answers are boxes drawn on the image. */
export function drawsBoxes(item) {
  const kind = item ? taskKind(item.task_type) : null;
  return Boolean(kind && kind.boxes);
}
