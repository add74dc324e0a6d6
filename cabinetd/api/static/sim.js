"use strict";
// The simulator panel: the physical cabinet as buttons, over the /sim API. It polls the world once a
// second while open; it is a developer's page, not the kiosk.

const CHECKS = ["battery_health", "touchscreen", "scanner", "camera", "wifi", "storage", "drop_counter"];
let world = { slots: [], devices: [] };
let editing = false; // do not redraw the device table under a person typing in it

const $ = (id) => document.getElementById(id);

function say(text, error) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

async function act(path, body, done) {
  say(`${path} …`);
  const reply = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body ?? {}),
  });
  const answer = await reply.json();
  if (!reply.ok) {
    say(`${reply.status}: ${answer.error}`, true);
    return;
  }
  say(done);
  world = answer;
  draw();
}

function drawSlots() {
  const out = world.devices.filter((device) => device.slot === null);
  $("slots").replaceChildren(
    ...world.slots.map((slot) => {
      const card = element("div", undefined, `slot ${slot.door} ${slot.lock}`);
      card.dataset.slot = String(slot.slot);
      card.append(element("div", `Slot ${slot.slot}`, "title"));
      const led = slot.led === null || slot.led === undefined ? "" : `, LED ${slot.led ? "lit" : "dark"}`;
      card.append(element("div", `door ${slot.door}, lock ${slot.lock}${led}`));
      const battery = slot.battery === null ? "" : ` (${slot.battery} %)`;
      card.append(element("div", slot.device ? `${slot.device}${battery}` : "empty"));
      const row = element("div", undefined, "row");
      const path = `/sim/slots/${slot.slot}`;
      if (slot.device) row.append(button("Take", () => act(`${path}/take`, {}, `took ${slot.device} from slot ${slot.slot}`)));
      if (!slot.device && out.length) {
        const pick = element("select");
        for (const device of out) pick.append(new Option(device.serial, device.serial));
        row.append(pick, button("Put", () => act(`${path}/put`, { serial: pick.value }, `put ${pick.value} in slot ${slot.slot}`)));
      }
      if (slot.door === "closed") {
        row.append(button("Open", () => act(`${path}/door`, { open: true }, `opened slot ${slot.slot}`)));
        row.append(button("Force", () => act(`${path}/door`, { open: true, force: true }, `forced slot ${slot.slot}`), "danger"));
      } else {
        row.append(button("Close", () => act(`${path}/door`, { open: false }, `closed slot ${slot.slot}`)));
      }
      card.append(row);
      return card;
    }),
  );
}

function drawDevices() {
  if (editing) return;
  $("devices").replaceChildren(
    ...world.devices.map((device) => {
      const path = `/sim/devices/${encodeURIComponent(device.serial)}`;
      const row = element("tr");
      row.append(element("td", device.serial), element("td", device.model));
      row.append(element("td", device.slot === null ? "out (with staff)" : `slot ${device.slot}`));
      const battery = element("input");
      battery.type = "number";
      battery.min = "0";
      battery.max = "100";
      battery.value = String(device.battery);
      battery.addEventListener("focus", () => (editing = true));
      battery.addEventListener("change", () => {
        editing = false;
        act(path, { battery: Number(battery.value) }, `${device.serial}: battery ${battery.value} %`);
      });
      const cell = element("td");
      cell.append(battery, element("span", device.charging ? " charging" : ""));
      row.append(cell);
      const selftest = element("select");
      for (const value of ["pass", ...CHECKS.map((check) => `fail:${check}`)]) selftest.append(new Option(value, value));
      selftest.value = device.selftest;
      selftest.addEventListener("change", () => act(path, { selftest: selftest.value }, `${device.serial}: ${selftest.value}`));
      const testCell = element("td");
      testCell.append(selftest);
      row.append(testCell);
      const responsive = element("input");
      responsive.type = "checkbox";
      responsive.checked = device.responsive;
      responsive.addEventListener("change", () =>
        act(path, { responsive: responsive.checked }, `${device.serial}: ${responsive.checked ? "responds" : "silent"}`),
      );
      const respondsCell = element("td");
      respondsCell.append(responsive);
      row.append(respondsCell);
      return row;
    }),
  );
}

function draw() {
  drawSlots();
  drawDevices();
}

async function refresh() {
  try {
    world = await (await fetch("/sim/state")).json();
    draw();
  } catch (error) {
    say("the daemon does not answer", true);
  }
}

async function loadStaff() {
  const staff = await (await fetch("/sim/staff")).json();
  $("staff").replaceChildren(
    ...staff.map((member) => {
      const label = `${member.name} (${member.badge}${member.active ? "" : ", inactive"})`;
      return button(label, () => act("/sim/badge", { uid: member.badge }, `badge ${member.badge}: ${member.name}`));
    }),
  );
}

$("badge-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const uid = $("badge-uid").value.trim();
  act("/sim/badge", { uid }, `badge ${uid}`);
});
document.addEventListener("focusout", () => (editing = false));
refresh();
loadStaff();
setInterval(refresh, 1000);
setInterval(loadStaff, 15000);
