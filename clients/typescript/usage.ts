/**
 * How a TypeScript program uses the Triggers API: openapi-fetch, typed by the `paths` that openapi-typescript
 * generates from openapi.yaml. The types are generated, not committed:
 *
 *   npx openapi-typescript openapi.yaml --empty-objects-unknown -o build/clients/typescript/schema.d.ts
 *   npx tsc -p clients/typescript          # type-checks this file (tests/stage does both)
 *
 * (`--empty-objects-unknown`: a payload is any JSON object, as `type: object` means in JSON Schema; without the
 * flag openapi-typescript would type it as an object that can hold nothing.)
 *
 * Every documented error answer is a `Problem` (application/problem+json); the helpers below turn the ones a
 * caller cannot handle into a `ProblemError`.
 */
import createClient from "openapi-fetch";
import type { components, paths } from "../../build/clients/typescript/schema";

export type NewEvent = components["schemas"]["NewEvent"];
export type Event = components["schemas"]["Event"];
export type Problem = components["schemas"]["Problem"];
export type TriggersClient = ReturnType<typeof createClient<paths>>;

/** A client for one API key, e.g. triggersClient("http://127.0.0.1:3000", "trg_..."). */
export function triggersClient(baseUrl: string, apiKey: string): TriggersClient {
  return createClient<paths>({ baseUrl, headers: { "X-API-Key": apiKey } });
}

export class ProblemError extends Error {
  constructor(readonly problem: Problem) {
    super(`${problem.status} ${problem.title}: ${problem.detail} (request ${problem.request_id})`);
  }
}

/** Creates an event and returns its id; with an idempotency key, a retry returns the same id. */
export async function createEvent(client: TriggersClient, event: NewEvent, idempotencyKey?: string): Promise<string> {
  const result = await client.POST("/v1/events", {
    params: { header: idempotencyKey === undefined ? {} : { "Idempotency-Key": idempotencyKey } },
    body: event,
  });
  if (result.error) throw new ProblemError(result.error);
  return result.data.event_id;
}

export async function getEvent(client: TriggersClient, eventId: string): Promise<Event | undefined> {
  const result = await client.GET("/v1/events/{event_id}", { params: { path: { event_id: eventId } } });
  if (result.error) {
    if (result.error.status === 404) return undefined;
    throw new ProblemError(result.error);
  }
  // The operation also answers the CloudEvents form (Accept: application/cloudevents+json); this client asks for
  // JSON, the default, so the other member of the union is never what it gets.
  if (!("event_id" in result.data)) throw new Error("expected the JSON form of the event");
  const { request_id: _requestId, ...event } = result.data;
  return event;
}

/** Every pending event, oldest first, page by page: only a null `next_cursor` means the end. */
export async function pendingEvents(client: TriggersClient, pageSize = 50): Promise<Event[]> {
  const events: Event[] = [];
  let cursor: string | undefined;
  do {
    const query = cursor === undefined ? { limit: pageSize } : { limit: pageSize, cursor };
    const result = await client.GET("/v1/inbox", { params: { query } });
    if (result.error) throw new ProblemError(result.error);
    events.push(...result.data.events);
    cursor = result.data.next_cursor ?? undefined;
  } while (cursor !== undefined);
  return events;
}

/** Acknowledges an event: true if this call did, false if it was acknowledged before (409). */
export async function acknowledge(client: TriggersClient, eventId: string): Promise<boolean> {
  const result = await client.POST("/v1/events/{event_id}/ack", { params: { path: { event_id: eventId } } });
  if (result.error) {
    if (result.error.status === 409) return false;
    throw new ProblemError(result.error);
  }
  const acknowledgedAt: string = result.data.acknowledged_at;
  return acknowledgedAt.length > 0;
}

export async function deleteEvent(client: TriggersClient, eventId: string): Promise<void> {
  const result = await client.DELETE("/v1/events/{event_id}", { params: { path: { event_id: eventId } } });
  if (result.error) throw new ProblemError(result.error);
}

/** The lifecycle tests/stage runs with the Python client, in TypeScript. */
export async function lifecycle(client: TriggersClient): Promise<void> {
  const body: NewEvent = { source: "billing", event_type: "invoice.paid", payload: { invoice_id: "inv_1001" } };
  const eventId = await createEvent(client, body, "order-1001");
  const pending = await pendingEvents(client, 10);
  if (!pending.some((event) => event.event_id === eventId)) throw new Error("the new event is not pending");
  const first = await acknowledge(client, eventId);
  const again = await acknowledge(client, eventId);
  if (!first || again) throw new Error("an event is acknowledged exactly once");
  await deleteEvent(client, eventId);
  if ((await getEvent(client, eventId)) !== undefined) throw new Error("a deleted event is gone");
}

/** What the generated types refuse: each of these calls would be answered 400 or 405 by the API. */
export async function rejectedByTheTypes(client: TriggersClient): Promise<void> {
  // @ts-expect-error `source` is required
  await client.POST("/v1/events", { body: { event_type: "invoice.paid", payload: {} } });
  // @ts-expect-error `limit` is a number
  await client.GET("/v1/inbox", { params: { query: { limit: "10" } } });
  // @ts-expect-error events have no PUT
  await client.PUT("/v1/events/{event_id}", { params: { path: { event_id: "0f8fad5b" } } });
  // @ts-expect-error `payload` must be an object
  await client.POST("/v1/events", { body: { source: "billing", event_type: "invoice.paid", payload: "text" } });
}
