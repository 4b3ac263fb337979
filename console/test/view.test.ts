import { describe, expect, it } from "vitest";
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
} from "../src/view";

describe("problems", () => {
  it("shows the API's title, detail and request id", () => {
    const body = { type: "/problems/not-found", title: "Not Found", status: 404, detail: "No such event.", request_id: "req-1" };
    const problem = problemFrom(404, body, "header-id");
    expect(problem).toEqual({ title: "Not Found", detail: "No such event.", requestId: "req-1" });
    expect(problemText(problem)).toBe("Not Found: No such event. (request id req-1)");
  });

  it.each([
    [401, "Sign in again"],
    [403, "lacks the scope"],
    [429, "wait a moment"],
  ])("adds what to do about a %i", (status, hint) => {
    const problem = problemFrom(status, { title: "T", detail: "D.", request_id: "r" }, null);
    expect(problem.detail.startsWith("D. ")).toBe(true);
    expect(problem.detail).toContain(hint);
  });

  it("falls back to the status and the X-Request-ID header for a body that is no problem", () => {
    expect(problemFrom(502, "<html>Bad gateway</html>", "gw-7")).toEqual({
      title: "HTTP 502",
      detail: "<html>Bad gateway</html>",
      requestId: "gw-7",
    });
  });

  it("says the API could not be reached when there was no answer", () => {
    const problem = problemFrom(0, undefined, null);
    expect(problem.title).toBe("Network error");
    expect(problem.detail).toContain("could not be reached");
    expect(problemText(problem)).not.toContain("request id");
  });
});

describe("formatting", () => {
  it("writes times in UTC to the second", () => {
    expect(formatTime("2026-11-30T17:05:03.123456Z")).toBe("2026-11-30 17:05:03 UTC");
    expect(formatTime(null)).toBe("—");
    expect(formatTime("not a time")).toBe("not a time");
  });

  it.each([
    [12, "12 s ago"],
    [59, "59 s ago"],
    [60, "1 min ago"],
    [3599, "59 min ago"],
    [7200, "2 h ago"],
    [3 * 86400 + 5, "3 d ago"],
    [-240, "in 4 min"],
  ])("an age of %i s reads %s", (seconds, text) => {
    const now = Date.parse("2026-11-30T12:00:00Z");
    expect(formatAge(new Date(now - seconds * 1000).toISOString(), now)).toBe(text);
  });

  it.each([
    [0, "0 ms"],
    [999, "999 ms"],
    [1250, "1.3 s"],
    [12_400, "12 s"],
  ])("a duration of %i ms reads %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it("splits a comma-separated filter, dropping blanks", () => {
    expect(parseList(" billing, invoice.* ,,")).toEqual(["billing", "invoice.*"]);
    expect(parseList("")).toEqual([]);
  });
});

describe("Pager", () => {
  it("walks forward and back with the cursors it was given", () => {
    const pager = new Pager();
    expect([pager.current, pager.hasPrevious, pager.hasNext, pager.pageNumber]).toEqual([undefined, false, false, 1]);
    pager.loaded("c2");
    expect(pager.hasNext).toBe(true);
    expect(pager.next()).toBe("c2");
    pager.loaded("c3");
    expect(pager.next()).toBe("c3");
    pager.loaded(null);
    expect([pager.hasNext, pager.hasPrevious, pager.pageNumber]).toEqual([false, true, 3]);
    expect(pager.previous()).toBe("c2");
    expect(pager.previous()).toBeUndefined();
    expect([pager.hasPrevious, pager.pageNumber]).toEqual([false, 1]);
  });

  it("has a next page after an empty page that still has a cursor: only a missing cursor is the end", () => {
    const pager = new Pager();
    pager.loaded("more");
    expect(pager.hasNext).toBe(true);
  });

  it("refuses to move past either end, and reset goes back to the first page", () => {
    const pager = new Pager();
    expect(() => pager.next()).toThrow();
    expect(() => pager.previous()).toThrow();
    pager.loaded("c2");
    pager.next();
    pager.reset();
    expect([pager.current, pager.hasPrevious, pager.hasNext]).toEqual([undefined, false, false]);
  });
});

