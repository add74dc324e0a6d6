"use strict";
// An on-screen keyboard for short free text (the problem report's note): the kiosk has no physical
// keyboard and is used with a finger. Latin letters, digits, space, a few punctuation marks, delete.

const KEYBOARD_KEYS = "1234567890qwertyuiopasdfghjklzxcvbnm,.-?!'";

// Draws the keys into `container`, which wraps them into as many rows as its width takes; `onKey`
// gets one character, "space" or "delete".
function drawKeyboard(container, onKey) {
  const key = (label, value, className) => {
    const made = button(label, () => onKey(value), className);
    made.dataset.key = value;
    return made;
  };
  const keys = [...KEYBOARD_KEYS].map((character) => key(character, character, "key"));
  keys.push(key(t("keyboard.space"), "space", "key space"), key(t("keyboard.delete"), "delete", "key wide secondary"));
  container.replaceChildren(...keys);
}

// The text after one key, at most `limit` characters.
function typeKey(text, key, limit) {
  if (key === "delete") return text.slice(0, -1);
  const added = key === "space" ? " " : key;
  return (text + added).slice(0, limit);
}
