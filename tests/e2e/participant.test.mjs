// The participant's phone when things go wrong: the session ends in the middle of a
// questionnaire (the failed save says so next to the answer, the PIN is asked right there,
// the answers are kept and the participant goes on where they were), and a language link
// that asks whether the choice should hold, never switching the visit already started.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, PHONE, launch, guard, axe, shot, staffAccount, participant, answerPage, leave, api } from "./lib.mjs";

test("a session that ends mid-form: failed save shown, PIN in place, resumed with the answers", async () => {
  const browser = await launch();
  try {
    const nurse = await staffAccount("nurse.resume@zas.example", "ZAS");
    const { url, pin } = await participant(nurse.token, "HERMES-ZAS-304");
    const ctx = await browser.newContext(PHONE);
    const p = await ctx.newPage();
    // The refused autosave is logged by the browser as a failed resource: expected here.
    const ok = guard(p, { allow: [/status of 401/] });
    await p.goto(url);
    await p.fill("#pin", pin);
    await p.locator("button.primary").tap();
    await p.waitForURL(/\/p\/tasks$/);
    await p.goto(`${BASE}/p/q/BL/eortc-qlq-c30`);

    // The session ends (as when it times out) while page 1 is open.
    await ctx.addCookies([{ name: "epro_p", value: "ended", url: BASE }]);
    const first = p.locator("fieldset.item").first();
    await first.locator("label.choice").nth(1).tap();
    const failed = first.locator(".save-failed");
    await failed.waitFor();
    assert.match(await failed.innerText(), /Niet opgeslagen: uw sessie is afgelopen/);
    assert.equal(await p.locator(".saved").isVisible(), false, "no 'saved' while nothing was saved");
    await shot(p, "13-save-failed");
    await answerPage(p);
    const answered = await p.locator("fieldset.item input:checked").count();

    // The page's button asks for the PIN right there, with the site's phone.
    // (The PIN form answers the post itself: the address stays that of the page.)
    await Promise.all([p.waitForNavigation(), p.locator("button.next").tap()]);
    await p.locator("#pin").waitFor();
    assert.match(await p.locator("main").innerText(), /Uw sessie is afgelopen/);
    assert.equal(await p.locator('.safety a[href="tel:+3230000001"]').count(), 1, "the site's phone");
    await axe(p, "PIN to resume");
    await shot(p, "14-resume-pin");
    await p.fill("#pin", pin);
    await leave(p, p.locator("button.primary"));
    assert.match(p.url(), /\/p\/q\/BL\/eortc-qlq-c30\?page=2$/, "on where the participant was");
    await p.goto(`${BASE}/p/q/BL/eortc-qlq-c30?page=1`);
    assert.equal(await p.locator("fieldset.item input:checked").count(), answered, "every answer of page 1 kept");
    ok();
  } finally {
    await browser.close();
  }
});

test("a session that ends on a draft already saved: PIN in place, no conflict, the answers typed after kept", async () => {
  const browser = await launch();
  try {
    const nurse = await staffAccount("nurse.resume2@zas.example", "ZAS");
    const { url, pin } = await participant(nurse.token, "HERMES-ZAS-306");
    const ctx = await browser.newContext(PHONE);
    const p = await ctx.newPage();
    const ok = guard(p, { allow: [/status of 401/] });
    await p.goto(url);
    await p.fill("#pin", pin);
    await p.locator("button.primary").tap();
    await p.waitForURL(/\/p\/tasks$/);
    // Page 1 answered (each answer autosaved) and sent: the draft exists.
    await p.goto(`${BASE}/p/q/BL/eortc-qlq-c30`);
    await answerPage(p);
    await leave(p, p.locator("button.next"));
    assert.match(p.url(), /\?page=2$/);
    // Half of page 2 answered while the session lives: autosaved, the revision moves on.
    const items = p.locator("fieldset.item");
    const count = await items.count();
    await items.nth(0).locator("label.choice").nth(1).tap();
    await p.locator(".saved").waitFor();
    const revision = Number(await p.locator("input[name=revision]").inputValue());
    assert.ok(revision >= 2, `the draft's revision after the autosave: ${revision}`);

    // The session ends; the rest of page 2 is answered (the saves fail and say so) and sent.
    await ctx.addCookies([{ name: "epro_p", value: "ended", url: BASE }]);
    for (let i = 1; i < count; i++) await items.nth(i).locator("label.choice").nth(2).tap();
    await items.nth(count - 1).locator(".save-failed").waitFor();
    const picked = await p.locator("fieldset.item input:checked").evaluateAll((els) => els.map((e) => `${e.name}=${e.value}`));
    assert.equal(picked.length, count);
    await Promise.all([p.waitForNavigation(), p.locator("button.next").tap()]);
    await p.locator("#pin").waitFor();
    assert.equal(await p.locator("input[name='carry.revision']").inputValue(), String(revision), "the revision travels along");
    await shot(p, "16-resume-existing-draft");
    await p.fill("#pin", pin);
    await leave(p, p.locator("button.primary"));
    assert.match(p.url(), /\/p\/q\/BL\/eortc-qlq-c30\?page=3$/, "on from page 2");
    assert.doesNotMatch(await p.locator("main").innerText(), /elders gewijzigd/, "no 'changed elsewhere'");
    await p.goto(`${BASE}/p/q/BL/eortc-qlq-c30?page=2`);
    const kept = await p.locator("fieldset.item input:checked").evaluateAll((els) => els.map((e) => `${e.name}=${e.value}`));
    assert.deepEqual(kept, picked, "every answer of page 2 kept, those typed after the session ended too");
    ok();
  } finally {
    await browser.close();
  }
});