describe("chartBuckets", () => {
  const minute = 60_000;
  const now = Date.parse("2026-11-30T12:10:30Z");
  const at = (iso: string, outcome: "delivered" | "failed" | "gone" | "dead") => ({ attempted_at: iso, outcome });

  it("counts deliveries and every other outcome as failures, per bucket, oldest bucket first", () => {
    const buckets = chartBuckets(
      [
        at("2026-11-30T12:10:05Z", "delivered"),
        at("2026-11-30T12:10:20Z", "failed"),
        at("2026-11-30T12:09:59Z", "dead"),
        at("2026-11-30T12:09:00Z", "gone"),
        at("2026-11-30T12:08:00Z", "delivered"),
      ],
      now,
      minute,
      3,
    );
    expect(buckets.map((b) => [new Date(b.start).toISOString(), b.delivered, b.failed])).toEqual([
      ["2026-11-30T12:08:00.000Z", 1, 0],
      ["2026-11-30T12:09:00.000Z", 0, 2],
      ["2026-11-30T12:10:00.000Z", 1, 1],
    ]);
  });

  it("leaves out attempts before the window and after now's bucket", () => {
    const buckets = chartBuckets(
      [at("2026-11-30T11:00:00Z", "delivered"), at("2026-11-30T12:11:00Z", "failed")],
      now,
      minute,
      3,
    );
    expect(buckets.every((b) => b.delivered === 0 && b.failed === 0)).toBe(true);
  });
});

describe("backlogText", () => {
  const now = Date.parse("2026-11-30T12:00:00Z");

  it("says what waits, what is leased and the oldest ready one's wait", () => {
    expect(backlogText({ ready: 12, leased: 3, complete: true, oldest_ready_at: "2026-11-30T11:55:00Z" }, now)).toBe(
      "12 ready to receive, 3 leased; the oldest ready one has waited 5 min (since 2026-11-30 11:55:00 UTC).",
    );
  });

  it("says nothing waits when there is no oldest", () => {
    expect(backlogText({ ready: 0, leased: 2, complete: true, oldest_ready_at: null }, now)).toBe("0 ready to receive, 2 leased; nothing waiting.");
  });

  it("says the counts are a floor when the API stopped counting", () => {
    expect(backlogText({ ready: 10000, leased: 0, complete: false, oldest_ready_at: null }, now)).toBe(
      "at least 10000 ready to receive, 0 leased; nothing waiting.",
    );
  });
});

describe("deliveryCount", () => {
  it.each([
    [0, "received or pushed 0 times"],
    [1, "received or pushed once"],
    [3, "received or pushed 3 times"],
  ])("%i reads %s", (count, text) => {
    expect(deliveryCount(count)).toBe(text);
  });
});

describe("redrive progress", () => {
  it("tells a running, a finished and a failed job apart", () => {
    expect(jobText({ state: "running", processed: 1, errors: [] })).toBe("Redrive running: 1 dead letter put back so far.");
    expect(jobText({ state: "succeeded", processed: 3, errors: [] })).toBe("Redrive finished: 3 dead letters put back.");
    expect(jobText({ state: "failed", processed: 0, errors: ["boom"] })).toBe(
      "Redrive failed after 0 dead letters put back: boom.",
    );
  });

  it("counts the named dead letters that were put back and those no longer dead", () => {
    expect(redriveText([{ outcome: "redriven" }])).toBe("1 dead letter put back.");
    expect(redriveText([{ outcome: "redriven" }, { outcome: "not_found" }, { outcome: "redriven" }])).toBe(
      "2 dead letters put back; 1 no longer dead (already redriven or removed).",
    );
  });
});
