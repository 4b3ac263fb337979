// The web console (console/) in a real headless Chromium, against a running local stage: run by
// tests/stage/test_console.py, which starts the receiver, serves the built console and asserts on what this prints.
//
//   CONSOLE_API_URL=... CONSOLE_KEY=... CONSOLE_RECEIVER_URL=... CONSOLE_SCREENSHOT=<png path> \
//     node tests/browser/console.mjs <console URL>
//
// As a tenant would: a wrong key first (its 401 message), then signs in with the key (from the environment, so
// never on a command line), creates a push subscription to the receiver with max deliveries 1, creates two events
// through the API (not the page; the test has scripted the receiver to take the first and answer 500 to the
// second), waits for the page to show the first delivered and the second dead, screenshots the page, redrives every
// dead letter with the page's "Redrive all" and follows its progress until the second is delivered, creates a pull
// subscription and sees its backlog count an event of its type, pauses and resumes it, rotates the push one's
// secret, deletes the pull one, then shows an event's detail, and signs out. On each view it runs axe-core (injected
// into the page) and tabs through every control. Prints one JSON report on stdout and exits 0 when it got to the end; a step that could not be done (a
// selector that never appears) is a message on stderr and exit status 1. It only reports: the test decides.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cspViolations, launch, watchedPage } from "./chromium.mjs";

const [url] = process.argv.slice(2);
const { CONSOLE_API_URL: apiUrl, CONSOLE_KEY: key, CONSOLE_RECEIVER_URL: receiverUrl } = process.env;
const screenshot = process.env.CONSOLE_SCREENSHOT;
if (!url || !apiUrl || !key || !receiverUrl || !screenshot) {
  console.error("usage: CONSOLE_API_URL= CONSOLE_KEY= CONSOLE_RECEIVER_URL= CONSOLE_SCREENSHOT= node console.mjs <url>");
  process.exit(2);
}
// Fan-out, the push queue's poller and the page's refresh, one after the other.
const DELIVERY_TIMEOUT_MS = 60_000;
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const started = performance.now();
const report = { timings_ms: {}, axe: {}, keyboard: {}, progress_seen: [] };
const mark = (name) => (report.timings_ms[name] = Math.round(performance.now() - started));

async function createEvent(number, eventType = "order.created") {
  const response = await fetch(`${apiUrl}/v1/events`, {
    method: "POST",
    headers: { "X-API-Key": key, "Content-Type": "application/json" },
    body: JSON.stringify({ source: "console-test", event_type: eventType, payload: { order: number } }),
  });
  if (response.status !== 201) throw new Error(`POST /v1/events: ${response.status} ${await response.text()}`);
  return (await response.json()).event_id;
}

const text = (page, selector) => page.$eval(selector, (element) => element.textContent.trim());
const rows = (page, table) =>
  page.$$eval(`${table} tbody tr`, (trs) =>
    trs.map((tr) => ({ ...tr.dataset, cells: [...tr.cells].map((cell) => cell.textContent.trim()) })),
  );

/** axe-core's violations on the page as it is now (hidden parts are not checked: each view is checked shown). */
async function axe(page) {
  if (await page.evaluate(() => typeof window.axe === "undefined")) await page.evaluate(axeSource);
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  return results.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")) }));
}

/** Tab from the top of the page through it: every visible, enabled control, whether focus reached it, and the
 * controls without a name a screen reader would read (label, aria-label, or text). */
async function keyboard(page) {
  const controls = await page.evaluate(() => {
    const name = (element) =>
      (element.getAttribute("aria-label") || [...(element.labels ?? [])].map((l) => l.textContent).join(" ") ||
        element.textContent || element.getAttribute("title") || "").trim();
    const focusable = [...document.querySelectorAll("a[href], button, input, select, textarea, [tabindex]")].filter(
      (element) => !element.disabled && element.tabIndex >= 0 && element.getClientRects().length > 0,
    );
    focusable.forEach((element, index) => (element.dataset.kb = String(index)));
    document.activeElement?.blur();
    return focusable.map((element) => ({ kb: element.dataset.kb, tag: element.tagName.toLowerCase(), name: name(element) }));
  });
  const reached = new Set();
  for (let press = 0; press < controls.length + 2; press++) {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => document.activeElement?.dataset?.kb ?? null);
    if (focused !== null) reached.add(focused);
  }
  return {
    controls: controls.map((control) => control.name),
    unreached: controls.filter((control) => !reached.has(control.kb)),
    unnamed: controls.filter((control) => !control.name),
  };
}

async function check(page, view) {
  report.axe[view] = await axe(page);
  report.keyboard[view] = await keyboard(page);
}

