"use strict";
// The cabinet's touchscreen. The daemon decides; this page shows what it sends (GET /kiosk/events) in
// the chosen language and sends the person's buttons back. Every word comes from i18n/<lang>.json.

const DEFAULT_LANG = "zh-CN";
const LANGS = ["zh-CN", "en"];
const IDLE_AFTER_MS = 30000;
const SHOWN_ALARMS = ["door_left_open", "door_forced"]; // what a person standing there can act on
const DISPENSE_STEPS = ["provisioning", "door", "taken"];
const RETURN_STEPS = ["door", "insert", "checking"];

const catalogues = {};
let lang = DEFAULT_LANG;
let model = null;
let dismissed = -1; // the screen version the person (or the idle timer) put away
let lastActivity = Date.now(); // a touch, or a change the cabinet made
let pin = "";
let lastDue = null; // the due time of the rent under way, repeated on the done screen
let person = undefined; // who the session is for (undefined: nothing received yet), see startFresh

// The store's language from the daemon's config ([kiosk] language); every person starts in it.
function homeLanguage() {
  return model?.cabinet.language ?? DEFAULT_LANG;
}

const $ = (id) => document.getElementById(id);

function t(key, params) {
  const text = catalogues[lang]?.[key] ?? catalogues[DEFAULT_LANG]?.[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (params && name in params ? String(params[name]) : whole));
}

function clock(iso) {
  const when = new Date(iso);
  const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  if (when.toDateString() !== new Date().toDateString()) Object.assign(options, { month: "numeric", day: "numeric" });
  return when.toLocaleString(lang, options);
}

async function post(path, body) {
  try {
    await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  } catch (error) {
    // The event stream shows the outcome, and a lost connection shows its own banner.
  }
}

// --- which screen ----------------------------------------------------------------------------------

function activeAlarms() {
  const found = [];
  for (const slot of model?.cabinet.slots ?? []) {
    for (const alarm of slot.alarms) if (SHOWN_ALARMS.includes(alarm)) found.push({ slot: slot.slot, alarm });
  }
  return found;
}

function currentScreen() {
  if (!model) return { view: "idle" };
  const screen = model.screen;
  if (screen.version > dismissed && screen.view !== "idle") return screen;
  return model.session && ["rent", "return"].includes(model.session.kind) ? { view: "session" } : { view: "idle" };
}

// Screens the cabinet itself is waiting on (a door open, a device being prepared or checked): they have
// the controller's own timers and alarms, so the page never puts them away.
function holds(screen) {
  if (screen.view === "dispensing" || screen.view === "returning") return screen.step !== "door";
  if (screen.view === "alarm") return activeAlarms().some((a) => a.slot === screen.slot && a.alarm === screen.alarm);
  return screen.view === "checking"; // the office is being asked about a badge: at most 5 s
}

function putAway({ cancel = true, automatic = false } = {}) {
  const screen = currentScreen();
  if (model) dismissed = model.screen.version;
  if (cancel && model?.session && !holds(screen)) post("/kiosk/choose", { choice: "cancel" });
  if (automatic) lang = homeLanguage(); // the next person starts in the cabinet's language
  pin = "";
  render();
}

function tick() {
  const screen = currentScreen();
  // Only the countdown and the notice are redrawn each second: redrawing the buttons would lose a tap.
  renderCountdown(screen);
  renderNotice(model?.notice, t);
  const quiet = Date.now() - lastActivity >= IDLE_AFTER_MS;
  if (!quiet) return;
  if (screen.view === "idle") {
    if (lang !== homeLanguage()) {
      lang = homeLanguage();
      render();
    }
  } else if (!holds(screen)) {
    putAway({ automatic: true });
  }
}

// --- drawing -----------------------------------------------------------------------------------------

function render() {
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  $("lang").textContent = t("lang.switch");
  const online = Boolean(model?.cabinet.online);
  $("link-state").textContent = t(online ? "status.online" : "status.offline");
  $("link-state").className = `pill ${online ? "online" : "offline"}`;
  $("banners").setAttribute("aria-label", t("banner.label"));
  $("offline-banner").textContent = t("banner.offline");
  $("offline-banner").hidden = !model || online;
  const screen = currentScreen();
  // On the alarm's own screen the banner would only say it twice.
  const alarms = activeAlarms().filter((a) => screen.view !== "alarm" || a.slot !== screen.slot || a.alarm !== screen.alarm);
  $("alarm-banner").textContent = alarms.map((a) => t(`alarm.${a.alarm}`, { slot: a.slot })).join(" · ");
  $("alarm-banner").hidden = alarms.length === 0;

  document.body.dataset.view = screen.view;
  document.body.dataset.version = String(model?.screen.version ?? "");
  const message = $("message");
  const detail = $("detail");
  const actions = $("actions");
  detail.className = "";
  detail.textContent = "";
  actions.replaceChildren();
  $("progress").hidden = true;
  $("countdown").hidden = true;
  $("next-step").hidden = true;
  $("ready").hidden = true;
  $("software").hidden = true;
  $("keypad").hidden = true;
  $("pin-dots").hidden = true;
  const draw = VIEWS[screen.view] ?? VIEWS.refused;
  draw(screen, message, detail, actions);
  renderOpenSlot(screen);
  renderHelp();
  drawReport(screen, message, detail, actions);
  renderSession(screen);
  renderMap(screen);
  renderNotice(model?.notice, t);
}

