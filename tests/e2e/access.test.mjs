// A nurse manages a participant's access from the record page: the access panel says what
// exists, a PIN reset works at once on the participant's phone, a reload after "new link" never
// issues another link. Then every staff page is read in Dutch and French, on a 390 px phone at
// 200 % text: no code-list value or ISO date reaches the reader, no horizontal overflow.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, PHONE, launch, guard, axe, shot, staffAccount, participant, answerPage, leave } from "./lib.mjs";

async function signIn(browser, account, options = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "nl-BE", ...options });
  const s = await ctx.newPage();
  await s.goto(`${BASE}/staff/login`);
  await s.fill("#email", account.email);
  await s.fill("#password", account.password);
  await s.click("button[type=submit].primary");
  await s.waitForURL(/\/staff\/$/);
  return s;
}

async function pinSignIn(browser, url, pin) {
  const ctx = await browser.newContext(PHONE);
  const p = await ctx.newPage();
  await p.goto(url);
  // A revoked link opens no PIN form at all.
  if ((await p.locator("#pin").count()) === 0) {
    await ctx.close();
    return false;
  }
  await p.fill("#pin", pin);
  await p.locator("button.primary").click();
  await p.waitForLoadState("load");
  const ok = p.url().endsWith("/p/tasks");
  await ctx.close();
  return ok;
}

test("PIN reset and new link from the record page, safe to reload", async () => {
  const browser = await launch();
  try {
    const nurse = await staffAccount("nurse.access@zas.example", "ZAS");
    const { url, pin } = await participant(nurse.token, "HERMES-ZAS-301");
    const s = await signIn(browser, nurse);
    const ok = guard(s);
    await s.goto(`${BASE}/staff/participants/HERMES-ZAS-301`);
    const panel = s.locator("section[aria-labelledby=access-h]");
    assert.match(await panel.innerText(), /Pincode ingesteld op/);
    assert.equal(await s.locator("#k-pin").count(), 0, "no PIN field where it would be ignored");

    // Reset the PIN, a step that asks for confirmation first (#32.9): shown once; the old one
    // stops working, the new one works.
    await s.locator("details:has(form[action$='/pin']) summary").click();
    await s.locator("form[action$='/pin'] input[name=confirm]").check();
    await s.locator("form[action$='/pin'] button").click();
    await s.waitForURL(/shown=/);
    const newPin = (await s.locator(".link-issued .pin strong").innerText()).trim();
    assert.match(newPin, /^\d{4,8}$/);
    await s.reload();
    assert.equal((await s.locator(".link-issued .pin strong").innerText()).trim(), newPin, "a reload shows the same PIN");
    assert.equal(await pinSignIn(browser, url, pin), false, "the old PIN no longer works");
    assert.equal(await pinSignIn(browser, url, newPin), true, "the new PIN works");

    // A new link; a reload does not issue another, and the link shown keeps working.
    await s.locator("form[action$='/link'] button").click();
    await s.waitForURL(/shown=/);
    const link = await s.locator(".link-issued .url a").getAttribute("href");
    await s.reload();
    assert.equal(await s.locator(".link-issued .url a").getAttribute("href"), link, "same link after a reload");
    assert.equal(await pinSignIn(browser, link, newPin), true, "the link shown still works after the reload");
    assert.equal(await pinSignIn(browser, url, newPin), false, "the earlier staff link was replaced");
    await axe(s, "participant page with access panel");
    await shot(s, "10-access-panel");
    ok();
  } finally {
    await browser.close();
  }
});

test("a teleconsultation says whose form it is and goes on to the visit's next form", async () => {
  const browser = await launch();
  try {
    const nurse = await staffAccount("nurse.tele@zas.example", "ZAS");
    await participant(nurse.token, "HERMES-ZAS-303");
    const s = await signIn(browser, nurse);
    const ok = guard(s);
    await s.goto(`${BASE}/staff/participants/HERMES-ZAS-303/interviewer/BL/eortc-qlq-bm22`);
    const head = await s.locator(".entry-head").innerText();
    assert.match(head, /^HERMES-ZAS-303 · Baseline · .+ \(Nederlands\) · teleconsultatie$/, head);
    assert.equal(await s.locator("nav.menu").count(), 1, "the staff menu stays");
    await axe(s, "teleconsultation page");
    await shot(s, "12-teleconsultation");
    while (!s.url().includes("/review")) {
      await answerPage(s, { tap: false });
      await leave(s, s.locator("button.next"), { tap: false });
    }
    assert.match(await s.locator(".entry-head").innerText(), /HERMES-ZAS-303/);
    await leave(s, s.locator("form button.primary"), { tap: false });
    assert.match(s.url(), /\/staff\/participants\/HERMES-ZAS-303\/interviewer\/BL\/eortc-qlq-c30$/, "the next form of the visit opens");
    ok();
  } finally {
    await browser.close();
  }
});

// Code values that must never reach a Dutch or French reader as visible text.
const CODES = [
  "randomized", "post_sse", "femoral_neck", "size_2cm", "too_ill", "window_open", "follow_up",
  "skipped", "eortc-qlq-c30", "eortc-qlq-bm22", "nrs-lesion-pain", "not_applicable", "interviewer",
  "pathological_fracture", "pro_discontinued", "completed_on", "QL2", "WORST_PAIN", "self",
];

test("every staff page in Dutch and French, on a phone at 200 % text", async () => {
  const browser = await launch();
  try {
    const nurse = await staffAccount("nurse.words@zas.example", "ZAS");
    await participant(nurse.token, "HERMES-ZAS-302");
    for (const lang of ["nl", "fr"]) {
      const s = await signIn(browser, nurse, { ...PHONE, locale: lang === "nl" ? "nl-BE" : "fr-BE" });
      const ok = guard(s);
      for (const [name, path] of [
        ["dashboard", "/staff/"],
        ["call-today", "/staff/call-today"],
        ["participant", "/staff/participants/HERMES-ZAS-302"],
        ["late-entry", "/staff/participants/HERMES-ZAS-302/late/BL"],
        ["enrol", "/staff/enrol"],
        ["exports", "/staff/exports"],
      ]) {
        await s.goto(`${BASE}${path}${path.includes("?") ? "&" : "?"}lang=${lang}`);
        // 200 % text, as a browser's text-size setting does (CSSOM: the page's CSP allows it).
        await s.evaluate(() => { document.documentElement.style.fontSize = "200%"; });
        await shot(s, `11-${lang}-${name}-390px-200pct`);
        const text = await s.locator("main").innerText();
        for (const code of CODES) {
          assert.ok(!new RegExp(`(^|[^\\w-])${code}([^\\w-]|$)`).test(text), `${lang} ${name}: "${code}" is visible`);
        }
        assert.ok(!/\b\d{4}-\d{2}-\d{2}\b/.test(text), `${lang} ${name}: an ISO date is visible`);
        // Against the phone's 390 px (a mobile viewport widens to fit what overflows).
        const overflow = await s.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - 390);
        assert.ok(overflow <= 1, `${lang} ${name}: ${overflow}px horizontal overflow at 390 px, 200 % text`);
        await axe(s, `${lang} ${name} at 200 %`);
      }
      ok();
    }
  } finally {
    await browser.close();
  }
});
