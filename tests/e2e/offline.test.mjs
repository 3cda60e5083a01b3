// Answering with a connection that comes and goes (#28, docs/pages.md "Answering offline"):
// the phone keeps every answer until the server has it, a reload while offline shows the page
// with the answers kept (service worker), "send" without a connection is sent once when the
// connection returns, a flaky network loses and duplicates nothing, two tabs both keep their
// answers, and a session ended by a PIN reset waits for the PIN. Study ids HERMES-ZAS-37x.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, PHONE, launch, guard, shot, staffAccount, participant, answerPage, leave, api } from "./lib.mjs";

// A fixed-seed random source (mulberry32), so a flaky run is the same run every time.
function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function signIn(browser, studyId, nurse, { language = "nl", locale = "nl-BE" } = {}) {
  const { url, pin } = await participant(nurse.token, studyId, "ZAS", language);
  const ctx = await browser.newContext({ ...PHONE, locale });
  const p = await ctx.newPage();
  await p.goto(url);
  await p.fill("#pin", pin);
  await p.locator("button.primary").tap();
  await p.waitForURL(/\/p\/tasks/);
  return { ctx, p, url, pin };
}

/// What the page shows as answered: { "q.q7": "2", … }.
async function shown(p) {
  return Object.fromEntries(
    await p.locator("fieldset.item input:checked").evaluateAll((els) => els.map((e) => [e.name, e.value])),
  );
}

/// The server's answers of a questionnaire (staff API): { "q.q7": "2", … } and its status.
async function stored(token, studyId, key) {
  const list = await api("GET", `/api/v1/participants/${studyId}/responses`, token);
  const mine = list.filter((r) => r.visit === "BL" && r.questionnaire.startsWith(`${key}@`));
  const r = mine[0];
  const answers = r ? Object.fromEntries(r.answers.map((a) => [`q.${a.item}`, String(a.value)])) : {};
  return { count: mine.length, status: r?.status, answers };
}

/// Wait until the service worker keeps a copy of `needle` (a page address part).
async function cached(p, needle) {
  await p.waitForFunction(async (n) => {
    if (!("caches" in window)) return false;
    const c = await caches.open("epro-visit");
    return (await c.keys()).some((k) => k.url.includes(n));
  }, needle, { timeout: 15000 });
}

function subset(all, names) {
  return Object.fromEntries(Object.entries(all).filter(([k]) => names.includes(k)));
}

test("offline from the second page: kept across a reload, saved once back online", async () => {
  const browser = await launch();
  try {
    const nurse = await staffAccount("nurse.offline1@zas.example", "ZAS");
    const { ctx, p } = await signIn(browser, "HERMES-ZAS-371", nurse);
    // Failed requests while offline are logged by the browser: expected here.
    const ok = guard(p, { allow: [/Failed to load resource|ERR_INTERNET_DISCONNECTED|net::/] });
    await p.goto(`${BASE}/p/q/BL/eortc-qlq-c30`);
    await answerPage(p);
    await leave(p, p.locator("button.next"));
    assert.match(p.url(), /\?page=2$/);
    await cached(p, "page=2");

    await ctx.setOffline(true);
    const typed = await answerPage(p, { pick: (n, c) => (n + 1) % c });
    const page2 = await shown(p);
    await p.locator(".saved").waitFor();
    assert.match(await p.locator(".saved").innerText(), /Bewaard op deze telefoon/);
    await shot(p, "offline-kept-nl");
    await p.reload();
    await p.locator("fieldset.item").first().waitFor();
    assert.deepEqual(await shown(p), page2, "the answers typed offline are back after an offline reload");
    const before = await stored(nurse.token, "HERMES-ZAS-371", "eortc-qlq-c30");
    assert.deepEqual(subset(before.answers, Object.keys(page2)), {}, "nothing of page 2 reached the server yet");

    await ctx.setOffline(false);
    await p.locator(".saved", { hasText: "Opgeslagen" }).waitFor({ timeout: 20000 });
    const after = await stored(nurse.token, "HERMES-ZAS-371", "eortc-qlq-c30");
    assert.equal(typed.length, Object.keys(page2).length);
    assert.deepEqual(subset(after.answers, Object.keys(page2)), page2, "server state equals what was typed");
    assert.equal(after.count, 1);
    ok();
  } finally {
    await browser.close();
  }
});

