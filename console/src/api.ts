// The API client: openapi-fetch over the types openapi-typescript generates from openapi.yaml (npm run
// console:types), so a changed contract fails `tsc` here, not a page in front of a tenant.

import createClient from "openapi-fetch";
import type { components, paths } from "./generated/api";
import { type Problem, problemFrom } from "./view";

export type Schemas = components["schemas"];
export type Client = ReturnType<typeof createClient<paths>>;

/** A client that sends `key` as X-API-Key on every call: a header, never a query parameter, so no URL, proxy log or
 * browser history ever holds it. */
export function apiClient(baseUrl: string, key: string): Client {
  return createClient<paths>({ baseUrl: baseUrl.replace(/\/+$/, ""), headers: { "X-API-Key": key } });
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(`${problem.title}: ${problem.detail}`);
  }
}

interface Outcome<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The body of a successful call, or an ApiError holding the API's problem (and its request id). A network failure
 * (the API down, CORS refused) is an ApiError of status 0. */
export async function expect<T>(call: Promise<Outcome<T>>): Promise<T> {
  let outcome: Outcome<T>;
  try {
    outcome = await call;
  } catch {
    throw new ApiError(0, problemFrom(0, undefined, null));
  }
  const { data, error, response } = outcome;
  if (response.ok && data !== undefined) return data;
  throw new ApiError(response.status, problemFrom(response.status, error, response.headers.get("X-Request-ID")));
}
