// Every staff form, given invalid input, in Dutch and in French (#32.7): the refusal is in the
// page's language — no English, no field name, no code value, no ISO date, no unfilled
// placeholder — and a refused lesion keeps what was typed (#32.8).
import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, launch, guard, shot, staffAccount, participant } from "./lib.mjs";

// Words of the API's English messages that are not Dutch or French words.
const ENGLISH = [
  "the", "is not", "required", "must", "give", "say", "before", "after", "future", "today",
  "only", "needs", "already", "one of", "characters", "match", "phone", "number", "reason",
  "field", "invalid", "not a", "at most", "at least", "password", "every", "language",
];
// Field names and code values look like code: snake_case or dotted names.
const CODE_LIKE = /\b[a-z]+(_[a-z0-9]+)+\b|\blabels\.[a-z]+|\b(study_id|omed|pin|confirm)\b/;

function checkRefusal(text, where) {
  assert.ok(text.trim().length > 0, `${where}: a refusal is shown`);
  for (const w of ENGLISH) {
    assert.ok(
      !new RegExp(`(^|[\\s(«"'])${w}([\\s.,:;!?)»"']|$)`, "i").test(text),
      `${where}: English "${w}" in ${JSON.stringify(text)}`,
    );
  }
  assert.ok(!CODE_LIKE.test(text), `${where}: a field name or code in ${JSON.stringify(text)}`);
  assert.ok(!/\d{4}-\d{2}-\d{2}/.test(text), `${where}: an ISO date in ${JSON.stringify(text)}`);
  assert.ok(!/[{}]/.test(text), `${where}: an unfilled placeholder in ${JSON.stringify(text)}`);
}

async function signIn(browser, account, lang) {
  const ctx = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    locale: lang === "nl" ? "nl-BE" : "fr-BE",
  });
  const s = await ctx.newPage();
  await s.goto(`${BASE}/staff/login?lang=${lang}`);
  await s.fill("#email", account.email);
  await s.fill("#password", account.password);
  await s.click("button[type=submit].primary");
  await s.waitForURL(/\/staff\/$/);
  return s;
}

/// Open `path`, let the test fill the form (browser checks off: the server must refuse), submit
/// it, and return the refusal the page shows.
async function refused(s, path, formSelector, fill) {
  await s.goto(`${BASE}${path}`);
  await s.evaluate(() => {
    for (const f of document.querySelectorAll("form")) f.noValidate = true;
    for (const d of document.querySelectorAll("details")) d.open = true;
  });
  const form = s.locator(formSelector).first();
  await fill(form);
  const before = s.url();
  await form.locator("button[type=submit]").first().click();
  await s.waitForURL((u) => u.toString() !== before);
  await s.waitForLoadState("load");
  await s.waitForSelector("[role=alert]");
  return (await s.locator("[role=alert]").first().innerText()).trim();
}

