// Headless Chromium for the browser tests (docs_ui.mjs, console.mjs): the binary inside @sparticuz/chromium
// (unpacked to the temporary directory on first use), driven by puppeteer-core of the matching Chromium version
// (package.json pins both). Nothing leaves the machine: a page may reach only the origins it is given, every other
// request is refused and reported, and Chromium's own background traffic (updates, metrics, first-run pages) is
// switched off.

import chromium from "@sparticuz/chromium";
import puppeteer from "puppeteer-core";

export const TIMEOUT_MS = 20_000;
// @sparticuz/chromium's arguments are made for Lambda; these two would make pages less strict than a user's browser
// (no same-origin policy, mixed content allowed), and the pages must work without them.
const LAX = new Set(["--disable-web-security", "--allow-running-insecure-content"]);
const QUIET = ["--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"];

export async function launch() {
  return puppeteer.launch({
    executablePath: await chromium.executablePath(),
    args: [...chromium.args.filter((arg) => !LAX.has(arg)), ...QUIET],
    headless: "shell",
    timeout: TIMEOUT_MS,
  });
}

/** A new page of `browser` that may reach `origins` only; what else it tried, what failed or answered 400 and up,
 * its uncaught errors, console errors and Content-Security-Policy violations go into `report`'s lists
 * (`outside_requests`, `failed_requests`, `page_errors`, `console_errors`; the violations in `window.__cspViolations`,
 * read with `cspViolations(page)`). A response status in `expectedStatuses` is neither a failure nor an error. */
export async function watchedPage(browser, origins, report, expectedStatuses = []) {
  Object.assign(report, { outside_requests: [], failed_requests: [], page_errors: [], console_errors: [] });
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  await page.setRequestInterception(true);
  page.on("request", (request) => {
    const target = request.url();
    if (target.startsWith("data:") || origins.includes(new URL(target).origin)) {
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
    if (response.status() >= 400 && !expectedStatuses.includes(response.status())) {
      report.failed_requests.push({ url: response.url(), status: response.status() });
    }
  });
  page.on("pageerror", (error) => report.page_errors.push(String(error.message ?? error)));
  page.on("console", (message) => {
    // Chromium logs every answer of 400 and up as an error of the page's: an expected one is none.
    const status = /^Failed to load resource: the server responded with a status of (\d+)/.exec(message.text());
    if (status && expectedStatuses.includes(Number(status[1]))) return;
    if (message.type() === "error") report.console_errors.push(message.text());
  });
  await page.evaluateOnNewDocument(() => {
    document.addEventListener("securitypolicyviolation", (event) => {
      (window.__cspViolations ??= []).push({
        directive: event.violatedDirective,
        blocked: event.blockedURI,
        sample: event.sample,
      });
    });
  });
  return page;
}

export function cspViolations(page) {
  return page.evaluate(() => window.__cspViolations ?? []);
}