// --- one clear next step: the relock countdown, the reason and what to do, a fresh start --------------

function nextStep(key) {
  $("next-step").textContent = t(key);
  $("next-step").hidden = false;
}

// Each person starts fresh in the store's language: on (re)load, when the session passes to another
// person, and when a session has ended and the screen is back to idle (a person reads how their rent
// or return ended in the language they picked, and one picked on the idle screen before the badge
// holds for their session).
function startFresh(next) {
  const who = next.session ? next.session.name : null;
  const changed = who !== null && person && who !== person;
  const ended = who === null && person && next.screen.view === "idle";
  if (person === undefined || changed || ended) lang = next.cabinet.language ?? DEFAULT_LANG;
  if (who !== null || next.screen.view === "idle") person = who;
}

function okButton(actions, options) {
  actions.append(button(t("button.ok"), () => putAway(options)));
}

function choiceButtons(actions) {
  for (const choice of model?.session?.choices ?? []) {
    const label = t(`button.${choice}`);
    const secondary = ["cancel", "look", "report"].includes(choice);
    const press = choice === "report" ? openReport : () => post("/kiosk/choose", { choice });
    const made = button(label, press, secondary ? "secondary" : "");
    made.dataset.choice = choice;
    actions.append(made);
  }
}

// The steps show what has happened (`done` of them), not what is expected: the message says that.
// `active` marks a step the cabinet itself is doing now (preparing a device, its self-test).
function progress(steps, done, prefix, active = -1) {
  const list = $("progress");
  list.replaceChildren(
    ...steps.map((step, index) => {
      const state = index < done ? "done" : index === active ? "current" : "";
      const item = element("li", t(`progress.${step}`), state);
      item.dataset.step = step;
      return item;
    }),
  );
  list.dataset.flow = prefix;
  list.hidden = false;
}

