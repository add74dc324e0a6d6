"use strict";
// An on-screen keyboard for short free text (the problem report's note): the kiosk has no physical
// keyboard and is used with a finger. Latin letters, digits, space, a few punctuation marks, delete.

const KEYBOARD_ROWS = ["1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", ",.-?!'"];

// Draws the keys into `container`; `onKey` gets one character, "space" or "delete".
function drawKeyboard(container, onKey) {
  const rows = KEYBOARD_ROWS.map((keys) => {
    const row = element("div", undefined, "keyboard-row");
    for (const key of keys) {
      const made = button(key, () => onKey(key), "key");
      made.dataset.key = key;
      row.append(made);
    }
    return row;
  });
  const last = element("div", undefined, "keyboard-row");
  const space = button(t("keyboard.space"), () => onKey("space"), "key space");
  space.dataset.key = "space";
  const del = button(t("keyboard.delete"), () => onKey("delete"), "key secondary");
  del.dataset.key = "delete";
  last.append(space, del);
  container.replaceChildren(...rows, last);
}

// The text after one key, at most `limit` characters.
function typeKey(text, key, limit) {
  if (key === "delete") return text.slice(0, -1);
  const added = key === "space" ? " " : key;
  return (text + added).slice(0, limit);
}
