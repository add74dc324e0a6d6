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

// A work type's or device model's name in the language shown: `names` maps language tag → name (from
// the fleet's roster); else the base language (zh for zh-CN); else the plain `name` every cloud sends.
function localName(names, name, language) {
  if (names && names[language]) return names[language];
  const base = language.split("-")[0];
  return (names && names[base]) || name;
}
