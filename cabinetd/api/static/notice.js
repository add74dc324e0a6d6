"use strict";
// A short notice over the screen (the daemon's top-level `notice`): a second person's badge while
// someone is at the cabinet. It covers part of the screen, never the first person's instructions or
// their slot on the map, and goes by itself at `until` (the daemon takes it down then as well).
// Loaded before kiosk.js, which calls renderNotice() on every render with its `t`.

function noticeShown(notice, now = Date.now()) {
  return Boolean(notice) && Date.parse(notice.until) > now;
}

function renderNotice(notice, t) {
  const box = document.getElementById("notice");
  if (!box) return;
  const shown = noticeShown(notice);
  box.hidden = !shown;
  if (!shown) return;
  box.dataset.kind = notice.kind;
  box.textContent = notice.name ? t("notice.busy", { name: notice.name }) : t("notice.busy_someone");
}
