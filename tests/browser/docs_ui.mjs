// The docs UI in a real headless Chromium: run by tests/browser/test_docs_ui.py, which starts the API behind a
// stand-in for API Gateway and asserts on what this prints.
//
//   node tests/browser/docs_ui.mjs <docs URL> <operationId to try out>
//
// Opens the URL, waits for Swagger UI to render the spec, lists the operations it shows, then expands the given
// operation, clicks "Try it out" and "Execute", and reads the status in the UI's "Server response" section. Prints
// one JSON document on stdout and exits 0 when the page could be driven to the end; any failure to get there (no
// browser, a selector that never appears) is a message on stderr and exit status 1. This script only reports: the
// test decides what is right.
//
// Chromium comes from @sparticuz/chromium (the binary is inside the npm package, unpacked to the temporary
// directory on first use), driven by puppeteer-core of the matching Chromium version (package.json pins both).
// Nothing leaves the machine: every request to another origin than the page's is refused and reported, and
// Chromium's own background traffic (updates, metrics, first-run pages) is switched off.

import chromium from "@sparticuz/chromium";
import puppeteer from "puppeteer-core";

const [url, operationId] = process.argv.slice(2);
if (!url || !operationId) {
  console.error("usage: node docs_ui.mjs <docs URL> <operationId>");
  process.exit(2);
}
const TIMEOUT_MS = 20_000;
// @sparticuz/chromium's arguments are made for Lambda; these two would make the page less strict than a user's
// browser (no same-origin policy, mixed content allowed), and the page must work without them.
const LAX = new Set(["--disable-web-security", "--allow-running-insecure-content"]);
const QUIET = ["--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"];

const started = performance.now();
const report = {
  url,
  operations: [],
  icons: [],
  try_it_out: null,
  csp_violations: [],
  outside_requests: [],
  failed_requests: [],
  page_errors: [],
  console_errors: [],
  timings_ms: {},
};
const browser = await puppeteer.launch({
  executablePath: await chromium.executablePath(),
  args: [...chromium.args.filter((arg) => !LAX.has(arg)), ...QUIET],
  headless: "shell",
  timeout: TIMEOUT_MS,
});
report.browser = await browser.version();
report.timings_ms.launch = Math.round(performance.now() - started);
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  const origin = new URL(url).origin;
  await page.setRequestInterception(true);
  page.on("request", (request) => {
    const target = request.url();
    if (target.startsWith("data:") || new URL(target).origin === origin) {
      request.continue();
    } else {
      report.outside_requests.push(target);
      request.abort("blockedbyclient");
    }
  });
  page.on("requestfailed", (request) => {
    report.failed_requests.push({ url: request.url(), error: request.failure()?.errorText });
  });
  page.on("response", (response) => {
    if (response.status() >= 400) report.failed_requests.push({ url: response.url(), status: response.status() });
  });
  page.on("pageerror", (error) => report.page_errors.push(String(error.message ?? error)));
  page.on("console", (message) => {
    if (message.type() === "error") report.console_errors.push(message.text());
  });
  // Every Content-Security-Policy violation, whatever the page does with it.
  await page.evaluateOnNewDocument(() => {
    document.addEventListener("securitypolicyviolation", (event) => {
      (window.__cspViolations ??= []).push({
        directive: event.violatedDirective,
        blocked: event.blockedURI,
        sample: event.sample,
      });
    });
  });

  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector(".opblock");
  report.timings_ms.rendered = Math.round(performance.now() - started);
  report.final_url = page.url();
  report.title = await page.title();
  // Swagger UI gives each operation's block the id `operations-<tag>-<operationId>`.
  report.operations = await page.$$eval(".opblock", (blocks) =>
    blocks.map((block) => ({
      id: block.id,
      method: block.querySelector(".opblock-summary-method")?.textContent.trim(),
      path: block.querySelector(".opblock-summary-path")?.getAttribute("data-path"),
    })),
  );

  // The page's icons (PNG: binary answers, base64 on their way through API Gateway), loaded as the page's images.
  // Headless Chromium fetches no favicon by itself.
  report.icons = await page.$$eval('link[rel="icon"]', (links) =>
    Promise.all(
      links.map(
        (link) =>
          new Promise((resolve) => {
            const image = new Image();
            image.onload = () => resolve({ href: link.href, width: image.naturalWidth });
            image.onerror = () => resolve({ href: link.href, width: 0 });
            image.src = link.href;
          }),
      ),
    ),
  );

  const block = `.opblock[id$="-${operationId}"]`;
  // Locators wait for each button to be there, visible and still before clicking it.
  await page.locator(`${block} .opblock-summary`).click();
  await page.locator(`${block} .try-out__btn`).click();
  await page.locator(`${block} .execute`).click();
  // The "Server response" table: a header row, then the answer's row.
  const answer = ".live-responses-table tr.response";
  await page.waitForSelector(`${block} ${answer}`);
  report.try_it_out = await page.$eval(
    block,
    (element, answer) => ({
      status: element.querySelector(`${answer} .response-col_status`)?.textContent.trim(),
      request_url: element.querySelector(".request-url pre")?.textContent.trim(),
      body: element.querySelector(`${answer} .response-col_description pre`)?.textContent.trim(),
    }),
    answer,
  );
  report.timings_ms.tried = Math.round(performance.now() - started);
  report.csp_violations = await page.evaluate(() => window.__cspViolations ?? []);
  report.timings_ms.checked = Math.round(performance.now() - started);
} finally {
  await browser.close();
}
report.timings_ms.total = Math.round(performance.now() - started);
console.log(JSON.stringify(report, null, 1));
