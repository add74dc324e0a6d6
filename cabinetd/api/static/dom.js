// What both pages build their screens from (the kiosk and the simulator panel); loaded before them.

function element(tag, text, className) {
  const made = document.createElement(tag);
  if (text !== undefined) made.textContent = text;
  if (className) made.className = className;
  return made;
}

function button(label, onPress, className) {
  const made = element("button", label, className);
  made.type = "button";
  made.addEventListener("click", onPress);
  return made;
}
