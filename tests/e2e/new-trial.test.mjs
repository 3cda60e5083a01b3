// The second trial, DEMO-2 (tests/fixtures/demo2, docs/new-trial.md), served by its own server
// beside HERMES's (run.sh publishes its questionnaires and starts it; E2E_BASE_URL points here).
// On a 390 px phone in Dutch: its instrument's conditional question appears when pain is
// reported and disappears again, clearing its answer with a note; the questionnaire is sent;
// the record page has no lesions, pain chart or dose form; at 200 % text nothing overflows and
// no code value or ISO date reaches the reader.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, PHONE, launch, guard, axe, shot, staffAccount, api, leave } from "./lib.mjs";

test("DEMO-2: a conditional question on the phone, a study without lesions on the record", async () => {
  const browser = await launch();
  try {
    const nurse = await staffAccount("nurse@nord.example", "NORD");
    const today = new Date().toLocaleDateString("sv-SE", { timeZone: "Europe/Brussels" });
    const id = "DEMO2-NORD-001";
    await api("POST", "/api/v1/participants", nurse.token, { study_id: id, site: "NORD", language: "nl", email: "p@example.be" });
    await api("POST", `/api/v1/participants/${id}/events`, nurse.token, { type: "randomization", date: today, reason: "randomized" });
    const link = await api("POST", `/api/v1/participants/${id}/access-link`, nurse.token, { pin: "4826" });

    const ctx = await browser.newContext(PHONE);
    const p = await ctx.newPage();
    const ok = guard(p);
    await p.goto(link.url);
    await p.fill("#pin", "4826");
    await leave(p, p.locator("button.primary"));
    await p.goto(`${BASE}/p/q/BL/generic-health-5`);
    assert.match(await p.locator("h1").innerText(), /Algemene gezondheid/);
    const medicine = p.locator("fieldset.item", { hasText: "Neemt u geneesmiddelen voor deze pijn?" });
    assert.equal(await medicine.isVisible(), false, "hidden until pain is reported");
    const pain = p.locator("fieldset.item", { hasText: "Pijn of ongemak" });
    await pain.locator("label.choice", { hasText: "Enige problemen" }).tap();
    await medicine.waitFor({ state: "visible" });
    await medicine.locator("label.choice", { hasText: "Ja" }).tap();
    await shot(p, "30-demo2-conditional-shown");
    // No pain after all: the question goes, its answer is cleared, and the page says so.
    await pain.locator("label.choice", { hasText: "Geen problemen" }).tap();
    await medicine.waitFor({ state: "hidden" });
    assert.equal(await medicine.locator("input:checked").count(), 0, "its answer is cleared");
    assert.match(await p.locator(".cleared-note").innerText(), /niet meer van toepassing/);
    await shot(p, "31-demo2-conditional-cleared");
    for (const q of ["Lopen", "Uzelf wassen en aankleden", "Dagelijkse bezigheden", "Angst of somberheid"]) {
      await p.locator("fieldset.item", { hasText: q }).locator("label.choice").first().tap();
    }
    await axe(p, "DEMO-2 page 1");
    await leave(p, p.locator("button.next"));
    assert.match(p.url(), /page=2$/);
    await p.locator("fieldset.item input[type=number]").fill("80");
    await leave(p, p.locator("button.next"));
    assert.match(p.url(), /\/review/);
    assert.equal(await p.locator("main").getByText("Neemt u geneesmiddelen").count(), 0, "not listed as blank");
    await leave(p, p.locator("button.primary"));
    await shot(p, "32-demo2-sent");
    ok();
    await ctx.close();

    // The staff record in Dutch on a phone at 200 % text: no lesions, pain chart or dose form.
    const s = await (await browser.newContext({ ...PHONE, locale: "nl-BE" })).newPage();
    const okStaff = guard(s);
    await s.goto(`${BASE}/staff/login`);
    await s.fill("#email", nurse.email);
    await s.fill("#password", nurse.password);
    await leave(s, s.locator("button[type=submit].primary"));
    await s.goto(`${BASE}/staff/participants/${id}?lang=nl`);
    await s.evaluate(() => { document.documentElement.style.fontSize = "200%"; });
    await shot(s, "33-demo2-record-390px-200pct");
    const text = await s.locator("main").innerText();
    assert.ok(!/Letsels|Ergste pijn per letsel|Pijnstilling/i.test(text), `no lesion, pain chart or dose sections:\n${text}`);
    assert.match(text, /Week 6/);
    assert.ok(!/\b\d{4}-\d{2}-\d{2}\b/.test(text), "no ISO date");
    assert.ok(!/\b(window_open|not_expected|upcoming|completed)\b/.test(text), "no code value");
    const overflow = await s.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - 390);
    assert.ok(overflow <= 1, `${overflow}px horizontal overflow at 390 px, 200 % text`);
    await axe(s, "DEMO-2 record at 200 %");
    okStaff();
  } finally {
    await browser.close();
  }
});
