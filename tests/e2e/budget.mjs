// The participant questionnaire page's budget (docs/pages.md): at most 30 KB transferred
// (HTML + CSS + JS, compressed, empty cache), no third-party request, and the first question
// shown in under 1 s on a throttled mid-range phone (Lighthouse's mobile profile: 150 ms RTT,
// 1.6 Mbit/s down, 750 kbit/s up, CPU slowed 4x). Writes target/e2e/budget.json; exits 1 when
// a budget is missed. Runs against E2E_BASE_URL (tests/e2e/run.sh starts a server).
import { writeFileSync } from "node:fs";
import path from "node:path";
import { BASE, PHONE, SHOTS, launch, staffAccount, participant } from "./lib.mjs";

// #28.7: ≤ 20 KB and ≤ 3 requests (HTML, CSS, JS) for the first questionnaire page; the offline
// service worker is registered only once the participant answers, so it loads on later pages.
const BUDGET_BYTES = 20 * 1024;
const BUDGET_REQUESTS = 3;
const BUDGET_MS = 1000;
const RUNS = 5;

const browser = await launch();
let failed = false;
try {
  const nurse = await staffAccount("nurse.budget@zas.example", "ZAS");
  const { url, pin } = await participant(nurse.token, "HERMES-ZAS-299");
  const login = await browser.newContext(PHONE);
  const lp = await login.newPage();
  await lp.goto(url);
  await lp.fill("#pin", pin);
  await lp.locator("button.primary").click();
  await lp.waitForURL(/\/p\/tasks$/);
  const cookies = await login.cookies();
  await login.close();
  const page = `${BASE}/p/q/BL/eortc-qlq-c30`;

  const runs = [];
  for (let i = 0; i < RUNS; i++) {
    // A new context each time: empty cache, so CSS and JS are counted.
    const ctx = await browser.newContext(PHONE);
    await ctx.addCookies(cookies);
    const p = await ctx.newPage();
    const cdp = await ctx.newCDPSession(p);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false,
      latency: 150,
      downloadThroughput: (1.6 * 1024 * 1024) / 8,
      uploadThroughput: (750 * 1024) / 8,
    });
    await cdp.send("Emulation.setCPUThrottlingRate", { rate: 4 });
    const bytes = new Map();
    const thirdParty = [];
    cdp.on("Network.requestWillBeSent", (e) => {
      if (!e.request.url.startsWith(BASE) && !e.request.url.startsWith("data:")) thirdParty.push(e.request.url);
    });
    cdp.on("Network.responseReceived", (e) => bytes.set(e.requestId, { url: e.response.url, encoding: e.response.headers["content-encoding"] ?? "", size: 0 }));
    cdp.on("Network.loadingFinished", (e) => {
      const b = bytes.get(e.requestId);
      if (b) b.size = e.encodedDataLength;
    });
    await p.goto(page, { waitUntil: "load" });
    await p.locator("fieldset.item").first().waitFor();
    const firstQuestion = await p.evaluate(() => {
      const fcp = performance.getEntriesByName("first-contentful-paint")[0];
      const q = document.querySelector("fieldset.item");
      const r = q.getBoundingClientRect();
      return { fcp: fcp ? fcp.startTime : null, top: r.top, viewport: window.innerHeight };
    });
    const resources = [...bytes.values()];
    runs.push({
      transferred: resources.reduce((n, r) => n + r.size, 0),
      resources,
      first_question_ms: firstQuestion.fcp,
      first_question_in_first_screen: firstQuestion.top < firstQuestion.viewport,
      third_party: thirdParty,
    });
    if (i === 0) await p.screenshot({ path: path.join(SHOTS, "budget-c30-throttled.png") });
    await ctx.close();
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const report = {
    page: "/p/q/BL/eortc-qlq-c30 (first page)",
    profile: "390x844 phone, 150 ms RTT, 1.6 Mbit/s down, 750 kbit/s up, CPU 4x slower",
    runs: RUNS,
    transferred_bytes: median(runs.map((r) => r.transferred)),
    requests_max: Math.max(...runs.map((r) => r.resources.length)),
    budget_requests: BUDGET_REQUESTS,
    budget_bytes: BUDGET_BYTES,
    first_question_ms_median: Math.round(median(runs.map((r) => r.first_question_ms))),
    first_question_ms_max: Math.round(Math.max(...runs.map((r) => r.first_question_ms))),
    budget_ms: BUDGET_MS,
    first_question_in_first_screen: runs.every((r) => r.first_question_in_first_screen),
    third_party_requests: runs.flatMap((r) => r.third_party),
    resources: runs[0].resources.map((r) => ({ url: r.url.replace(BASE, ""), bytes: r.size, encoding: r.encoding })),
  };
  writeFileSync(path.join(SHOTS, "budget.json"), JSON.stringify(report, null, 2));
  console.log(JSON.stringify(report, null, 2));
  const misses = [];
  if (report.transferred_bytes > BUDGET_BYTES) misses.push(`transferred ${report.transferred_bytes} B > ${BUDGET_BYTES} B`);
  if (report.requests_max > BUDGET_REQUESTS) misses.push(`${report.requests_max} requests > ${BUDGET_REQUESTS}`);
  if (report.first_question_ms_median > BUDGET_MS) misses.push(`first question at ${report.first_question_ms_median} ms > ${BUDGET_MS} ms`);
  if (!report.first_question_in_first_screen) misses.push("the first question is not on the first screen");
  if (report.third_party_requests.length) misses.push(`third-party requests: ${report.third_party_requests.join(", ")}`);
  if (misses.length) {
    failed = true;
    console.error(`page budget missed: ${misses.join("; ")}`);
  } else {
    console.log("page budget: within budget");
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
