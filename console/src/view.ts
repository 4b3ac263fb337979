// The console's view logic, apart from the DOM so that vitest can check it in Node: how times, durations and API
// problems read, where a list's paging stands, and how push attempts fall into the chart's buckets.

export interface Problem {
  title: string;
  detail: string;
  requestId: string | null;
}

export interface Attempt {
  attempted_at: string;
  outcome: "delivered" | "failed" | "gone" | "dead";
}

export interface Bucket {
  start: number; // ms since the epoch
  delivered: number;
  failed: number; // failed, gone and dead: every attempt the receiver did not take
}

export interface JobProgress {
  state: "running" | "succeeded" | "failed";
  processed: number;
  errors: string[];
}

const HINTS: Record<number, string> = {
  401: "The key was not accepted: it is unknown, revoked or expired. Sign in again with another key.",
  403: "The key lacks the scope this needs: ask for a key that holds it.",
  429: "Too many requests for this key: wait a moment and try again.",
};

/** What the page says about a failed call: the API's problem+json when there is one (its title, detail and
 * request id, for support), else whatever the status and the body tell (a gateway's own page, a network error). */
export function problemFrom(status: number, body: unknown, requestIdHeader: string | null): Problem {
  const problem = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  const title = typeof problem.title === "string" ? problem.title : status ? `HTTP ${status}` : "Network error";
  let detail = typeof problem.detail === "string" ? problem.detail : "";
  if (!detail && typeof body === "string") detail = body.slice(0, 200);
  if (!detail && !status) detail = "The API could not be reached (is its URL right, and does it allow this origin?).";
  const hint = HINTS[status];
  if (hint) detail = detail ? `${detail} ${hint}` : hint;
  const requestId = typeof problem.request_id === "string" ? problem.request_id : requestIdHeader;
  return { title, detail, requestId };
}

export function problemText(problem: Problem): string {
  const id = problem.requestId ? ` (request id ${problem.requestId})` : "";
  return `${problem.title}: ${problem.detail}${id}`;
}

/** "2026-11-30 17:05:03 UTC": one zone for everyone reading the same page, as the API's times are. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const time = new Date(iso);
  if (Number.isNaN(time.getTime())) return iso;
  return `${time.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** How long ago `iso` was, in the largest whole unit: "12 s", "3 min", "5 h", "2 d"; "in 4 min" for the future. */
export function formatAge(iso: string, now: number): string {
  const seconds = Math.round((now - new Date(iso).getTime()) / 1000);
  const magnitude = Math.abs(seconds);
  let text: string;
  if (magnitude < 60) text = `${magnitude} s`;
  else if (magnitude < 3600) text = `${Math.floor(magnitude / 60)} min`;
  else if (magnitude < 86400) text = `${Math.floor(magnitude / 3600)} h`;
  else text = `${Math.floor(magnitude / 86400)} d`;
  return seconds < 0 ? `in ${text}` : `${text} ago`;
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 1 : 0)} s`;
}

/** "a, b,,c " → ["a", "b", "c"]: the filter fields take comma-separated patterns. */
export function parseList(text: string): string[] {
  return text
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

/** A cursor-paged list's position: the cursors of the pages before this one, this page's, and the next one's.
 * Only a missing next cursor means the end (the API's rule), so an empty page with a cursor still has a "next". */
export class Pager {
  private before: (string | undefined)[] = [];
  current: string | undefined = undefined;
  nextCursor: string | null = null;

  reset(): void {
    this.before = [];
    this.current = undefined;
    this.nextCursor = null;
  }

  /** The answer of the page at `current` arrived. */
  loaded(nextCursor: string | null): void {
    this.nextCursor = nextCursor;
  }

  get hasNext(): boolean {
    return this.nextCursor !== null;
  }

  get hasPrevious(): boolean {
    return this.before.length > 0;
  }

  get pageNumber(): number {
    return this.before.length + 1;
  }

  /** Move to the next page; the cursor to load it with. */
  next(): string | undefined {
    if (this.nextCursor === null) throw new Error("no next page");
    this.before.push(this.current);
    this.current = this.nextCursor;
    this.nextCursor = null;
    return this.current;
  }

  /** Move back one page; the cursor to load it with (undefined: the first page). */
  previous(): string | undefined {
    if (!this.hasPrevious) throw new Error("no previous page");
    this.current = this.before.pop();
    this.nextCursor = null;
    return this.current;
  }
}

/** The last `count` buckets of `width` ms up to `now`, oldest first, each counting the attempts made in it.
 * Attempts outside the window are left out: the chart shows recent health, the table the rest. */
export function chartBuckets(attempts: Attempt[], now: number, width: number, count: number): Bucket[] {
  const end = Math.floor(now / width) * width + width;
  const first = end - count * width;
  const buckets: Bucket[] = Array.from({ length: count }, (_, i) => ({
    start: first + i * width,
    delivered: 0,
    failed: 0,
  }));
  for (const attempt of attempts) {
    const at = new Date(attempt.attempted_at).getTime();
    if (!(at >= first && at < end)) continue;
    const bucket = buckets[Math.floor((at - first) / width)];
    if (attempt.outcome === "delivered") bucket.delivered += 1;
    else bucket.failed += 1;
  }
  return buckets;
}

export interface BacklogCounts {
  ready: number;
  leased: number;
  complete: boolean;
  oldest_ready_at: string | null;
}

/** A pull subscription's backlog in one line: what waits, what is leased, and how long the oldest has waited. The API
 * counts each up to 10,000 and says when it stopped there (`complete` false). */
export function backlogText(backlog: BacklogCounts, now: number): string {
  const atLeast = backlog.complete ? "" : "at least ";
  const waiting = `${atLeast}${backlog.ready} ready to receive, ${backlog.leased} leased`;
  if (!backlog.oldest_ready_at) return `${waiting}; nothing waiting.`;
  const age = formatAge(backlog.oldest_ready_at, now).replace(/ ago$/, "");
  return `${waiting}; the oldest ready one has waited ${age} (since ${formatTime(backlog.oldest_ready_at)}).`;
}

export function deliveryCount(count: number): string {
  return count === 1 ? "received or pushed once" : `received or pushed ${count} times`;
}

export function jobText(job: JobProgress): string {
  const processed = `${job.processed} dead letter${job.processed === 1 ? "" : "s"} put back`;
  if (job.state === "running") return `Redrive running: ${processed} so far.`;
  if (job.state === "succeeded") return `Redrive finished: ${processed}.`;
  return `Redrive failed after ${processed}: ${job.errors.join("; ") || "no detail"}.`;
}

export interface RedriveOutcome {
  outcome: "redriven" | "not_found";
}

export function redriveText(results: RedriveOutcome[]): string {
  const redriven = results.filter((result) => result.outcome === "redriven").length;
  const missing = results.length - redriven;
  const text = `${redriven} dead letter${redriven === 1 ? "" : "s"} put back`;
  return missing ? `${text}; ${missing} no longer dead (already redriven or removed).` : `${text}.`;
}
