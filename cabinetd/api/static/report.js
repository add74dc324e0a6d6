"use strict";
// "I have a problem with this device", while returning it: a preset reason and an optional note typed
// on the on-screen keyboard, sent as POST /kiosk/report. The cabinet records it and sends the device
// to repair; the returning and returned screens then carry `report`.

const REPORT_REASONS = ["screen", "battery", "scanner", "wont_charge", "damaged", "other"];
const REPORT_NOTE_MAX = 500;
const report = { open: false, reason: null, note: "", error: "" };

function reportAllowed(screen) {
  return ["returning", "returned"].includes(screen.view) && !screen.report;
}

function openReport() {
  Object.assign(report, { open: true, reason: null, note: "", error: "" });
  render();
}

function closeReport() {
  report.open = false;
  render();
}

function reportButton(actions, screen) {
  if (!reportAllowed(screen) || actions.querySelector("[data-choice='report']")) return;
  const made = button(t("button.report"), openReport, "report");
  made.dataset.choice = "report";
  actions.prepend(made);
}

// Draws the form over the screen when it is open; false when it is not (or no longer makes sense).
function drawReport(screen, message, detail, actions) {
  const form = $("report-form");
  if (!report.open || !reportAllowed(screen)) {
    report.open = false;
    form.hidden = true;
    delete document.body.dataset.report;
    return false;
  }
  message.textContent = t("report.title");
  detail.textContent = report.error || t("report.hint");
  detail.className = report.error ? "bad" : "";
  $("progress").hidden = true;
  $("report-reasons").replaceChildren(
    ...REPORT_REASONS.map((reason) => {
      const made = button(t(`report.reason.${reason}`), () => {
        report.reason = reason;
        render();
      }, reason === report.reason ? "chosen" : "secondary");
      made.dataset.reason = reason;
      made.setAttribute("aria-pressed", String(reason === report.reason));
      return made;
    }),
  );
  $("report-note").textContent = report.note || t("report.note_placeholder");
  $("report-note").className = report.note ? "" : "placeholder";
  drawKeyboard($("keyboard"), (key) => {
    report.note = typeKey(report.note, key, REPORT_NOTE_MAX);
    render();
  });
  const send = button(t("report.send"), submitReport, "enter");
  send.id = "report-send";
  send.disabled = report.reason === null;
  const back = button(t("report.back"), closeReport, "secondary");
  back.id = "report-back";
  actions.replaceChildren(send, back);
  form.hidden = false;
  // The form takes the screen below the header (kiosk.css), so the language can still be switched.
  const header = document.querySelector("header");
  document.body.style.setProperty("--report-top", `${header ? header.getBoundingClientRect().bottom : 0}px`);
  document.body.dataset.report = "open";
  return true;
}

async function submitReport() {
  if (report.reason === null) return;
  try {
    const reply = await fetch("/kiosk/report", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ reason: report.reason, note: report.note }),
    });
    const answer = await reply.json();
    if (reply.ok) {
      report.open = false;
      receive(answer);
    } else {
      report.error = answer.error ?? t("refused.other");
      render();
    }
  } catch (error) {
    report.error = t("refused.other");
    render();
  }
}