test("a language link asks whether it should hold and never switches a visit already started", async () => {
  const browser = await launch();
  try {
    const nurse = await staffAccount("nurse.lang@zas.example", "ZAS");
    const { url, pin } = await participant(nurse.token, "HERMES-ZAS-305");
    const ctx = await browser.newContext(PHONE);
    const p = await ctx.newPage();
    const ok = guard(p);
    await p.goto(url);
    await p.fill("#pin", pin);
    await p.locator("button.primary").tap();
    await p.waitForURL(/\/p\/tasks$/);
    await p.goto(`${BASE}/p/q/BL/eortc-qlq-c30`);
    await answerPage(p);
    await leave(p, p.locator("button.next"));

    // Tap "Français" on page 2: the page asks, in French; the questionnaire stays Dutch.
    await leave(p, p.locator("nav.langs a[hreflang=fr]"));
    const prompt = p.locator("form.lang-prompt");
    // Asked in French and in Dutch (the participant's language); the big button keeps French on
    // this device only, and each button says what it does in both languages.
    assert.match(await prompt.innerText(), /Voulez-vous aussi recevoir vos e-mails et vos prochains questionnaires en français/);
    assert.match(await prompt.innerText(), /Une visite déjà commencée reste en néerlandais/);
    assert.match(await prompt.locator("p[lang=nl]").innerText(), /Wilt u ook uw e-mails en volgende vragenlijsten voortaan in het Frans\?/);
    assert.match(await prompt.locator("button.primary").innerText(), /Seulement ces pages, sur cet appareil\s+Alleen deze pagina's, op dit apparaat/);
    assert.equal(await prompt.locator("button.primary").getAttribute("value"), "0", "the big button changes nothing for good");
    assert.match(await prompt.locator("button[value='1']").innerText(), /Désormais tout en français, e-mails compris\s+Voortaan alles in het Frans, ook e-mails/);
    assert.equal(await p.locator("form.questionnaire").getAttribute("lang"), "nl");
    assert.match(await p.locator(".progress-text").innerText(), /Questionnaire 1 sur 3/);
    await axe(p, "language prompt");
    await shot(p, "15-language-prompt");
    let stored = await api("GET", "/api/v1/participants/HERMES-ZAS-305", nurse.token);
    assert.equal(stored.language, "nl", "not changed before the answer");

    // "From now on": the participant's language; back on the same page, prompt gone.
    await leave(p, prompt.locator("button[value='1']"));
    assert.match(p.url(), /\/p\/q\/BL\/eortc-qlq-c30\?page=2$/);
    assert.equal(await p.locator("form.lang-prompt").count(), 0);
    stored = await api("GET", "/api/v1/participants/HERMES-ZAS-305", nurse.token);
    assert.equal(stored.language, "fr");
    // The visit already started: its next questionnaire comes in Dutch too.
    await p.goto(`${BASE}/p/q/BL/eortc-qlq-bm22`);
    assert.equal(await p.locator("form.questionnaire").getAttribute("lang"), "nl");
    assert.equal(await p.locator("html").getAttribute("lang"), "fr");
    ok();
  } finally {
    await browser.close();
  }
});
