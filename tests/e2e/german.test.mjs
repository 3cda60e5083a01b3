// DE-3 (tests/fixtures/german): German added by files only. run.sh serves the study with
// EPRO_TEXTS_DIR=tests/fixtures/german/texts (no German in the build) and DEMO-2's
// questionnaire with a German wording pack (E2E_BASE_URL points at that server). On a 390 px
// phone a participant enrolled in "de" signs in with the PIN, answers a questionnaire page in
// German (a yes/no question says Ja/Nein), reviews and sends it; no English page word, no code
// value and no ISO date reach the reader.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, PHONE, launch, guard, axe, shot, staffAccount, api, leave } from "./lib.mjs";

const ENGLISH = /\b(Next|Back|Page \d|Review|Send|Sign out|Your questionnaires|Welcome|yes|no)\b/;

test("DE-3: a questionnaire page in German, from texts added as files", async () => {
  const browser = await launch();
  try {
    const nurse = await staffAccount("pflege@ber.example", "BER");
    const id = "DE3-BER-001";
    await api("POST", "/api/v1/participants", nurse.token, { study_id: id, site: "BER", language: "de", email: "p@example.de" });
    const link = await api("POST", `/api/v1/participants/${id}/access-link`, nurse.token, { pin: "4826" });

    const ctx = await browser.newContext({ ...PHONE, locale: "de-DE" });
    const p = await ctx.newPage();
    const ok = guard(p);
    await p.goto(link.url);
    assert.equal(await p.locator("html").getAttribute("lang"), "de");
    assert.match(await p.locator("main").innerText(), /Geben Sie die PIN ein/);
    await p.fill("#pin", "4826");
    await leave(p, p.locator("button.primary"));
    assert.match(await p.locator("h1").innerText(), /Ihre Fragebögen/);
    await shot(p, "40-de3-tasks");
    await p.goto(`${BASE}/p/q/BL/generic-health-5`);
    assert.match(await p.locator("h1").innerText(), /Allgemeine Gesundheit/);
    const pain = p.locator("fieldset.item", { hasText: "Schmerzen oder Beschwerden" });
    await pain.locator("label.choice", { hasText: "Einige Probleme" }).tap();
    const medicine = p.locator("fieldset.item", { hasText: "Nehmen Sie Medikamente gegen diese Schmerzen?" });
    await medicine.waitFor({ state: "visible" });
    assert.deepEqual(
      (await medicine.locator("label.choice").allInnerTexts()).map((t) => t.trim()),
      ["Ja", "Nein"],
      "the catalogue's words for a yes/no question without its own",
    );
    await medicine.locator("label.choice", { hasText: "Ja" }).tap();
    for (const q of ["Gehen", "Sich selbst waschen und anziehen", "Alltägliche Tätigkeiten", "Angst oder Niedergeschlagenheit"]) {
      await p.locator("fieldset.item", { hasText: q }).locator("label.choice").first().tap();
    }
    const page1 = await p.locator("main").innerText();
    assert.match(page1, /Seite 1 von 2/);
    assert.ok(!ENGLISH.test(page1), `no English page word:\n${page1}`);
    assert.ok(!/\b\d{4}-\d{2}-\d{2}\b/.test(page1), "no ISO date");
    await shot(p, "41-de3-questionnaire-page");
    await axe(p, "DE-3 page 1");
    await leave(p, p.locator("button.next"));
    assert.match(p.url(), /page=2$/);
    await p.locator("fieldset.item input[type=number]").fill("75");
    await leave(p, p.locator("button.next"));
    assert.match(p.url(), /\/review/);
    assert.match(await p.locator("main").innerText(), /Alle Fragen sind beantwortet/);
    await leave(p, p.locator("button.primary"));
    const thanks = await p.locator("main").innerText();
    assert.match(thanks, /Vielen Dank/);
    assert.ok(!ENGLISH.test(thanks), `no English page word:\n${thanks}`);
    await shot(p, "42-de3-sent");
    ok();
    await ctx.close();
  } finally {
    await browser.close();
  }
});