test("every staff form refuses in Dutch and French, with the reader's dates and no code", async () => {
  const browser = await launch();
  try {
    const nurse = await staffAccount("nurse.refusals@zas.example", "ZAS");
    // Corrections of events are the data manager's (#32.6): their form is scanned as theirs.
    const dm = await staffAccount("dm.refusals@zas.example", "ZAS", { role: "data_manager" });
    let n = 0;
    for (const lang of ["nl", "fr"]) {
      // A participant who reads the other language: the lesion label is needed in theirs.
      const other = lang === "nl" ? "fr" : "nl";
      const id = `HERMES-ZAS-3${lang === "nl" ? "41" : "42"}`;
      await participant(nurse.token, id, "ZAS", other);
      const s = await signIn(browser, nurse, lang);
      const ok = guard(s, { allow: [/status of 4\d\d/] });
      const record = `/staff/participants/${id}?lang=${lang}`;
      const form = (name) => `form[action$="/${id}/${name}"]`;
      const cases = [
        ["enrol: study id", `/staff/enrol?lang=${lang}`, "form[action='/staff/enrol']", async (f) => {
          await f.locator("#study_id").fill("ZAS-1");
        }],
        ["enrol: phone", `/staff/enrol?lang=${lang}`, "form[action='/staff/enrol']", async (f) => {
          await f.locator("#study_id").fill(`HERMES-ZAS-39${n++}`);
          await f.locator("#phone").fill("12");
        }],
        ["enrol: future date", `/staff/enrol?lang=${lang}`, "form[action='/staff/enrol']", async (f) => {
          await f.locator("#study_id").fill(`HERMES-ZAS-38${n++}`);
          await f.locator("#enrolled_on").fill("2099-01-01");
        }],
        ["details: phone", record, form("details"), async (f) => {
          await f.locator("#d-phone").fill("12");
          await f.locator("#d-reason").fill("x");
        }],
        ["details: no reason", record, form("details"), async (f) => {
          await f.locator("#d-reason").fill("");
        }],
        ["lesion: label only in the page's language", record, form("lesion"), async (f) => {
          await f.locator("#l-location").selectOption("sacrum");
          await f.locator(`#l-label-${lang}`).fill("heiligbeen");
          await f.locator("input[name=high_risk]").first().check();
        }],
        ["lesion: no high-risk reason", record, form("lesion"), async (f) => {
          await f.locator("#l-location").selectOption("sacrum");
          await f.locator(`#l-label-${other}`).fill("sacrum");
        }],
        ["lesion edit: label emptied", record, form("lesion_edit"), async (f) => {
          await f.locator(`input[name=label_${other}]`).fill("");
          await f.locator("input[name=reason]").fill("x");
        }],
        ["event: in the future", record, form("event"), async (f) => {
          await f.locator("#e-kind").selectOption("sse");
          await f.locator("#e-date").fill("2099-01-01");
          await f.locator("#e-reason").fill("x");
        }],
        ["event: no reason", record, form("event"), async (f) => {
          await f.locator("#e-kind").selectOption("sse");
          await f.locator("#e-date").fill("2020-01-01");
        }],
        ["event: already recorded", record, form("event"), async (f) => {
          await f.locator("#e-kind").selectOption("randomization");
          await f.locator("#e-date").fill(new Date().toLocaleDateString("sv-SE", { timeZone: "Europe/Brussels" }));
          await f.locator("#e-reason").fill("x");
        }],
        ["missed: other without words", record, form("missed"), async (f) => {
          await f.locator("#m-reason").selectOption("other");
        }],
        ["dose: not a number", record, form("dose"), async (f) => {
          await f.locator("#d-omed").fill("veel");
        }],
        ["PIN reset: not confirmed", record, form("pin"), async () => {}],
        ["links revoked: no reason", record, form("revoke"), async () => {}],
        ["late entry: nothing chosen", `/staff/participants/${id}/late/BL?lang=${lang}`, "form[action*='/late/']", async () => {}],
        ["password: too short", `/staff/password?lang=${lang}`, "form[action='/staff/password']", async (f) => {
          await f.locator("input[name=current]").fill(nurse.password);
          await f.locator("input[name=new]").fill("short");
        }],
        ["password: wrong current", `/staff/password?lang=${lang}`, "form[action='/staff/password']", async (f) => {
          await f.locator("input[name=current]").fill("not-my-password-at-all");
          await f.locator("input[name=new]").fill("a brand new long password");
        }],
      ];
      for (const [name, path, selector, fill] of cases) {
        await s.goto(`${BASE}${path}`);
        if ((await s.locator(selector).count()) === 0) {
          assert.fail(`${lang} ${name}: no form ${selector} on ${path}`);
        }
        const text = await refused(s, path, selector, fill);
        checkRefusal(text, `${lang} ${name}`);
        if (name.startsWith("lesion: label")) {
          // What was typed is still there.
          assert.equal(await s.locator(`#l-label-${lang}`).inputValue(), "heiligbeen", `${lang}: label kept`);
          assert.equal(await s.locator("#l-location").inputValue(), "sacrum", `${lang}: location kept`);
          await shot(s, `12-${lang}-lesion-refused`);
        }
      }
      // The call list's form, when the participant is on it: an outcome that is none.
      await s.goto(`${BASE}/staff/call-today?lang=${lang}`);
      if ((await s.locator("form.call-log").count()) > 0) {
        const text = await refused(s, `/staff/call-today?lang=${lang}`, "form.call-log", async (f) => {
          await f.evaluate((el) => {
            const r = el.querySelector("input[name=outcome]");
            r.value = "maybe";
            r.checked = true;
          });
        });
        checkRefusal(text, `${lang} call log`);
      }
      ok();
      await s.context().close();
      const d = await signIn(browser, dm, lang);
      const dmOk = guard(d, { allow: [/status of 4\d\d/] });
      for (const [name, fill] of [
        ["correction: no reason", async (f) => {
          await f.locator("#c-date").fill("2020-01-01");
        }],
        ["correction: nothing to correct", async (f) => {
          await f.locator("#c-reason").fill("x");
        }],
      ]) {
        await d.goto(`${BASE}${record}`);
        if ((await d.locator(form("correct")).count()) === 0) {
          assert.fail(`${lang} ${name}: no form ${form("correct")} on ${record}`);
        }
        checkRefusal(await refused(d, record, form("correct"), fill), `${lang} ${name}`);
      }
      dmOk();
      await d.context().close();
    }
  } finally {
    await browser.close();
  }
});
