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
// Chromium and the page's watch (only the page's own origin may be reached) come from chromium.mjs.

import { cspViolations, launch, watchedPage } from "./chromium.mjs";

const [url, operationId] = process.argv.slice(2);
if (!url || !operationId) {
  console.error("usage: node docs_ui.mjs <docs URL> <operationId>");
  process.exit(2);
}

const started = performance.now();
const report = { url, operations: [], icons: [], try_it_out: null, csp_violations: [], timings_ms: {} };
const browser = await launch();
report.browser = await browser.version();
report.timings_ms.launch = Math.round(performance.now() - started);
try {
  const page = await watchedPage(browser, [new URL(url).origin], report);

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
  report.csp_violations = await cspViolations(page);
  report.timings_ms.checked = Math.round(performance.now() - started);
} finally {
  await browser.close();
}
report.timings_ms.total = Math.round(performance.now() - started);
console.log(JSON.stringify(report, null, 1));
