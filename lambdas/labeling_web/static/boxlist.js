// The boxes list beside the image, one home for the labeling view and the review view: one row per box of
// a BoxEditor, with its number and geometry in image pixels (a button that selects it), its class (a
// select: changing it changes the box's class) and a delete button. Each view adds what it shows around it.

import { classColor } from "./boxes.js";
import { element, say } from "./view.js";

/**
 * The rows (`li.box-item`) of `editor`'s boxes. `idPrefix` keeps the class selects' ids unique on the page;
 * `canvas` gets the focus back after a click (so arrows and Delete act on the selection); `tagFor(box)`
 * (optional) gives an element put first in the row, whose second class name the row takes too
 * (pre-annotation's model / changed / added tag), or null.
 */
export function boxListItems(editor, classNames, { idPrefix, canvas, tagFor = () => null }) {
  return editor.boxes.map((box, index) => {
    const selected = index === editor.selected;
    const selectButton = element("button", {
      type: "button",
      className: "box-select",
      "aria-pressed": String(selected),
      text: `Box ${index + 1}: ${Math.round(box.left)}, ${Math.round(box.top)}, ${Math.round(box.width)} × ${Math.round(box.height)}`,
    });
    selectButton.addEventListener("click", () => {
      editor.select(index);
      canvas.focus();
    });
    const selectId = `${idPrefix}-${index}`;
    const classSelect = element(
      "select",
      { id: selectId },
      classNames.map((name, classId) => {
        const option = element("option", { value: String(classId), text: name });
        option.selected = classId === box.class_id;
        return option;
      }),
    );
    classSelect.addEventListener("change", () => editor.setBoxClass(index, Number(classSelect.value)));
    const deleteButton = element("button", { type: "button", className: "box-delete secondary", text: "Delete", "aria-label": `Delete box ${index + 1}` });
    deleteButton.addEventListener("click", () => {
      editor.deleteBox(index);
      say(`Box ${index + 1} deleted.`);
      canvas.focus();
    });
    const swatch = element("span", { className: "swatch", "aria-hidden": "true" });
    swatch.style.background = classColor(box.class_id);
    const tag = tagFor(box);
    const classes = `box-item${selected ? " selected" : ""}${tag ? ` ${tag.classList[1]}` : ""}`;
    return element("li", { className: classes, dataset: { boxIndex: String(index) } }, [
      ...(tag ? [tag] : []),
      swatch,
      selectButton,
      element("label", { for: selectId, className: "visually-hidden", text: `Class of box ${index + 1}` }),
      classSelect,
      deleteButton,
    ]);
  });
}