const VIEWS = {
  idle(screen, message, detail) {
    message.textContent = t("idle.tap");
    detail.textContent = t("idle.hint");
    const ready = $("ready");
    const counts = model?.cabinet.ready ?? [];
    ready.replaceChildren(
      ...counts.map((entry) => {
        const item = element("li", localName(entry.names, entry.name, lang), entry.count ? "" : "none");
        item.dataset.workType = entry.work_type;
        item.append(element("span", t("idle.ready_count", { count: entry.count }), "count"));
        return item;
      }),
    );
    if (model && counts.length === 0) detail.textContent = t("idle.no_work_types");
    ready.hidden = counts.length === 0;
  },
  session(screen, message, detail, actions) {
    message.textContent = t("session.hello", { name: model.session.name });
    detail.textContent = t("session.prompt");
    choiceButtons(actions);
  },
  checking(screen, message, detail) {
    message.textContent = t("checking.title");
    detail.textContent = t("checking.hint");
  },
  refused(screen, message, detail, actions) {
    const key = `refused.${screen.reason}`;
    message.textContent = catalogues[lang]?.[key] ? t(key) : t("refused.other");
    if (screen.reason === "no_device_available") {
      detail.textContent = screen.minutes ? t("refused.minutes", { minutes: screen.minutes }) : t("refused.no_estimate");
    }
    if (screen.cause) {
      // A called-off rent or return: why, in words, and what to do next.
      const cause = `cause.${screen.cause}`;
      if (screen.cause === "looked") message.textContent = t("refused.looked", { slot: screen.slot });
      detail.textContent = catalogues[lang]?.[cause] ? t(cause) : t("cause.other");
      nextStep("refused.badge_again");
    }
    okButton(actions);
  },
  dispensing(screen, message, detail, actions) {
    const step = screen.step;
    message.textContent = t(`dispensing.${step}`, { slot: screen.slot });
    if (screen.due_at) detail.textContent = t("dispensing.due", { time: clock(screen.due_at) });
    const done = { provisioning: 0, door: 1, take: 2, close: 3 }[step] ?? 0;
    progress(DISPENSE_STEPS, done, "dispense", step === "provisioning" ? 0 : -1);
    if (!holds(screen)) choiceButtons(actions);
  },
  returning(screen, message, detail, actions) {
    const step = screen.step;
    message.textContent = t(`returning.${step}`, { slot: screen.slot });
    progress(RETURN_STEPS, { door: 0, insert: 1, checking: 2 }[step] ?? 0, "return", step === "checking" ? 2 : -1);
    if (!holds(screen)) choiceButtons(actions);
    if (screen.report) detail.textContent = t("report.sent");
    reportButton(actions, screen);
  },
  my_devices(screen, message, detail, actions) {
    // What they hold and when it is due is in the session panel; nothing opens until they choose.
    message.textContent = t("my_devices.title", { name: screen.name });
    detail.textContent = t("my_devices.hint");
    choiceButtons(actions);
  },
  returned(screen, message, detail, actions) {
    progress(RETURN_STEPS, RETURN_STEPS.length, "return");
    if (screen.passed) {
      message.textContent = t("returned.passed");
      if (screen.unknown_to_fleet) {
        detail.textContent = t("returned.unknown_to_fleet");
        detail.className = "bad";
      }
    } else {
      const checks = (screen.failing ?? []).map((name) => t(`check.${name}`));
      message.textContent = t("returned.failed", { checks: checks.join(lang === "en" ? ", " : "、") });
      $("progress").lastElementChild.className = "failed";
      detail.textContent = t("returned.ticket");
      detail.className = "bad";
    }
    if (screen.report) {
      message.textContent = t("returned.reported");
      detail.textContent = t("returned.ticket");
      detail.className = "bad";
    }
    reportButton(actions, screen);
    okButton(actions);
  },
  done(screen, message, detail, actions) {
    message.textContent = t(screen.kind === "return" ? "done.return" : "done.rent");
    if (screen.kind !== "return" && lastDue) detail.textContent = t("dispensing.due", { time: clock(lastDue) });
    okButton(actions);
  },
  alarm(screen, message, detail, actions) {
    message.textContent = t(`alarm.${screen.alarm}`, { slot: screen.slot });
    detail.className = "bad";
    if (!holds(screen)) okButton(actions, { cancel: false });
  },
  pin(screen, message, detail, actions) {
    message.textContent = t("pin.title", { name: screen.name });
    detail.textContent = screen.wait_s ? t("pin.wait", { seconds: screen.wait_s }) : screen.wrong ? t("pin.wrong") : t("pin.prompt");
    if (screen.wrong) detail.className = "bad";
    const keypad = $("keypad");
    $("pin-dots").textContent = "•".repeat(pin.length);
    $("pin-dots").hidden = false;
    const digits = ["1", "2", "3", "4", "5", "6", "7", "8", "9"].map((d) => button(d, () => press(d)));
    keypad.replaceChildren(
      ...digits,
      button(t("pin.delete"), () => press("delete"), "secondary"),
      button("0", () => press("0")),
      button(t("pin.enter"), () => press("enter"), "enter"),
    );
    keypad.hidden = false;
    actions.append(button(t("button.cancel"), () => putAway(), "secondary"));
  },
  maintenance(screen, message, detail, actions) {
    message.textContent = t("maintenance.title", { name: screen.name });
    detail.textContent = t("maintenance.hint");
    renderSoftware(model?.software);
    okButton(actions);
  },
};

// The technician's view of the software: the version installed, the release offered, the last update.
function renderSoftware(software) {
  const list = $("software");
  if (!software) return;
  const release = (r) => t("software.release", { version: r.version, release: r.release });
  const offered = software.offered;
  const last = software.last_update;
  const rows = [
    ["software.installed", software.installed],
    ["software.offered", offered ? `${release(offered)} · ${t(`software.stage.${offered.stage}`)}` : t("software.none")],
    [
      "software.last_update",
      last ? `${release(last)} · ${t(`software.stage.${last.outcome}`)} · ${clock(last.at)}${last.detail ? ` · ${last.detail}` : ""}` : t("software.none"),
    ],
  ];
  list.replaceChildren(...rows.flatMap(([label, value]) => [element("dt", t(label)), element("dd", value)]));
  list.hidden = false;
}

function press(key) {
  if (key === "delete") pin = pin.slice(0, -1);
  else if (key === "enter") {
    const entered = pin;
    pin = "";
    if (entered.length >= 4) post("/kiosk/pin", { pin: entered });
  } else if (pin.length < 8) pin += key;
  render();
}

