'use strict';

// Where the connection's stage is, and how an answer of the Triggers API turns into an error Zapier shows.
//
// The API answers every error as application/problem+json: {type, title, status, detail, request_id}
// (openapi.yaml, components.schemas.Problem). The user sees title and detail; the request id finds the request
// in the stage's logs.

const URL_HELP =
  'Enter the base URL of your Triggers API stage, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com/dev';

// The stage's base URL from the connection, without trailing slashes or a trailing /v1 (the app adds /v1/...).
const baseUrl = (z, bundle) => {
  const raw = String((bundle.authData && bundle.authData.api_url) || '').trim();
  const base = raw.replace(/\/+$/, '').replace(/\/v1$/, '');
  let parsed;
  try {
    parsed = new URL(base);
  } catch (_error) {
    parsed = null;
  }
  if (!parsed || !['http:', 'https:'].includes(parsed.protocol)) {
    throw new z.errors.Error(`The API URL "${raw}" is not an http(s) URL. ${URL_HELP}.`, 'invalid_api_url', 400);
  }
  return base;
};

// `path` starts with /v1/...; query parameters go in the request's `params`.
const apiUrl = (z, bundle, path) => `${baseUrl(z, bundle)}${path}`;

// The problem document of an error answer, or null when the body is not one (a proxy's page, a wrong URL).
const problemOf = (response) => {
  const data = response.data;
  if (data && typeof data === 'object' && !Array.isArray(data) && (data.title || data.detail)) {
    return data;
  }
  return null;
};

const retryAfterSeconds = (response) => {
  const value = parseInt(response.headers.get('retry-after'), 10);
  return Number.isNaN(value) ? null : value;
};

// A one-line description of an error answer: "<title> (HTTP <status>): <detail> [request id <id>]".
const describe = (response) => {
  const problem = problemOf(response);
  const requestId = (problem && problem.request_id) || response.headers.get('x-request-id') || 'none given';
  if (problem) {
    const title = problem.title || `HTTP ${response.status}`;
    const detail = problem.detail || '';
    return `${title} (HTTP ${response.status}): ${detail} [request id ${requestId}]`;
  }
  // Not a problem document: the URL does not lead to the API (API Gateway answers 403 "Missing Authentication
  // Token" for an unknown path, e.g. a base URL without its stage) or something in between answered.
  const content = String(response.content || '').slice(0, 200);
  return (
    `HTTP ${response.status} from ${response.request.url}, which is not an answer of the Triggers API` +
    ` (${content || 'empty body'}). Check the API URL of the connection: ${URL_HELP}.`
  );
};

// Throws the error Zapier should see for an error answer (status >= 400); returns nothing for any other answer.
// 429, and 503 with Retry-After, are retried by Zapier after the given delay (ThrottledError): creates are safe to
// retry (they send an Idempotency-Key). Every other answer is a z.errors.Error carrying the problem's text, type
// and status.
const throwForProblem = (z, response) => {
  if (response.status < 400) {
    return;
  }
  const message = describe(response);
  const retryAfter = retryAfterSeconds(response);
  if (response.status === 429 || (response.status === 503 && retryAfter !== null)) {
    throw new z.errors.ThrottledError(message, retryAfter === null ? undefined : retryAfter);
  }
  const problem = problemOf(response);
  if (response.status === 401) {
    throw new z.errors.Error(
      `The Triggers API did not accept the API key. ${message}`,
      (problem && problem.type) || 'unauthorized',
      401,
    );
  }
  throw new z.errors.Error(message, (problem && problem.type) || `http_${response.status}`, response.status);
};

module.exports = { apiUrl, baseUrl, describe, problemOf, throwForProblem };
