// The nurse's record and dashboard in Chromium (#32.4, #32.6, #32.9): a visit entered from paper
// reads the same everywhere (record, per-visit and per-form tables), with the paper day; a
// received form's teleconsultation link says it is in; the CONSORT table fits 1280 px; a
// randomization needs its arm and a second one is refused, in Dutch and French; site staff see
// who corrects events instead of a form that ends in a refusal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, launch, guard, shot, staffAccount, api } from "./lib.mjs";

async function submit(token, id, visit, key, body) {
  const res = await fetch(`${BASE}/api/v1/participants/${id}/visits/${visit}/responses/${key}/submit`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}`, "idempotency-key": crypto.randomUUID() },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, await res.text());
}

const items = (from, to, value) => Array.from({ length: to - from + 1 }, (_, i) => ({ item: `q${from + i}`, value }));

test("one visit status on the record and the dashboard; the arm is required in the reader's language", async () => {
  const browser = await launch();
  try {
    const nurse = await staffAccount("nurse.status@uzg.example", "UZG");
    const today = new Date().toLocaleDateString("sv-SE", { timeZone: "Europe/Brussels" });
    const id = "HERMES-UZG-251";
    await api("POST", "/api/v1/participants", nurse.token, { study_id: id, site: "UZG", language: "nl", randomization_date: today, arm: "A", email: "p251@example.be" });
    await submit(nurse.token, id, "BL", "eortc-qlq-c30", { mode: "paper", completed_on: today, answers: items(1, 30, 2) });
    await submit(nurse.token, id, "BL", "eortc-qlq-bm22", { mode: "paper", completed_on: today, answers: items(31, 52, 2) });
    await submit(nurse.token, id, "BL", "nrs-lesion-pain", { mode: "paper", completed_on: today, answers: [] });

    const staff = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "nl-BE" });
    const s = await staff.newPage();
    const ok = guard(s, { allow: [/status of 422/] });
    await s.goto(`${BASE}/staff/login`);
    await s.fill("#email", nurse.email);
    await s.fill("#password", nurse.password);
    await s.click("button[type=submit].primary");
    await s.waitForURL(/\/staff\/$/);

    // The record: the baseline received, no late entry, the paper day on each form.
    await s.goto(`${BASE}/staff/participants/${id}?lang=nl`);
    const bl = s.locator("section[aria-labelledby=schedule-h] tbody tr").first();
    assert.match(await bl.innerText(), /ingevuld/);
    assert.equal(await bl.locator("a", { hasText: "Late invoer" }).count(), 0);
    assert.equal(await s.locator(".paper-day").count(), 3);
    assert.match(await s.locator(".paper-day").first().innerText(), /^Op papier ingevuld op \d+ \S+ \d{4}$/);
    await shot(s, "staff-record-paper");

    // The dashboard: per visit and per form the same; the per-visit row adds up.
    await s.goto(`${BASE}/staff/?lang=nl`);
    const row = s.locator("tr[data-visit-count]").first();
    const n = async (k) => Number(await row.locator(`td[data-n=${k}]`).innerText());
    assert.equal(await n("received"), 1);
    assert.equal(await n("expected"), (await n("received")) + (await n("partial")) + (await n("missed")) + (await n("awaited")));
    assert.equal(await s.locator("table.consort tbody tr", { hasText: "Baseline" }).filter({ hasText: "100 %" }).count(), 3);
    // The CONSORT table fits a 1280 px screen: no sideways scrolling.
    const fits = await s.evaluate(() => {
      const t = document.querySelector("table.consort");
      return t.parentElement.scrollWidth <= t.parentElement.clientWidth;
    });
    assert.ok(fits, "the CONSORT table needs no sideways scrolling at 1280 px");
    await shot(s, "staff-dashboard-1280");

    // A received form's teleconsultation link: it is in, nothing to enter.
    await s.goto(`${BASE}/staff/participants/${id}/interviewer/BL/eortc-qlq-c30?lang=nl`);
    await s.waitForURL(/\/late\/BL\?received=eortc-qlq-c30$/);
    assert.match(await s.locator("#entry-completed").innerText(), /Alle vragenlijsten van Baseline zijn ontvangen/);
    assert.equal(await s.locator("#entry_reason").count(), 0);
    assert.doesNotMatch(await s.locator("main").innerText(), /gesloten/);

    // A participant not randomized yet: the baseline window says so.
    const other = "HERMES-UZG-252";
    await api("POST", "/api/v1/participants", nurse.token, { study_id: other, site: "UZG", language: "fr", email: "p252@example.be" });
    await s.goto(`${BASE}/staff/participants/${other}?lang=nl`);
    assert.match(await s.locator("section[aria-labelledby=schedule-h] tbody tr").first().innerText(), /vóór de randomisatie/);
    // A randomization with arm "–" is refused in Dutch; with an arm it is taken.
    const randomize = async (summary, arm) => {
      // A refused form comes back open with what was typed; open it only when it is closed.
      const details = s.locator("details", { has: s.locator("#e-kind") });
      if (!(await details.evaluate((d) => d.open))) await s.locator("summary", { hasText: summary }).click();
      await s.selectOption("#e-kind", "randomization");
      await s.fill("#e-date", today);
      await s.selectOption("#e-arm", arm);
      await s.fill("#e-reason", "gerandomiseerd");
      await Promise.all([s.waitForURL(/\/event$|saved=1$/), s.locator("form[action$='/event'] button").click()]);
    };
    await randomize("Gebeurtenis registreren", "");
    assert.match(await s.locator("p.error").innerText(), /kies de arm van de randomisatie/i);
    await randomize("Gebeurtenis registreren", "A");
    assert.match(s.url(), /saved=1$/);
    // A second one, in French: refused in French, no English, and who corrects is said.
    await s.goto(`${BASE}/staff/participants/${other}?lang=fr`);
    await randomize("Enregistrer un événement", "B");
    const error = await s.locator("p.error").innerText();
    assert.match(error, /cet événement est déjà enregistré/i);
    assert.doesNotMatch(error, /already|recorded|correct it|role/);
    assert.equal(await s.locator("form[action$='/correct']").count(), 0);
    assert.match(await s.locator("#correct-by-dm").innerText(), /gestionnaire de données/);
    await shot(s, "staff-randomization-fr");
    ok();
  } finally {
    await browser.close();
  }
});
