// A participant completes a whole baseline visit on a phone by tapping; a nurse sees the visit
// turn completed on the site dashboard. axe-core checks every participant page and the
// dashboard; screenshots of the key pages go to target/e2e/.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, PHONE, launch, guard, axe, shot, staffAccount, answerPage, leave } from "./lib.mjs";

test("participant completes the baseline by tapping; the dashboard shows it completed", async () => {
  const browser = await launch();
  try {
    // ---- the nurse: first login, password change, enrolment, lesions, access link ----
    const nurseAccount = await staffAccount("nurse.pages@zas.example", "ZAS", { ready: false });
    const staff = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "nl-BE" });
    const s = await staff.newPage();
    // The enrolment refused without an arm answers 422 (#32.6); nothing else may fail.
    const staffOk = guard(s, { allow: [/status of 422/] });
    await s.goto(`${BASE}/staff/login`);
    await s.fill("#email", nurseAccount.email);
    await s.fill("#password", nurseAccount.password);
    await s.click("button[type=submit].primary");
    await s.waitForURL(/\/staff\/password$/);
    await s.fill("#current", nurseAccount.password);
    await s.fill("#new", "a-new-password-789");
    await s.click("button[type=submit].primary");
    // The login page says the password was changed (#32.9).
    await s.waitForURL(/\/staff\/login\?changed=1$/);
    assert.match(await s.locator("[role=status]").innerText(), /Uw wachtwoord is gewijzigd/);
    await s.fill("#email", nurseAccount.email);
    await s.fill("#password", "a-new-password-789");
    await s.click("button[type=submit].primary");
    await s.waitForURL(/\/staff\/$/);

    const today = new Date().toLocaleDateString("sv-SE", { timeZone: "Europe/Brussels" });
    await s.goto(`${BASE}/staff/enrol`);
    await s.fill("#study_id", "HERMES-ZAS-201");
    await s.selectOption("#site", "ZAS");
    await s.selectOption("#language", "nl");
    await s.fill("#randomization_date", today);
    await s.fill("#email", "deelnemer@example.be");
    await s.fill("#phone", "+32 470 12 34 56");
    // A randomization with arm "–" (unknown) is refused, in Dutch, and nothing typed is lost (#32.6).
    await s.selectOption("#arm", "");
    await s.click("button[type=submit].primary");
    assert.match(await s.locator("main").innerText(), /Kies de arm van de randomisatie/);
    assert.equal(await s.inputValue("#study_id"), "HERMES-ZAS-201");
    assert.equal(await s.inputValue("#randomization_date"), today);
    await s.selectOption("#arm", "A");
    await s.click("button[type=submit].primary");
    await s.waitForURL(/\/staff\/participants\/HERMES-ZAS-201\?saved=1$/);
    for (const [location, side, nl, fr, en] of [
      ["femoral_neck", "right", "rechterheup", "hanche droite", "right hip"],
      ["L3", "", "onderrug", "bas du dos", "lower back"],
    ]) {
      await s.locator("summary", { hasText: "Letsel toevoegen" }).click();
      await s.selectOption("#l-location", location);
      await s.selectOption("#l-side", side);
      await s.fill("#l-label-nl", nl);
      await s.fill("#l-label-fr", fr);
      await s.fill("#l-label-en", en);
      await s.check("input[name=high_risk][value=size_2cm]");
      await s.locator("form[action$='/lesion'] button").click();
      await s.waitForURL(/saved=1$/);
    }
    // The access panel: no PIN yet, so the first link sets one.
    assert.match(await s.locator("#access-h + * , section[aria-labelledby=access-h]").first().innerText(), /pincode/i);
    await s.fill("#k-pin", "4826");
    await s.locator("form[action$='/link'] button").click();
    const link = await s.locator(".link-issued .url a").getAttribute("href");
    assert.match(link, /\/p\/[A-Za-z0-9_-]{20,}$/);
    assert.equal(await s.locator(".link-issued .qr svg").count(), 1, "QR code shown");

    // ---- the participant, on a phone ----
    const phone = await browser.newContext(PHONE);
    const p = await phone.newPage();
    const phoneOk = guard(p);
    await p.goto(link);
    await shot(p, "01-link-pin");
    await axe(p, "PIN page");
    assert.match(await p.locator(".safety").innerText(), /\+32 3 000 00 01/, "site phone in the safety text");
    assert.equal(await p.locator('.safety a[href="tel:+3230000001"]').count(), 1, "the site phone is a tel: link");
    await p.fill("#pin", "4826");
    await p.locator("button.primary").tap();
    await p.waitForURL(/\/p\/tasks$/);
    await axe(p, "tasks");
    await shot(p, "02-tasks");
    assert.match(await p.locator(".due").first().innerText(), /\d{4}/, "the window's last day is shown");

    // C30: tap through every page, leaving question 3 blank.
    await p.locator("a.button.primary").first().tap();
    await p.waitForURL(/\/p\/q\/BL\/eortc-qlq-c30/);
    let first = true;
    while (p.url().includes("/p/q/BL/eortc-qlq-c30") && !p.url().includes("/review")) {
      assert.ok((await p.locator("fieldset.item").count()) <= 6, "at most six items a page");
      assert.equal(await p.locator(".recall").count(), 1, "recall header on every page");
      await answerPage(p, { skip: [3] });
      if (first) {
        await axe(p, "C30 page");
        await shot(p, "03-c30-page");
        first = false;
      }
      await leave(p, p.locator("button.next"));
    }
    assert.match(p.url(), /\/review$/);
    await axe(p, "review");
    await shot(p, "04-review");
    assert.equal(await p.locator(".blanks li").count(), 1, "the blank question is listed");
    // Go back to it from the review, answer it, then send.
    await leave(p, p.locator(".blanks a").first());
    assert.match(p.url(), /page=1#i3$/);
    await answerPage(p);
    await leave(p, p.locator("button.next"));
    while (!p.url().includes("/review")) await leave(p, p.locator("button.next"));
    assert.equal(await p.locator(".blanks li").count(), 0);
    await leave(p, p.locator("form button.primary"));
    // A confirmation between forms, naming the next one and its place in the visit.
    assert.match(p.url(), /\/p\/done\/BL$/);
    assert.match(await p.locator(".next-form").innerText(), /\(vragenlijst 2 van 3\)/);
    await axe(p, "between forms");
    await shot(p, "06a-between-forms");
    await leave(p, p.locator("a.button.primary"));
    assert.match(p.url(), /\/p\/q\/BL\/eortc-qlq-bm22/);

    // BM22: all answered.
    while (!p.url().includes("/review")) {
      await answerPage(p);
      await leave(p, p.locator("button.next"));
    }
    await leave(p, p.locator("form button.primary"));
    assert.match(await p.locator(".next-form").innerText(), /\(vragenlijst 3 van 3\)/);
    await leave(p, p.locator("a.button.primary"));
    assert.match(p.url(), /\/p\/q\/BL\/nrs-lesion-pain/);

    // NRS: eleven buttons per lesion, none preselected, the lesion named.
    await axe(p, "NRS page");
    const scales = p.locator(".nrs-scale");
    assert.equal(await scales.count(), 2, "one NRS per active lesion");
    assert.equal(await scales.first().locator("input[type=radio]").count(), 11);
    assert.equal(await p.locator(".nrs-scale input:checked").count(), 0, "nothing preselected");
    const legends = await p.locator("fieldset.nrs legend").allInnerTexts();
    assert.ok(legends[0].includes("rechterheup") && legends[1].includes("onderrug"), legends.join(" | "));
    const rows = await scales.first().evaluate((el) => {
      const tops = new Set([...el.querySelectorAll("label")].map((l) => Math.round(l.getBoundingClientRect().top)));
      return tops.size;
    });
    assert.equal(rows, 2, "the eleven buttons wrap to two rows on a phone");
    await shot(p, "05-nrs-page");
    await answerPage(p, { pick: (n) => (n === 1 ? 3 : 6) });
    await leave(p, p.locator("button.next"));
    assert.match(p.url(), /\/review$/);
    await leave(p, p.locator("form button.primary"));
    assert.match(p.url(), /\/p\/done\/BL$/);
    await axe(p, "thank-you page");
    assert.match(await p.locator(".next").innerText(), /Maand 1/, "the next window is shown");
    assert.match(await p.locator(".safety").innerText(), /rugpijn/, "safety text on the thank-you page");
    await shot(p, "06-thanks");
    phoneOk();

    // ---- the nurse sees the visit completed ----
    await s.goto(`${BASE}/staff/`);
    const row = s.locator("table.grid tr", { hasText: "HERMES-ZAS-201" });
    await assert.doesNotReject(row.locator("td[data-state=completed]").first().waitFor());
    assert.equal(await row.locator("td").nth(1).getAttribute("data-state"), "completed", "BL column");
    await axe(s, "dashboard");
    await shot(s, "07-dashboard");
    await s.goto(`${BASE}/staff/call-today`);
    await axe(s, "call today");
    await shot(s, "08-call-today");
    await s.goto(`${BASE}/staff/participants/HERMES-ZAS-201`);
    assert.equal(await s.locator("svg.chart polyline").count(), 2, "one pain line per lesion");
    await axe(s, "participant page");
    await shot(s, "09-participant");
    staffOk();
  } finally {
    await browser.close();
  }
});
