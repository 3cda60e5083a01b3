// Every page type a participant sees, and the staff pages for entering a participant's forms
// (teleconsultation, paper), in Dutch and French on a 390 px phone at 200 % text: nothing wider
// than the screen, every button on it (issue 32.2: Volgende / Suivant / Nakijken were pushed off
// the right edge). The other staff pages are read the same way in access.test.mjs.
import { test } from "node:test";
import { BASE, PHONE, launch, guard, staffAccount, participant, answerPage, leave, atLargeText } from "./lib.mjs";

for (const lang of ["nl", "fr"]) {
  const other = lang === "nl" ? "fr" : "nl";
  const locale = lang === "nl" ? "nl-BE" : "fr-BE";

  test(`participant pages in ${lang} at 200 % text on a 390 px phone`, async () => {
    const browser = await launch();
    try {
      const nurse = await staffAccount(`nurse.large-${lang}@zas.example`, "ZAS");
      const id = lang === "nl" ? "HERMES-ZAS-321" : "HERMES-ZAS-322";
      const { url, pin } = await participant(nurse.token, id, "ZAS", lang);
      const ctx = await browser.newContext({ ...PHONE, locale });
      const p = await ctx.newPage();
      // The PIN form to resume (401) and the link that no longer works (404) are expected.
      const ok = guard(p, { allow: [/status of 40[14]/] });
      const at = (name) => atLargeText(p, `17-${lang}-${name}-390px-200pct`);
      await p.goto(url);
      await at("pin");
      await p.fill("#pin", pin);
      await leave(p, p.locator("button.primary"));
      await at("tasks");
      await p.goto(`${BASE}/p/q/BL/eortc-qlq-c30?page=1`);
      await at("questionnaire-first-page");
      await answerPage(p);
      await leave(p, p.locator("button.next"));
      await at("questionnaire-page");
      await p.goto(`${BASE}/p/q/BL/eortc-qlq-c30?page=6`);
      await at("questionnaire-last-page");
      await p.goto(`${BASE}/p/q/BL/nrs-lesion-pain`);
      await at("nrs");
      await p.goto(`${BASE}/p/q/BL/eortc-qlq-c30/review`);
      await at("review-with-blanks");
      await p.goto(`${BASE}/p/done/BL`);
      await at("between-forms");
      await p.goto(`${BASE}/p/tasks?lang=${other}`);
      await at("language-prompt");
      await p.goto(`${BASE}/p/tasks?lang=${lang}`);
      // The session ends: the PIN form to resume.
      await ctx.addCookies([{ name: "epro_p", value: "ended", url: BASE }]);
      await p.goto(`${BASE}/p/q/BL/eortc-qlq-c30?page=2`);
      await at("resume-pin");
      await p.goto(`${BASE}/p/NoSuchLinkNoSuchLinkNoSuchLink?lang=${lang}`);
      await at("link-invalid");
      ok();
    } finally {
      await browser.close();
    }
  });

  test(`staff entry pages in ${lang} at 200 % text on a 390 px phone`, async () => {
    const browser = await launch();
    try {
      const nurse = await staffAccount(`nurse.large-entry-${lang}@zas.example`, "ZAS");
      const id = lang === "nl" ? "HERMES-ZAS-323" : "HERMES-ZAS-324";
      await participant(nurse.token, id, "ZAS", lang);
      const ctx = await browser.newContext({ ...PHONE, locale });
      const s = await ctx.newPage();
      const ok = guard(s);
      const at = (name) => atLargeText(s, `18-${lang}-${name}-390px-200pct`);
      await s.goto(`${BASE}/staff/login?lang=${lang}`);
      await at("staff-login");
      await s.fill("#email", nurse.email);
      await s.fill("#password", nurse.password);
      await leave(s, s.locator("button[type=submit].primary"), { tap: false });
      const q = `?lang=${lang}`;
      await s.goto(`${BASE}/staff/participants/${id}/interviewer/BL/eortc-qlq-bm22${q}`);
      await at("teleconsultation");
      await s.goto(`${BASE}/staff/participants/${id}/interviewer/BL/eortc-qlq-bm22/review${q}`);
      await at("teleconsultation-review");
      await s.goto(`${BASE}/staff/participants/${id}/interviewer/BL/nrs-lesion-pain${q}`);
      await at("teleconsultation-nrs");
      await s.goto(`${BASE}/staff/participants/${id}/paper/BL/eortc-qlq-c30${q}`);
      await at("paper-entry");
      await s.goto(`${BASE}/staff/participants/${id}/paper/BL/eortc-qlq-c30/review${q}`);
      await at("paper-review");
      await s.goto(`${BASE}/staff/password${q}`);
      await at("password");
      ok();
    } finally {
      await browser.close();
    }
  });
}