const browser = await launch();
report.browser = await browser.version();
mark("launch");
try {
  // The wrong key's 401 is expected: the page must say so, not count it as a failure.
  const page = await watchedPage(browser, [new URL(url).origin, new URL(apiUrl).origin], report, [401]);
  page.on("dialog", (dialog) => dialog.accept());
  await page.setViewport({ width: 1280, height: 1000 });
  await page.goto(url, { waitUntil: "load" });
  await check(page, "sign_in");

  await page.type("#api-key", "tk_this_is_not_a_key");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelector("#error").textContent.length > 0);
  report.unauthorized = await text(page, "#error");

  await page.$eval("#api-key", (input) => (input.value = ""));
  await page.type("#api-key", key);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#who:not([hidden])");
  report.who = await text(page, "#who");
  report.error_after_sign_in = await text(page, "#error");
  report.session_storage = await page.evaluate(() => ({ ...sessionStorage }));
  report.local_storage_keys = await page.evaluate(() => Object.keys(localStorage));
  report.page_url = page.url();
  mark("signed_in");

  await page.click('nav button[data-view="subscriptions"]');
  await page.type("#new-name", "console-hook");
  await page.select("#new-mode", "push");
  await page.type("#new-url", receiverUrl);
  await page.type("#new-types", "order.*");
  await page.$eval("#new-max", (input) => (input.value = "1"));
  await page.click('#create-subscription button[type="submit"]');
  await page.waitForSelector("#subscription-detail:not([hidden])");
  await page.waitForSelector("#secret:not([hidden])");
  report.secret = await text(page, "#secret-value");
  report.subscriptions = await rows(page, "#subscriptions-table");
  report.subscription_heading = await text(page, "#subscription-heading");
  mark("subscribed");

  report.delivered_event = await createEvent(1);
  await page.waitForSelector(`#attempts-table tr[data-event-id="${report.delivered_event}"][data-outcome="delivered"]`, {
    timeout: DELIVERY_TIMEOUT_MS,
  });
  mark("delivered");
  report.dead_event = await createEvent(2);
  // The dead letter and its attempt are two writes, each seen by whichever refresh comes after it: wait for both.
  for (const table of ["dead-letters-table", "attempts-table"]) {
    await page.waitForSelector(`#${table} tr[data-event-id="${report.dead_event}"]`, { timeout: DELIVERY_TIMEOUT_MS });
  }
  mark("dead");
  report.attempts = await rows(page, "#attempts-table");
  report.dead_letters = await rows(page, "#dead-letters-table");
  report.chart = await page.$eval("#attempts-chart", (svg) => ({
    label: svg.getAttribute("aria-label"),
    bars: [...svg.querySelectorAll("rect")].map((rect) => rect.getAttribute("class")),
  }));
  await check(page, "subscription");
  await page.screenshot({ path: screenshot, fullPage: true });
  mark("checked_subscription");

  // Every text the progress line shows, from the click on.
  await page.evaluate(() => {
    const line = document.querySelector("#redrive-progress");
    window.__progress = [];
    new MutationObserver(() => window.__progress.push(line.textContent)).observe(line, { childList: true });
  });
  await page.click("#redrive-all");
  await page.waitForFunction(() => /^Redrive (finished|failed)/.test(document.querySelector("#redrive-progress").textContent));
  report.progress_seen = await page.evaluate(() => window.__progress);
  await page.waitForSelector(
    `#attempts-table tr[data-event-id="${report.dead_event}"][data-outcome="delivered"]`,
    { timeout: DELIVERY_TIMEOUT_MS },
  );
  report.dead_letters_after_redrive = await rows(page, "#dead-letters-table");
  report.attempts_after_redrive = await rows(page, "#attempts-table");
  mark("redriven");

  // A pull subscription: its backlog once an event of its type is made.
  await page.type("#new-name", "console-pull");
  await page.type("#new-types", "invoice.*");
  await page.click('#create-subscription button[type="submit"]');
  await page.waitForFunction(() => document.querySelector("#subscription-heading").textContent.startsWith("console-pull"));
  await page.waitForFunction(() => document.querySelector("#backlog").textContent.startsWith("0 ready"));
  report.pull_event = await createEvent(3, "invoice.pulled");
  await page.waitForFunction(() => document.querySelector("#backlog").textContent.startsWith("1 ready"), {
    timeout: DELIVERY_TIMEOUT_MS,
  });
  report.backlog = await text(page, "#backlog");
  mark("backlog");

  // The subscriptions' own controls: pause and resume the pull one, rotate the push one's secret, delete the pull one
  // (its confirmation dialog accepted).
  const stateOf = (name) =>
    page.evaluate((name) => {
      const row = [...document.querySelectorAll("#subscriptions-table tbody tr")].find((tr) => tr.cells[0].textContent === name);
      return row ? row.cells[4].textContent : null;
    }, name);
  await page.click('button[aria-label="Pause console-pull"]');
  await page.waitForSelector('button[aria-label="Resume console-pull"]');
  report.paused_state = await stateOf("console-pull");
  await page.click('button[aria-label="Resume console-pull"]');
  await page.waitForSelector('button[aria-label="Pause console-pull"]');
  report.resumed_state = await stateOf("console-pull");
  await page.click('button[aria-label="Rotate secret of console-hook"]');
  await page.waitForFunction((old) => document.querySelector("#secret-value").textContent !== old, {}, report.secret);
  report.rotated_secret = await text(page, "#secret-value");
  await page.click('button[aria-label="Delete console-pull"]');
  await page.waitForFunction(() => !document.querySelector('button[aria-label="Delete console-pull"]'));
  report.subscriptions_after_delete = await rows(page, "#subscriptions-table");
  mark("managed");

  await page.click('nav button[data-view="events"]');
  await page.type("#filter-source", "console-test");
  await page.click('#event-filters button[type="submit"]');
  await page.waitForFunction(() => document.querySelectorAll("#events-table tbody tr button").length >= 2);
  report.events = await rows(page, "#events-table");
  await page.click(`#events-table button[aria-label="Show event ${report.delivered_event}"]`);
  await page.waitForSelector("#event-detail:not([hidden])");
  report.event_fields = await text(page, "#event-fields");
  report.event_payload = await text(page, "#event-payload");
  report.event_deliveries = await page.$$eval("#event-deliveries li", (items) =>
    items.map((item) => ({ subscription: item.dataset.subscriptionId, text: item.textContent })),
  );
  await check(page, "events");
  mark("events");

  await page.click("#sign-out");
  await page.waitForSelector("#sign-in:not([hidden])");
  report.session_storage_after_sign_out = await page.evaluate(() => ({ ...sessionStorage }));
  report.csp_violations = await cspViolations(page);
} finally {
  await browser.close();
}
mark("total");
console.log(JSON.stringify(report, null, 1));
