// Shared helpers of the browser tests: the server under test (started by run.sh), the API
// calls that set up a participant, Chromium with the flags this machine needs, axe-core,
// and screenshots under target/e2e/.
import { chromium } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import assert from "node:assert/strict";
import path from "node:path";

export const BASE = process.env.E2E_BASE_URL ?? "http://127.0.0.1:18090";
export const ADMIN_EMAIL = process.env.E2E_ADMIN_EMAIL ?? "admin@example.org";
export const ADMIN_PASSWORD = process.env.E2E_ADMIN_PASSWORD ?? "e2e-admin-password";
export const SHOTS = process.env.E2E_SCREENSHOT_DIR ?? path.resolve("../../target/e2e");
mkdirSync(SHOTS, { recursive: true });

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

export const PHONE = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
  locale: "nl-BE",
};

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/// Fail the test on a CSP violation, a page error or any request to another origin.
/// `allow`: console errors expected by the test (e.g. a save refused with 401).
export function guard(page, { allow = [] } = {}) {
  const problems = [];
  page.on("console", (m) => {
    if (m.type() === "error" && !allow.some((re) => re.test(m.text()))) problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(BASE) && !u.startsWith("data:")) problems.push(`third-party request: ${u}`);
  });
  return () => assert.deepEqual(problems, [], problems.join("\n"));
}

/// axe-core on the current page: no serious or critical violation.
export async function axe(page, name) {
  // Runtime evaluation is not subject to the page's CSP (the page itself allows no inline script).
  const result = await page.evaluate(`${AXE};\naxe.run(document, { resultTypes: ["violations"] })`);
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(
    bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`),
    [],
    `axe on ${name}`,
  );
}

export async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/// The page at 200 % text on a 390 px phone, as a browser's text-size setting makes it (CSSOM:
/// the page's CSP allows it): no horizontal overflow, and no button, link button or field past
/// either edge of the screen. Saves a screenshot `name`.
export async function atLargeText(page, name) {
  await page.evaluate(() => { document.documentElement.style.fontSize = "200%"; });
  await shot(page, name);
  const { overflow, off, wide } = await page.evaluate(() => {
    const width = 390;
    const describe = ([el, r]) => `${el.tagName.toLowerCase()}${el.className ? "." + String(el.className).replace(/ /g, ".") : ""} "${(el.innerText || el.name || "").trim().slice(0, 40)}" ${Math.round(r.left)}..${Math.round(r.right)}`;
    const past = (els) => els
      .filter((el) => el.type !== "hidden" && el.type !== "radio" && el.getClientRects().length > 0)
      .map((el) => [el, el.getBoundingClientRect()])
      .filter(([, r]) => r.right > width + 1 || r.left < -1);
    const off = past([...document.querySelectorAll("button, a.button, input, select, textarea")]).map(describe);
    // What is too wide, for the message: the innermost elements past the edge.
    const wide = past([...document.body.querySelectorAll("*")])
      .filter(([el]) => ![...el.children].some((c) => c.getBoundingClientRect().right > width + 1))
      .slice(0, 5)
      .map(describe);
    // Against the phone's 390 px (a mobile viewport widens to fit what overflows).
    return { overflow: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - width, off, wide };
  });
  assert.ok(overflow <= 1, `${name}: ${overflow}px horizontal overflow at 390 px, 200 % text: ${wide.join("; ")}`);
  assert.deepEqual(off, [], `${name}: controls past the edge of the screen`);
}

export async function api(method, url, token, body) {
  const res = await fetch(`${BASE}${url}`, {
    method,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

export async function login(email, password) {
  return (await api("POST", "/api/v1/auth/login", null, { email, password })).token;
}

/// A site staff account; `ready` accounts have already replaced their first password.
export async function staffAccount(email, site, { ready = true, role = "site_staff" } = {}) {
  const admin = await login(ADMIN_EMAIL, ADMIN_PASSWORD);
  const first = "first-password-123";
  // Site staff work at a site; a data manager sees every site.
  const sites = role === "site_staff" ? [site] : [];
  await api("POST", "/api/v1/users", admin, { email, password: first, role, sites });
  if (!ready) return { email, password: first };
  const token = await login(email, first);
  const password = "second-password-456";
  await api("PUT", "/api/v1/auth/password", token, { current_password: first, new_password: password });
  return { email, password, token: await login(email, password) };
}

/// Enrol a participant (randomized today, two lesions) and issue a link with a PIN.
export async function participant(token, studyId, site = "ZAS", language = "nl") {
  const today = new Date().toLocaleDateString("sv-SE", { timeZone: "Europe/Brussels" });
  await api("POST", "/api/v1/participants", token, { study_id: studyId, site, language, email: "p@example.be" });
  for (const [location, side, nl, fr, en] of [
    ["femoral_neck", "right", "rechterheup", "hanche droite", "right hip"],
    ["L3", null, "onderrug", "bas du dos", "lower back"],
  ]) {
    await api("POST", `/api/v1/participants/${studyId}/lesions`, token, {
      location, side, labels: { nl, fr, en }, high_risk_reasons: ["size_2cm"],
    });
  }
  await api("POST", `/api/v1/participants/${studyId}/events`, token, { type: "randomization", date: today, reason: "randomized", arm: "A" });
  const link = await api("POST", `/api/v1/participants/${studyId}/access-link`, token, { pin: "4826" });
  return { url: link.url, pin: "4826" };
}

/// Answer every question on the current questionnaire page by tapping (or clicking) an option;
/// `skip` holds question numbers to leave blank. Returns the numbers answered.
export async function answerPage(page, { tap = true, skip = [], pick = (n, count) => n % count } = {}) {
  const answered = [];
  for (const fs of await page.locator("fieldset.item").all()) {
    const number = Number((await fs.locator(".num").innerText()).replace(".", ""));
    if (skip.includes(number)) continue;
    const options = fs.locator("label.choice, label.nrs-b");
    const count = await options.count();
    const target = options.nth(pick(number, count));
    if (tap) await target.tap();
    else await target.click();
    answered.push(number);
  }
  return answered;
}

/// Press a button that leaves the page (tap or click) and wait until the next page is there.
export async function leave(page, locator, { tap = true } = {}) {
  const before = page.url();
  if (tap) await locator.tap();
  else await locator.click();
  await page.waitForURL((u) => u.toString() !== before);
  await page.waitForLoadState("load");
}
