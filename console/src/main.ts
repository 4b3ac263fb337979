// The console page: signs in with a key, then shows the key's events, subscriptions, push attempts and dead letters
// through the public API only. The view logic it leans on (formatting, paging, problems, chart) is in view.ts.

import { ApiError, apiClient, type Client, expect, type Schemas } from "./api";
import {
  backlogText,
  chartBuckets,
  deliveryCount,
  formatAge,
  formatDuration,
  formatTime,
  jobText,
  Pager,
  parseList,
  problemFrom,
  problemText,
  redriveText,
} from "./view";

type Subscription = Schemas["Subscription"];
type DeadLetter = Schemas["DeadLetter"];
type Attempt = Schemas["Attempt"];

const KEY_STORAGE = "triggers-console-api-key";
const PAGE_SIZE = 20;
const REFRESH_MS = 2000; // the open subscription's attempts and dead letters
const JOB_POLL_MS = 1000;
const CHART_BUCKET_MS = 60_000;
const CHART_BUCKETS = 30;

function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from index.html`);
  return element as T;
}

/** An element with attributes (`on*` functions become listeners) and children (strings become text). */
function el(tag: string, attributes: Record<string, string | boolean | ((event: Event) => void)> = {}, ...children: (Node | string)[]) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else if (value !== false) element.setAttribute(name, value);
  }
  element.append(...children);
  return element;
}

function row(...cells: (Node | string)[]): HTMLTableRowElement {
  return el("tr", {}, ...cells.map((cell) => el("td", {}, cell))) as HTMLTableRowElement;
}

function emptyRow(columns: number, text: string): HTMLTableRowElement {
  return el("tr", {}, el("td", { colspan: String(columns) }, text)) as HTMLTableRowElement;
}

let client: Client | null = null;
const eventsPager = new Pager();
const subscriptionsPager = new Pager();
let openSubscription: Subscription | null = null;
const subscriptionNames = new Map<string, string>(); // of the subscriptions listed so far: an event's deliveries name them
let refreshTimer: number | undefined;
const selectedDeadLetters = new Set<string>();
let shownDeadLetters = "";
let shownAttempts = "";

function api(): Client {
  if (!client) throw new Error("not signed in");
  return client;
}

function showError(error: unknown): void {
  const box = byId("error");
  if (error instanceof ApiError) {
    box.textContent = problemText(error.problem);
    if (error.status === 401) signOut(false);
  } else {
    box.textContent = problemText(problemFrom(0, String(error), null));
  }
}

/** Run a user's action; its failure is shown, never thrown into the console log (which could hold a key). */
function act(action: () => Promise<void>): () => void {
  return () => {
    byId("error").textContent = "";
    action().catch(showError);
  };
}

async function apiUrl(): Promise<string> {
  // config.json sits next to index.html: one build serves every stage, each deploy writes the stage's URL.
  const response = await fetch("./config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  const config = (await response.json()) as { api_url?: unknown };
  if (typeof config.api_url !== "string") throw new Error("config.json has no api_url");
  return config.api_url;
}

async function signIn(key: string): Promise<void> {
  const candidate = apiClient(await apiUrl(), key);
  const who = await expect(candidate.GET("/v1/key"));
  client = candidate;
  sessionStorage.setItem(KEY_STORAGE, key);
  byId<HTMLInputElement>("api-key").value = "";
  const whoText = byId("who");
  whoText.textContent = `Tenant ${who.tenant} · key ${who.key_id} · scopes: ${who.scopes.join(", ") || "none"}`;
  whoText.hidden = false;
  byId("sign-out").hidden = false;
  byId("sign-in").hidden = true;
  byId("signed-in").hidden = false;
  eventsPager.reset();
  subscriptionsPager.reset();
  await Promise.all([loadEvents(), loadSubscriptions()]);
}

function signOut(clearError = true): void {
  client = null;
  sessionStorage.removeItem(KEY_STORAGE);
  closeSubscription();
  byId("who").hidden = true;
  byId("sign-out").hidden = true;
  byId("sign-in").hidden = false;
  byId("signed-in").hidden = true;
  byId("secret").hidden = true;
  if (clearError) byId("error").textContent = "";
}

function showView(name: string): void {
  for (const button of document.querySelectorAll<HTMLButtonElement>("nav button")) {
    const active = button.dataset.view === name;
    button.setAttribute("aria-pressed", String(active));
    byId(`${button.dataset.view}-view`).hidden = !active;
  }
}

function pagerControls(prefix: string, pager: Pager): void {
  byId<HTMLButtonElement>(`${prefix}-previous`).disabled = !pager.hasPrevious;
  byId<HTMLButtonElement>(`${prefix}-next`).disabled = !pager.hasNext;
  byId(`${prefix}-page`).textContent = `Page ${pager.pageNumber}`;
}

// Events

async function loadEvents(): Promise<void> {
  const source = byId<HTMLInputElement>("filter-source").value.trim() || undefined;
  const event_type = byId<HTMLInputElement>("filter-type").value.trim() || undefined;
  const page = await expect(
    api().GET("/v1/events", {
      params: { query: { limit: PAGE_SIZE, cursor: eventsPager.current, source, event_type } },
    }),
  );
  eventsPager.loaded(page.next_cursor);
  const body = byId("events-table").querySelector("tbody")!;
  const now = Date.now();
  body.replaceChildren(
    ...(page.events.length
      ? page.events.map((event) =>
          row(
            el("time", { datetime: event.created_at, title: formatTime(event.created_at) }, formatAge(event.created_at, now)),
            event.source,
            event.event_type,
            event.status,
            el("button", { type: "button", "aria-label": `Show event ${event.event_id}`, onclick: act(() => showEvent(event.event_id)) }, "Show"),
          ),
        )
      : [emptyRow(5, "No events.")]),
  );
  pagerControls("events", eventsPager);
}

async function showEvent(eventId: string): Promise<void> {
  const event = await expect(api().GET("/v1/events/{event_id}", { params: { path: { event_id: eventId } } }));
  // Only an Accept of application/cloudevents+json gets the CloudEvent form, which this never sends.
  if (!("event_id" in event)) throw new Error("the API answered a CloudEvent to a plain GET");
  const fields: [string, string][] = [
    ["Event id", event.event_id],
    ["Source", event.source],
    ["Event type", event.event_type],
    ["Status", event.status],
    ["Created", formatTime(event.created_at)],
    ["Acknowledged", formatTime(event.acknowledged_at)],
    ["Expires", formatTime(event.expires_at)],
  ];
  byId("event-fields").replaceChildren(...fields.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
  byId("event-payload").textContent = JSON.stringify(event.payload, null, 2);
  byId("event-deliveries").replaceChildren(...(await eventDeliveries(eventId)));
  byId("event-detail").hidden = false;
}

/** The subscriptions the event went to, each with where its delivery stands; a key without subscriptions:manage
 * sees why not, rather than no event at all. */
async function eventDeliveries(eventId: string): Promise<HTMLElement[]> {
  try {
    const { deliveries } = await expect(
      api().GET("/v1/events/{event_id}/deliveries", { params: { path: { event_id: eventId } } }),
    );
    if (!deliveries.length) return [el("li", {}, "No subscription matched it.")];
    return deliveries.map((delivery) => {
      const name = subscriptionNames.get(delivery.subscription_id) ?? delivery.subscription_id;
      const item = el("li", {}, `${name}: ${delivery.state}, ${deliveryCount(delivery.delivery_count)}`);
      item.dataset.subscriptionId = delivery.subscription_id;
      return item;
    });
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) return [el("li", {}, problemText(error.problem))];
    throw error;
  }
}

// Subscriptions

function describeFilter(subscription: Subscription): string {
  const { sources, event_types } = subscription.filter;
  return `sources: ${sources.join(", ") || "all"}; types: ${event_types.join(", ") || "all"}`;
}

function describeDelivery(subscription: Subscription): string {
  return subscription.delivery.mode === "push" ? `push to ${subscription.delivery.url}` : "pull";
}

async function loadSubscriptions(): Promise<void> {
  const page = await expect(
    api().GET("/v1/subscriptions", { params: { query: { limit: PAGE_SIZE, cursor: subscriptionsPager.current } } }),
  );
  subscriptionsPager.loaded(page.next_cursor);
  for (const subscription of page.subscriptions) subscriptionNames.set(subscription.subscription_id, subscription.name);
  const body = byId("subscriptions-table").querySelector("tbody")!;
  body.replaceChildren(
    ...(page.subscriptions.length
      ? page.subscriptions.map((subscription) => subscriptionRow(subscription))
      : [emptyRow(6, "No subscriptions.")]),
  );
  pagerControls("subscriptions", subscriptionsPager);
}

function subscriptionRow(subscription: Subscription): HTMLTableRowElement {
  const id = subscription.subscription_id;
  const name = subscription.name;
  const state = subscription.paused
    ? `paused${subscription.paused_reason === "receiver_gone" ? " (the receiver answered 410)" : ""}`
    : "active";
  const actions = el(
    "div",
    { class: "row" },
    el("button", { type: "button", "aria-label": `Open ${name}`, onclick: act(() => openDetail(subscription)) }, "Open"),
    el(
      "button",
      {
        type: "button",
        "aria-label": `${subscription.paused ? "Resume" : "Pause"} ${name}`,
        onclick: act(async () => {
          await expect(
            api().PATCH("/v1/subscriptions/{subscription_id}", {
              params: { path: { subscription_id: id } },
              body: { paused: !subscription.paused },
            }),
          );
          await loadSubscriptions();
        }),
      },
      subscription.paused ? "Resume" : "Pause",
    ),
  );
  if (subscription.delivery.mode === "push") {
    actions.append(
      el(
        "button",
        {
          type: "button",
          "aria-label": `Rotate secret of ${name}`,
          onclick: act(async () => {
            const rotated = await expect(
              api().POST("/v1/subscriptions/{subscription_id}/rotate-secret", { params: { path: { subscription_id: id } } }),
            );
            showSecret(name, rotated.secret);
          }),
        },
        "Rotate secret",
      ),
    );
  }
  actions.append(
    el(
      "button",
      {
        type: "button",
        "aria-label": `Delete ${name}`,
        onclick: act(async () => {
          if (!window.confirm(`Delete subscription ${name}? Its pending deliveries go with it.`)) return;
          await expect(api().DELETE("/v1/subscriptions/{subscription_id}", { params: { path: { subscription_id: id } } }));
          if (openSubscription?.subscription_id === id) closeSubscription();
          await loadSubscriptions();
        }),
      },
      "Delete",
    ),
  );
  const tr = row(name, describeDelivery(subscription), describeFilter(subscription), String(subscription.max_deliveries), state, actions);
  tr.dataset.subscriptionId = id;
  return tr;
}

function showSecret(name: string, secret: string): void {
  byId("secret-name").textContent = name;
  byId("secret-value").textContent = secret;
  byId("copy-outcome").textContent = "";
  byId("secret").hidden = false;
}

async function createSubscription(form: HTMLFormElement): Promise<void> {
  const fields = new FormData(form);
  const mode = String(fields.get("mode"));
  const delivery =
    mode === "push" ? { mode: "push" as const, url: String(fields.get("url")) } : { mode: "pull" as const };
  const created = await expect(
    api().POST("/v1/subscriptions", {
      body: {
        name: String(fields.get("name")),
        delivery,
        filter: { sources: parseList(String(fields.get("sources"))), event_types: parseList(String(fields.get("event_types"))) },
        max_deliveries: Number(fields.get("max_deliveries")),
      },
    }),
  );
  if (created.secret) showSecret(created.name, created.secret);
  form.reset();
  byId<HTMLInputElement>("new-url").disabled = true;
  await loadSubscriptions();
  await openDetail(created);
}

// One subscription: its attempts (push), its dead letters, redrives

function openDetail(subscription: Subscription): Promise<void> {
  closeSubscription();
  openSubscription = subscription;
  byId("subscription-heading").textContent = `${subscription.name} (${describeDelivery(subscription)})`;
  const push = subscription.delivery.mode === "push";
  byId("push-detail").hidden = !push;
  byId("pull-detail").hidden = push;
  byId("subscription-detail").hidden = false;
  refreshTimer = window.setInterval(() => refreshDetail().catch(showError), REFRESH_MS);
  return refreshDetail();
}

function closeSubscription(): void {
  window.clearInterval(refreshTimer);
  openSubscription = null;
  selectedDeadLetters.clear();
  shownAttempts = shownDeadLetters = "";
  byId("subscription-detail").hidden = true;
  byId("redrive-progress").textContent = "";
  byId("backlog").textContent = "";
}

async function refreshDetail(): Promise<void> {
  const subscription = openSubscription;
  if (!subscription) return;
  const path = { subscription_id: subscription.subscription_id };
  const push = subscription.delivery.mode === "push";
  const [attempts, backlog, deadLetters] = await Promise.all([
    push ? expect(api().GET("/v1/subscriptions/{subscription_id}/attempts", { params: { path, query: { limit: 50 } } })) : null,
    push ? null : expect(api().GET("/v1/subscriptions/{subscription_id}/backlog", { params: { path } })),
    expect(api().GET("/v1/subscriptions/{subscription_id}/dead-letters", { params: { path, query: { limit: 100 } } })),
  ]);
  if (openSubscription !== subscription) return; // closed or another opened meanwhile
  if (attempts) showAttempts(attempts.attempts);
  if (backlog) byId("backlog").textContent = backlogText(backlog, Date.now());
  showDeadLetters(deadLetters.dead_letters);
}

function showAttempts(attempts: Attempt[]): void {
  // Redrawn only when they changed: a redraw under a keyboard user's focus would lose it.
  const shown = JSON.stringify(attempts);
  if (shown === shownAttempts) return;
  shownAttempts = shown;
  const now = Date.now();
  byId("attempts-table")
    .querySelector("tbody")!
    .replaceChildren(
      ...(attempts.length
        ? attempts.map((attempt) => {
            const tr = row(
              formatTime(attempt.attempted_at),
              attempt.event_id,
              el("span", { class: `outcome-${attempt.outcome}` }, attempt.outcome),
              attempt.status_code === null ? (attempt.error ?? "—") : String(attempt.status_code),
              formatDuration(attempt.duration_ms),
              attempt.next_attempt_at ? `${formatTime(attempt.next_attempt_at)} (${formatAge(attempt.next_attempt_at, now)})` : "—",
            );
            tr.dataset.eventId = attempt.event_id;
            tr.dataset.outcome = attempt.outcome;
            return tr;
          })
        : [emptyRow(6, "No attempts yet.")]),
    );
  drawChart(attempts, now);
}

function drawChart(attempts: Attempt[], now: number): void {
  const buckets = chartBuckets(attempts, now, CHART_BUCKET_MS, CHART_BUCKETS);
  const highest = Math.max(1, ...buckets.map((bucket) => bucket.delivered + bucket.failed));
  const width = 300 / CHART_BUCKETS;
  const svg = byId("attempts-chart");
  const namespace = "http://www.w3.org/2000/svg";
  const bars: SVGRectElement[] = [];
  buckets.forEach((bucket, index) => {
    let top = 60;
    for (const [count, kind] of [
      [bucket.delivered, "delivered"],
      [bucket.failed, "failed"],
    ] as const) {
      if (!count) continue;
      const height = (count / highest) * 56;
      top -= height;
      const bar = document.createElementNS(namespace, "rect");
      for (const [name, value] of Object.entries({ x: index * width + 1, y: top, width: width - 2, height })) {
        bar.setAttribute(name, String(value));
      }
      bar.setAttribute("class", kind);
      bars.push(bar);
    }
  });
  svg.replaceChildren(...bars);
  const delivered = buckets.reduce((sum, bucket) => sum + bucket.delivered, 0);
  const failed = buckets.reduce((sum, bucket) => sum + bucket.failed, 0);
  svg.setAttribute("aria-label", `Last ${CHART_BUCKETS} minutes: ${delivered} delivered, ${failed} not delivered, per minute`);
}

function showDeadLetters(deadLetters: DeadLetter[]): void {
  const shown = JSON.stringify(deadLetters);
  if (shown === shownDeadLetters) return;
  shownDeadLetters = shown;
  const present = new Set(deadLetters.map((dead) => dead.event_id));
  for (const id of selectedDeadLetters) if (!present.has(id)) selectedDeadLetters.delete(id);
  byId("dead-letters-table")
    .querySelector("tbody")!
    .replaceChildren(
      ...(deadLetters.length
        ? deadLetters.map((dead) => {
            const box = el("input", {
              type: "checkbox",
              "aria-label": `Select dead letter ${dead.event_id}`,
              checked: selectedDeadLetters.has(dead.event_id),
              onchange: (event: Event) => {
                if ((event.target as HTMLInputElement).checked) selectedDeadLetters.add(dead.event_id);
                else selectedDeadLetters.delete(dead.event_id);
              },
            });
            const tr = row(box, dead.event_id, dead.event.event_type, String(dead.delivery_count), formatTime(dead.died_at));
            tr.dataset.eventId = dead.event_id;
            return tr;
          })
        : [emptyRow(5, "No dead letters.")]),
    );
}

async function redriveSelected(): Promise<void> {
  const subscription = openSubscription;
  if (!subscription) return;
  if (!selectedDeadLetters.size) {
    byId("redrive-progress").textContent = "Select the dead letters to redrive first.";
    return;
  }
  const answer = await expect(
    api().POST("/v1/subscriptions/{subscription_id}/redrive", {
      params: { path: { subscription_id: subscription.subscription_id } },
      body: { event_ids: [...selectedDeadLetters] },
    }),
  );
  byId("redrive-progress").textContent = "results" in answer ? redriveText(answer.results) : jobText(answer);
  selectedDeadLetters.clear();
  await refreshDetail();
}

async function redriveAll(): Promise<void> {
  const subscription = openSubscription;
  if (!subscription) return;
  const progress = byId("redrive-progress");
  const started = await expect(
    api().POST("/v1/subscriptions/{subscription_id}/redrive", {
      params: { path: { subscription_id: subscription.subscription_id } },
      body: { all: true },
    }),
  );
  if ("results" in started) {
    progress.textContent = redriveText(started.results);
    return;
  }
  let job = started;
  progress.textContent = jobText(job);
  while (job.state === "running" && openSubscription === subscription) {
    await new Promise((resolve) => window.setTimeout(resolve, JOB_POLL_MS));
    job = await expect(api().GET("/v1/jobs/{job_id}", { params: { path: { job_id: job.job_id } } }));
    progress.textContent = jobText(job);
  }
  await refreshDetail();
}

// Wiring

function wire(): void {
  byId("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = byId<HTMLInputElement>("api-key").value.trim();
    act(() => signIn(key))();
  });
  byId("sign-out").addEventListener("click", () => signOut());
  for (const button of document.querySelectorAll<HTMLButtonElement>("nav button")) {
    button.addEventListener("click", () => showView(button.dataset.view ?? "events"));
  }
  byId("event-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    eventsPager.reset();
    act(loadEvents)();
  });
  for (const [prefix, pager, load] of [
    ["events", eventsPager, loadEvents],
    ["subscriptions", subscriptionsPager, loadSubscriptions],
  ] as const) {
    byId(`${prefix}-next`).addEventListener("click", () => {
      pager.next();
      act(load)();
    });
    byId(`${prefix}-previous`).addEventListener("click", () => {
      pager.previous();
      act(load)();
    });
  }
  byId<HTMLSelectElement>("new-mode").addEventListener("change", (event) => {
    const url = byId<HTMLInputElement>("new-url");
    url.disabled = (event.target as HTMLSelectElement).value !== "push";
    url.required = !url.disabled;
  });
  byId("create-subscription").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    act(() => createSubscription(form))();
  });
  byId("copy-secret").addEventListener("click", () => {
    const outcome = byId("copy-outcome");
    navigator.clipboard.writeText(byId("secret-value").textContent ?? "").then(
      () => (outcome.textContent = "Copied."),
      () => (outcome.textContent = "The browser refused: select the secret and copy it."),
    );
  });
  byId("redrive-selected").addEventListener("click", act(redriveSelected));
  byId("redrive-all").addEventListener("click", act(redriveAll));
  byId("close-subscription").addEventListener("click", closeSubscription);
}

wire();
const saved = sessionStorage.getItem(KEY_STORAGE);
if (saved) act(() => signIn(saved))();
