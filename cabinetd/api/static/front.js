"use strict";
// A picture of the cabinet's front, drawn from the kiosk document's `cabinet.modules`: one column per
// module, its slots from top to bottom in the order the module lists them, the open slot marked.
// Loaded before kiosk.js.

const SVG_NS = "http://www.w3.org/2000/svg";
const FRONT = { column: 64, row: 30, gap: 6, margin: 8, label: 16 };

function svgElement(tag, attributes) {
  const made = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, String(value));
  return made;
}

function frontPicture(modules, openSlot, label) {
  const rows = Math.max(1, ...modules.map((module) => module.slots.length));
  const width = FRONT.margin * 2 + modules.length * FRONT.column + (modules.length - 1) * FRONT.gap;
  const height = FRONT.margin * 2 + FRONT.label + rows * FRONT.row + (rows - 1) * FRONT.gap;
  const svg = svgElement("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  svg.append(svgElement("rect", { class: "front-cabinet", x: 0, y: 0, width, height, rx: 6 }));
  modules.forEach((module, column) => {
    const x = FRONT.margin + column * (FRONT.column + FRONT.gap);
    const name = svgElement("text", { class: "front-text", x: x + FRONT.column / 2, y: FRONT.margin + FRONT.label / 2 });
    name.textContent = module.name;
    svg.append(name);
    module.slots.forEach((number, row) => {
      const y = FRONT.margin + FRONT.label + row * (FRONT.row + FRONT.gap);
      const open = number === openSlot;
      const cell = svgElement("rect", { class: open ? "front-slot open" : "front-slot", x, y, width: FRONT.column, height: FRONT.row, rx: 4 });
      cell.dataset.slot = String(number);
      const text = svgElement("text", { class: "front-text", x: x + FRONT.column / 2, y: y + FRONT.row / 2 });
      text.textContent = String(number);
      if (open) text.setAttribute("font-weight", "700");
      svg.append(cell, text);
    });
  });
  return svg;
}
