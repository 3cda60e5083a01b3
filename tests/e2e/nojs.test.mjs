// With JavaScript off, a participant still completes and submits a whole visit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, PHONE, launch, guard, staffAccount, participant, answerPage, leave } from "./lib.mjs";

test("a visit is completed and submitted with JavaScript disabled", async () => {
  const browser = await launch();
  try {
    const nurse = await staffAccount("nurse.nojs@zas.example", "ZAS");
    const { url, pin } = await participant(nurse.token, "HERMES-ZAS-202");
    const ctx = await browser.newContext({ ...PHONE, javaScriptEnabled: false });
    const p = await ctx.newPage();
    const ok = guard(p);
    await p.goto(url);
    await p.fill("#pin", pin);
    await p.locator("button.primary").click();
    await p.waitForURL(/\/p\/tasks$/);
    for (const key of ["eortc-qlq-c30", "eortc-qlq-bm22", "nrs-lesion-pain"]) {
      await p.goto(`${BASE}/p/q/BL/${key}`);
      while (!p.url().includes("/review")) {
        await answerPage(p, { tap: false });
        await leave(p, p.locator("button.next"), { tap: false });
      }
      await leave(p, p.locator("form button.primary"), { tap: false });
    }
    assert.match(p.url(), /\/p\/done\/BL$/);
    await p.goto(`${BASE}/p/tasks`);
    assert.equal(await p.locator("a.button.primary").count(), 0, "nothing left to answer");
    ok();
    const res = await fetch(`${BASE}/api/v1/participants/HERMES-ZAS-202/schedule`, {
      headers: { authorization: `Bearer ${nurse.token}` },
    });
    const schedule = await res.json();
    assert.equal(schedule.find((v) => v.code === "BL" || v.visit === "BL").state, "completed");
  } finally {
    await browser.close();
  }
});