test("send pressed offline: the page says it will be sent, then it is submitted exactly once", async () => {
  const browser = await launch();
  try {
    const nurse = await staffAccount("nurse.offline2@zas.example", "ZAS");
    const { ctx, p } = await signIn(browser, "HERMES-ZAS-372", nurse, { language: "fr", locale: "fr-BE" });
    const ok = guard(p, { allow: [/Failed to load resource|ERR_INTERNET_DISCONNECTED|net::/] });
    await p.goto(`${BASE}/p/q/BL/eortc-qlq-c30`);
    const typed = {};
    while (!/\/review$/.test(p.url())) {
      await answerPage(p);
      Object.assign(typed, await shown(p));
      await leave(p, p.locator("button.next"));
    }
    await ctx.setOffline(true);
    await p.locator("form[data-send-later] button[type=submit]").tap();
    const note = p.locator(".send-later");
    await note.waitFor();
    assert.match(await note.innerText(), /gardées sur ce téléphone/);
    await shot(p, "offline-send-later-fr");

    // Back online, the first two sends reach the server but their replies are lost: the page
    // sends again (the same key) until it hears back.
    let sends = 0;
    await p.route("**/p/q/BL/eortc-qlq-c30/review", async (route) => {
      if (route.request().method() !== "POST") return route.continue();
      sends += 1;
      if (sends <= 2) {
        await route.fetch({ maxRedirects: 0 });
        return route.abort("connectionreset");
      }
      return route.continue();
    });
    await ctx.setOffline(false);
    await p.waitForURL((u) => !/\/review$/.test(u.toString()), { timeout: 60000 });
    assert.ok(sends >= 3, `the page sent ${sends} times`);
    const r = await stored(nurse.token, "HERMES-ZAS-372", "eortc-qlq-c30");
    assert.equal(r.count, 1, "one response");
    assert.equal(r.status, "completed");
    assert.deepEqual(r.answers, typed, "what was typed");
    const kept = await p.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("epro:")));
    assert.deepEqual(kept, [], "nothing kept on the phone after the form was sent");
    ok();
  } finally {
    await browser.close();
  }
});

test("a flaky network (half the saves aborted, fixed seed) through a whole form: nothing lost, nothing twice", async () => {
  const browser = await launch();
  try {
    const nurse = await staffAccount("nurse.offline3@zas.example", "ZAS");
    const { ctx, p } = await signIn(browser, "HERMES-ZAS-373", nurse);
    const random = seeded(28);
    let aborted = 0;
    await ctx.route("**/p/q/**", (route) => {
      const req = route.request();
      if (req.method() === "POST" && req.resourceType() === "fetch" && random() < 0.5) {
        aborted += 1;
        return route.abort("connectionreset");
      }
      return route.continue();
    });
    await p.goto(`${BASE}/p/q/BL/eortc-qlq-c30`);
    const typed = {};
    while (!/\/review$/.test(p.url())) {
      await answerPage(p, { pick: (n, c) => (n * 7) % c });
      // A second thought on the first question of the page: the last answer counts.
      const first = p.locator("fieldset.item").first().locator("label.choice, label.nrs-b");
      await first.nth(0).tap();
      Object.assign(typed, await shown(p));
      await leave(p, p.locator("button.next"));
    }
    await p.locator("form[data-send-later] button[type=submit]").tap();
    await p.waitForURL((u) => !/\/review$/.test(u.toString()), { timeout: 90000 });
    assert.ok(aborted > 3, `requests aborted: ${aborted}`);
    const r = await stored(nurse.token, "HERMES-ZAS-373", "eortc-qlq-c30");
    assert.equal(r.count, 1);
    assert.equal(r.status, "completed");
    assert.deepEqual(r.answers, typed, "the stored answers equal the answers typed");
  } finally {
    await browser.close();
  }
});

test("two tabs of the same form: both tabs' answers end up in the draft", async () => {
  const browser = await launch();
  try {
    const nurse = await staffAccount("nurse.offline4@zas.example", "ZAS");
    const { ctx, p: a } = await signIn(browser, "HERMES-ZAS-374", nurse);
    const b = await ctx.newPage();
    await a.goto(`${BASE}/p/q/BL/eortc-qlq-c30`);
    await b.goto(`${BASE}/p/q/BL/eortc-qlq-c30`);
    const items = (p) => p.locator("fieldset.item");
    await items(a).nth(0).locator("label.choice").nth(1).tap();
    await a.locator(".saved", { hasText: "Opgeslagen" }).waitFor();
    await items(b).nth(1).locator("label.choice").nth(2).tap();
    await b.locator(".saved", { hasText: "Opgeslagen" }).waitFor();
    await items(a).nth(2).locator("label.choice").nth(3).tap();
    await a.locator(".saved", { hasText: "Opgeslagen" }).waitFor();
    const want = { ...(await shown(a)), ...(await shown(b)) };
    assert.equal(Object.keys(want).length, 3);
    const r = await stored(nurse.token, "HERMES-ZAS-374", "eortc-qlq-c30");
    assert.deepEqual(r.answers, want, "tab A's and tab B's answers");
    // Tab B goes on with its page: no "changed elsewhere", the draft keeps all three.
    await leave(b, b.locator("button.next"));
    assert.doesNotMatch(await b.locator("main").innerText(), /elders gewijzigd/);
    const after = await stored(nurse.token, "HERMES-ZAS-374", "eortc-qlq-c30");
    assert.deepEqual(subset(after.answers, Object.keys(want)), want);
  } finally {
    await browser.close();
  }
});

