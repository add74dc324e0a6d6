"""What a kiosk screen must hold to at any size: measured in the page, each problem named by element."""

from __future__ import annotations

from playwright.sync_api import Page

MIN_TARGET_PX = 48

# Run in the page; returns one line per problem. Elements are named by id, else by tag, class and text.
MEASURE = """
(minimum) => {
  const problems = [];
  const vw = document.documentElement.clientWidth, vh = document.documentElement.clientHeight;
  const name = (e) => {
    const text = (e.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 40);
    const classes = e.classList.length ? "." + [...e.classList].join(".") : "";
    const id = e.id ? `#${e.id}` : `${e.tagName.toLowerCase()}${classes}`;
    return text ? `${id} "${text}"` : id;
  };
  const shown = (e) => {
    const style = getComputedStyle(e);
    if (style.display === "none" || style.visibility === "hidden") return false;
    const box = e.getBoundingClientRect();
    return box.width > 0 && box.height > 0;
  };
  const root = document.scrollingElement;
  if (root.scrollHeight > vh || root.scrollWidth > vw) {
    problems.push(`the page scrolls: ${root.scrollWidth}x${root.scrollHeight} in ${vw}x${vh}`);
  }
  for (const e of document.querySelectorAll("button, [role=button], input, textarea, select")) {
    if (!shown(e)) continue;
    const box = e.getBoundingClientRect();
    if (box.left < 0 || box.top < 0 || box.right > vw + 0.5 || box.bottom > vh + 0.5) {
      const [l, t, r, b] = [box.left, box.top, box.right, box.bottom].map(Math.round);
      problems.push(`${name(e)} is outside the viewport: ${l},${t} to ${r},${b}`);
    }
    if (box.width < minimum || box.height < minimum) {
      problems.push(`${name(e)} is a ${Math.round(box.width)}x${Math.round(box.height)} touch target`);
    }
  }
  for (const e of document.body.querySelectorAll("*")) {
    if (!shown(e) || e.tagName === "svg" || e.closest("svg")) continue;
    if (e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1) {
      if (e.clientWidth === 0 && e.clientHeight === 0) continue; // inline boxes have no client box
      const content = `${e.scrollWidth}x${e.scrollHeight}`;
      problems.push(`${name(e)} overflows its box: ${content} in ${e.clientWidth}x${e.clientHeight}`);
    }
    const box = e.getBoundingClientRect();
    if (box.right > vw + 0.5 || box.bottom > vh + 0.5) {
      problems.push(`${name(e)} reaches past the viewport: to ${Math.round(box.right)},${Math.round(box.bottom)}`);
    }
  }
  return problems;
}
"""


def layout_problems(page: Page) -> list[str]:
    found: list[str] = page.evaluate(MEASURE, MIN_TARGET_PX)
    return found