function renderSession(screen) {
  const session = model?.session;
  const shown = Boolean(session) && ["rent", "return"].includes(session.kind) && screen.view !== "idle";
  $("session").hidden = !shown;
  if (!shown) return;
  $("session-name").textContent = session.name;
  $("session-work").textContent = t("session.work_type", { work_type: localName(session.work_type_names, session.work_type, lang) });
  const held = session.held.map((rental) => {
    const item = element("li", rental.device, rental.overdue ? "overdue" : "");
    item.dataset.device = rental.device;
    const due = t(rental.overdue ? "session.overdue" : "session.due", { time: clock(rental.due_at) });
    item.append(element("span", due, "due"));
    return item;
  });
  if (held.length === 0) held.push(element("li", t("session.none_held"), "none"));
  $("held").replaceChildren(...held);
}

function renderMap(screen) {
  const highlight = ["dispensing", "returning", "returned", "done", "alarm"].includes(screen.view) ? screen.slot : null;
  const states = new Map((model?.cabinet.slots ?? []).map((slot) => [slot.slot, slot]));
  const modules = (model?.cabinet.modules ?? []).map((module) => {
    const column = element("div", undefined, "module");
    column.append(element("div", module.name, "name"));
    for (const number of module.slots) {
      const slot = states.get(number);
      const classes = ["slot", slot?.state ?? ""];
      if (slot?.alarms.some((alarm) => SHOWN_ALARMS.includes(alarm))) classes.push("alarm");
      if (number === highlight) classes.push("highlighted");
      const cell = element("div", undefined, classes.join(" "));
      cell.dataset.slot = String(number);
      cell.append(element("span", String(number), "number"), element("span", slot ? t(`state.${slot.state}`) : "", "state"));
      column.append(cell);
    }
    return column;
  });
  $("map").replaceChildren(...modules);
}

// The open slot (dispensing, returning): its number, where it is on the front, its light, the relock.
function renderOpenSlot(screen) {
  const shown = ["dispensing", "returning"].includes(screen.view) && Number.isInteger(screen.slot);
  $("open-slot").hidden = !shown;
  if (!shown) return;
  $("open-slot-digits").textContent = String(screen.slot);
  const modules = model?.cabinet.modules ?? [];
  $("front").replaceChildren(frontPicture(modules, screen.slot, t("open.front", { slot: screen.slot })));
  const slot = (model?.cabinet.slots ?? []).find((entry) => entry.slot === screen.slot);
  $("led-hint").hidden = !slot?.led;
  renderCountdown(screen);
}

function renderCountdown(screen) {
  const countdown = $("countdown");
  const until = ["dispensing", "returning"].includes(screen.view) && screen.relock_at ? Date.parse(screen.relock_at) : NaN;
  countdown.hidden = Number.isNaN(until);
  if (countdown.hidden) return;
  const seconds = Math.max(0, Math.ceil((until - Date.now()) / 1000));
  countdown.textContent = t("open.relock", { seconds });
  countdown.className = seconds <= 5 ? "soon" : "";
}

function renderHelp() {
  const contact = model?.cabinet.help_contact ?? "";
  $("help-contact").textContent = contact ? t("help.contact", { contact }) : "";
}

// The tone for a screen the cabinet has just put up: a door unlocked for the person, or a no.
function toneFor(next) {
  if (!next.cabinet.sound) return;
  const screen = next.screen;
  if (["dispensing", "returning"].includes(screen.view) && screen.step === "door" && screen.slot) playTone("unlock");
  else if (screen.view === "refused") playTone("refusal");
}

// --- the stream of what to show ---------------------------------------------------------------------

function receive(next) {
  if (!model || next.screen.version !== model.screen.version) {
    lastActivity = Date.now();
    if (model) toneFor(next);
    if (next.screen.view === "dispensing") lastDue = next.screen.due_at ?? (next.screen.step === "close" ? lastDue : null);
  }
  startFresh(next);
  model = next;
  render();
}

function connect() {
  const source = new EventSource("/kiosk/events");
  source.onopen = () => {
    $("reconnecting-banner").hidden = true;
  };
  source.onmessage = (event) => receive(JSON.parse(event.data));
  source.onerror = () => {
    $("reconnecting-banner").hidden = false;
  };
}

async function boot() {
  await Promise.all(
    LANGS.map(async (code) => {
      const reply = await fetch(`/kiosk/static/i18n/${code}.json`);
      catalogues[code] = await reply.json();
    }),
  );
  for (const type of ["pointerdown", "keydown"]) {
    document.addEventListener(type, () => (lastActivity = Date.now()), { capture: true });
  }
  $("help").addEventListener("click", () => ($("help-panel").hidden = false));
  $("help-close").addEventListener("click", () => ($("help-panel").hidden = true));
  $("lang").addEventListener("click", () => {
    lang = lang === "zh-CN" ? "en" : "zh-CN";
    render();
  });
  render();
  connect();
  setInterval(tick, 1000);
}

boot();