test("PIN reset by staff while the phone is offline: pending answers wait for the PIN, then are sent", async () => {
  const browser = await launch();
  try {
    const nurse = await staffAccount("nurse.offline5@zas.example", "ZAS");
    const { ctx, p, url } = await signIn(browser, "HERMES-ZAS-375", nurse);
    await p.goto(`${BASE}/p/q/BL/eortc-qlq-c30`);
    await ctx.setOffline(true);
    const first = p.locator("fieldset.item").first();
    await first.locator("label.choice").nth(2).tap();
    const pending = await shown(p);
    await api("POST", "/api/v1/participants/HERMES-ZAS-375/pin", nurse.token, { pin: "7315" });
    await ctx.setOffline(false);
    // Sent, refused (the session ended): said next to the answer, not on the server.
    await first.locator(".save-failed").waitFor({ timeout: 20000 });
    const without = await stored(nurse.token, "HERMES-ZAS-375", "eortc-qlq-c30");
    assert.deepEqual(without.answers, {}, "nothing sent without the PIN");
    // The participant opens the page again: the PIN is asked; after it, the answer is sent.
    await p.reload();
    await p.locator("#pin").waitFor();
    await p.fill("#pin", "7315");
    // (The PIN form is shown at the page's own address, and leads back to it.)
    await Promise.all([p.waitForNavigation(), p.locator("button.primary").tap()]);
    await p.locator(".saved", { hasText: "Opgeslagen" }).waitFor({ timeout: 20000 });
    const after = await stored(nurse.token, "HERMES-ZAS-375", "eortc-qlq-c30");
    assert.deepEqual(after.answers, pending, "sent after the PIN");

    // Another participant signing in on this phone neither sees nor sends them.
    const other = await participant(nurse.token, "HERMES-ZAS-376");
    await p.goto(other.url);
    await p.fill("#pin", other.pin);
    await leave(p, p.locator("button.primary"));
    await p.goto(`${BASE}/p/q/BL/eortc-qlq-c30`);
    assert.deepEqual(await shown(p), {}, "the other participant's page shows nothing of the first");
    const theirs = await stored(nurse.token, "HERMES-ZAS-376", "eortc-qlq-c30");
    assert.equal(theirs.count, 0, "nothing sent for the other participant");
    void url;
  } finally {
    await browser.close();
  }
});

test("a shared phone: nothing kept after sign-out, nothing kept at all after 'this is not my phone'", async () => {
  const browser = await launch();
  try {
    const nurse = await staffAccount("nurse.offline6@zas.example", "ZAS");
    const keptKeys = (p) => p.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("epro:")));
    // Signed in as usual: the answer is kept on the phone until sign-out.
    const { p } = await signIn(browser, "HERMES-ZAS-377", nurse);
    await p.goto(`${BASE}/p/q/BL/eortc-qlq-c30`);
    await p.locator("fieldset.item").first().locator("label.choice").nth(1).tap();
    await p.locator(".saved", { hasText: "Opgeslagen" }).waitFor();
    assert.equal((await keptKeys(p)).length, 1, "kept on the phone while signed in");
    await p.goto(`${BASE}/p/tasks`);
    // (Signing out leads back to /p/tasks, which then says the session has ended.)
    await Promise.all([p.waitForNavigation(), p.locator("form[action='/p/logout'] button").tap()]);
    assert.deepEqual(await keptKeys(p), [], "sign-out forgets it");

    // "Ce n'est pas mon téléphone" on the PIN page (in French): nothing is stored on the device.
    const other = await participant(nurse.token, "HERMES-ZAS-378", "ZAS", "fr");
    const ctx = await browser.newContext({ ...PHONE, locale: "fr-BE" });
    const q = await ctx.newPage();
    const ok = guard(q);
    await q.goto(other.url);
    const box = q.locator("input[data-not-my-phone]");
    assert.match(await q.locator("label", { has: box }).innerText(), /Ce n’est pas mon téléphone/);
    await shot(q, "offline-not-my-phone-fr");
    await box.check();
    await q.fill("#pin", other.pin);
    await leave(q, q.locator("button.primary"));
    await q.goto(`${BASE}/p/q/BL/eortc-qlq-c30`);
    await q.locator("fieldset.item").first().locator("label.choice").nth(1).tap();
    await q.locator(".saved", { hasText: "Enregistré" }).waitFor();
    assert.deepEqual(await keptKeys(q), [], "nothing kept on a phone that is not the participant's");
    ok();
  } finally {
    await browser.close();
  }
});
