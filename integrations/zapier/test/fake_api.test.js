'use strict';

// What the app sends, and what it makes of the API's answers, against a fake API on 127.0.0.1: the answers a
// stage gives rarely or never on demand (429, 503, a gateway's page) and the checks made before any request.
// No stage needed.

const { App, appTester, errorDetails, rejection, startServer } = require('./support');

const API_KEY = 'trg_fake_key_for_tests';
const REQUEST_ID = '5f0c6a0e-2b7e-4a55-9b0a-3d1c1f1f7c11';

const problem = (status, title, detail, type, headers = {}) => ({
  status,
  headers: { 'Content-Type': 'application/problem+json', 'X-Request-ID': REQUEST_ID, ...headers },
  body: { type, title, status, detail, request_id: REQUEST_ID },
});

const event = (n, source, eventType) => ({
  event_id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  source,
  event_type: eventType,
  payload: { n },
  status: 'pending',
  created_at: `2026-11-22T10:00:${String(n).padStart(2, '0')}.000000Z`,
  acknowledged_at: null,
  expires_at: '2026-12-22T10:00:00.000000Z',
});

describe('against a fake API', () => {
  let server;
  let answer; // what the fake API answers next: a function of the request
  const bundle = (extra = {}) => ({ authData: { api_url: server.url, api_key: API_KEY }, inputData: {}, ...extra });
  const requests = () => server.requests;

  beforeAll(async () => {
    server = await startServer((request) => answer(request));
  });
  afterAll(() => server.close());
  beforeEach(() => {
    server.requests.length = 0;
    answer = () => ({ status: 200, headers: { 'Content-Type': 'application/json' }, body: {} });
  });

  const keyInfo = { tenant: 'acme', key_id: '3f2a9c1d0b7e', scopes: ['events:write'], request_id: REQUEST_ID };

  it('sends the API key in X-API-Key and tests the connection with GET /v1/key', async () => {
    answer = () => ({ status: 200, body: keyInfo });
    const result = await appTester(App.authentication.test, bundle());
    expect(result).toEqual(keyInfo);
    expect(requests()).toHaveLength(1);
    expect(requests()[0].method).toBe('GET');
    expect(requests()[0].path).toBe('/v1/key');
    expect(requests()[0].headers['x-api-key']).toBe(API_KEY);
  });

  it('takes the base URL with a trailing slash or /v1 as well', async () => {
    answer = () => ({ status: 200, body: keyInfo });
    const authData = { api_url: `${server.url}/v1/`, api_key: API_KEY };
    await appTester(App.authentication.test, { authData });
    expect(requests()[0].path).toBe('/v1/key');
  });

  it('labels the connection with the tenant the test answered and the stage, never the key', async () => {
    const label = await appTester(App.authentication.connectionLabel, bundle({ inputData: keyInfo }));
    expect(label).toBe(`acme at ${new URL(server.url).host}`);
    expect(label).not.toContain(API_KEY);
  });

  it('fails the connection test with the problem detail and request id on 401', async () => {
    answer = () =>
      problem(401, 'Unauthorized', 'A valid API key is required in the X-API-Key header.', '/problems/unauthorized');
    const error = errorDetails(await rejection(appTester(App.authentication.test, bundle())));
    expect(error.name).toBe('AppError');
    expect(error.status).toBe(401);
    expect(error.code).toBe('/problems/unauthorized');
    expect(error.message).toContain('did not accept the API key');
    expect(error.message).toContain('A valid API key is required in the X-API-Key header.');
    expect(error.message).toContain(REQUEST_ID);
  });

  it('surfaces title, detail and request id of a 4xx problem', async () => {
    answer = () => problem(400, 'Bad Request', "'Not valid!' does not match pattern", '/problems/bad-request');
    const inputData = { source: 'Not valid!', event_type: 'invoice.paid' };
    const error = errorDetails(
      await rejection(appTester(App.creates.send_event.operation.perform, bundle({ inputData }))),
    );
    expect(error.name).toBe('AppError');
    expect(error.status).toBe(400);
    expect(error.code).toBe('/problems/bad-request');
    expect(error.message).toBe(
      `Bad Request (HTTP 400): 'Not valid!' does not match pattern [request id ${REQUEST_ID}]`,
    );
  });

  it('throws a ThrottledError with Retry-After on 429', async () => {
    answer = () =>
      problem(429, 'Too Many Requests', 'This API key has made too many requests.', '/problems/rate-limited', {
        'Retry-After': '17',
      });
    const inputData = { source: 'billing', event_type: 'invoice.paid' };
    const error = errorDetails(
      await rejection(appTester(App.creates.send_event.operation.perform, bundle({ inputData }))),
    );
    expect(error.name).toBe('ThrottledError');
    expect(error.delay).toBe(17);
    expect(error.message).toContain('This API key has made too many requests.');
    expect(error.message).toContain(REQUEST_ID);
  });

  it('throws a ThrottledError on 429 without Retry-After too', async () => {
    answer = () => problem(429, 'Too Many Requests', 'Slow down.', '/problems/rate-limited');
    const error = errorDetails(await rejection(appTester(App.authentication.test, bundle())));
    expect(error.name).toBe('ThrottledError');
    expect(error.delay).toBeUndefined();
  });

  it('throws a ThrottledError on 503 with Retry-After (storage throttling: retry later)', async () => {
    answer = () =>
      problem(503, 'Service Unavailable', 'Storage is unavailable; retry later.', '/problems/service-unavailable', {
        'Retry-After': '2',
      });
    const error = errorDetails(await rejection(appTester(App.authentication.test, bundle())));
    expect(error.name).toBe('ThrottledError');
    expect(error.delay).toBe(2);
  });

  it('points at the API URL when the answer is not the API (a gateway page for an unknown path)', async () => {
    answer = () => ({
      status: 403,
      headers: { 'Content-Type': 'application/json' },
      body: { message: 'Missing Authentication Token' },
    });
    const error = errorDetails(await rejection(appTester(App.authentication.test, bundle())));
    expect(error.status).toBe(403);
    expect(error.message).toContain('Missing Authentication Token');
    expect(error.message).toContain('Check the API URL');
  });

  it('refuses an API URL that is not http(s) before any request', async () => {
    const authData = { api_url: 'abc.execute-api.eu-west-1.amazonaws.com/dev', api_key: API_KEY };
    const error = errorDetails(await rejection(appTester(App.authentication.test, { authData })));
    expect(error.code).toBe('invalid_api_url');
    expect(error.message).toContain('is not an http(s) URL');
    expect(requests()).toHaveLength(0);
  });

  it.each([
    ['{"invoice_id": ', 'Payload (JSON) is not valid JSON'],
    ['[1, 2]', 'Payload (JSON) must be a JSON object, not an array'],
    ['"text"', 'Payload (JSON) must be a JSON object, not a string'],
  ])('refuses the payload JSON %s before any request', async (payloadJson, expected) => {
    const inputData = { source: 'billing', event_type: 'invoice.paid', payload_json: payloadJson };
    const error = errorDetails(
      await rejection(appTester(App.creates.send_event.operation.perform, bundle({ inputData }))),
    );
    expect(error.code).toBe('invalid_payload');
    expect(error.message).toContain(expected);
    expect(error.message).toContain('Enter a JSON object');
    expect(requests()).toHaveLength(0);
  });

  it('sends an Idempotency-Key made of the Zap and the values, whatever the order of their keys', async () => {
    answer = () => ({
      status: 201,
      body: { event_id: event(1).event_id, status: 'pending', created_at: 'x', request_id: REQUEST_ID },
    });
    const send = (inputData, zapId) =>
      appTester(App.creates.send_event.operation.perform, bundle({ inputData, meta: { zap: { id: zapId } } }));
    const values = { source: 'billing', event_type: 'invoice.paid' };
    await send({ ...values, payload: { a: '1' }, payload_json: '{"b": {"y": 2, "x": 1}}' }, 'zap-1');
    await send({ ...values, payload_json: '{"b": {"x": 1, "y": 2}, "a": "1"}' }, 'zap-1');
    await send({ ...values, payload_json: '{"b": {"x": 1, "y": 2}, "a": "1"}' }, 'zap-2');
    await send({ ...values, payload_json: '{"b": {"x": 1, "y": 2}, "a": "1"}', dedupe_key: 'row-7' }, 'zap-2');
    await send({ ...values, payload_json: '{"a": "2"}' }, 'zap-2');

    expect(requests().map((r) => [r.method, r.path])).toEqual(Array(5).fill(['POST', '/v1/events']));
    const bodies = requests().map((r) => JSON.parse(r.body));
    expect(bodies[0]).toEqual({ ...values, payload: { a: '1', b: { x: 1, y: 2 } } });
    const keys = requests().map((r) => r.headers['idempotency-key']);
    keys.forEach((key) => expect(key).toMatch(/^zapier-[0-9a-f]{64}$/));
    expect(keys[1]).toBe(keys[0]); // the same values: a retry
    expect(new Set(keys.slice(1)).size).toBe(4); // another Zap, a deduplication key, another payload
  });

  it('subscribes a push subscription with the filter and the hook URL, and returns the whole answer', async () => {
    const subscription = {
      subscription_id: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
      name: 'zapier zap 42',
      secret: 'whsec_c2VjcmV0',
      request_id: REQUEST_ID,
    };
    answer = () => ({ status: 201, body: subscription });
    const result = await appTester(
      App.triggers.new_event.operation.performSubscribe,
      bundle({
        inputData: { sources: ['billing', 'billing', ' shop.* '], event_types: 'invoice.paid, invoice.void' },
        targetUrl: 'https://hooks.zapier.com/hooks/standard/1/abc',
        meta: { zap: { id: 42 } },
      }),
    );
    expect(result).toEqual(subscription);
    expect(JSON.parse(requests()[0].body)).toEqual({
      name: 'zapier zap 42',
      filter: { sources: ['billing', 'shop.*'], event_types: ['invoice.paid', 'invoice.void'] },
      delivery: { mode: 'push', url: 'https://hooks.zapier.com/hooks/standard/1/abc' },
    });
  });

  it('takes a 404 on unsubscribe as done, and fails on other errors', async () => {
    const subscribeData = { subscription_id: '7c9e6679-7425-40de-944b-e07fc1f90ae7' };
    const unsubscribe = App.triggers.new_event.operation.performUnsubscribe;
    answer = () => problem(404, 'Not Found', 'No subscription with this id.', '/problems/not-found');
    await expect(appTester(unsubscribe, bundle({ subscribeData }))).resolves.toEqual({
      ...subscribeData,
      deleted: true,
    });
    expect(requests()[0].method).toBe('DELETE');
    expect(requests()[0].path).toBe(`/v1/subscriptions/${subscribeData.subscription_id}`);

    answer = () => problem(500, 'Internal Server Error', 'Quote the request id.', '/problems/internal-error');
    const error = errorDetails(await rejection(appTester(unsubscribe, bundle({ subscribeData }))));
    expect(error.status).toBe(500);
    expect(error.message).toContain(REQUEST_ID);
  });

  it('lists with one exact value as a query parameter, filters prefixes itself and follows cursors', async () => {
    const pages = {
      first: { events: [event(6, 'billing', 'invoice.paid'), event(5, 'billing', 'refund.made')], next_cursor: 'c2' },
      c2: { events: [event(4, 'billing', 'invoice.void')], next_cursor: null },
    };
    answer = (request) => {
      const cursor = new URL(request.path, server.url).searchParams.get('cursor') || 'first';
      return { status: 200, body: { ...pages[cursor], request_id: REQUEST_ID } };
    };
    const items = await appTester(
      App.triggers.new_event.operation.performList,
      bundle({ inputData: { sources: ['billing'], event_types: ['invoice.*'] }, meta: { limit: 3 } }),
    );
    expect(items.map((item) => [item.id, item.event_id])).toEqual([
      [event(6).event_id, event(6).event_id],
      [event(4).event_id, event(4).event_id],
    ]);
    const queries = requests().map((r) => Object.fromEntries(new URL(r.path, server.url).searchParams));
    expect(queries).toEqual([
      { limit: '3', source: 'billing' },
      { limit: '3', source: 'billing', cursor: 'c2' },
    ]);
  });

  it('turns a pushed event into one item with id = event_id, and refuses anything else', async () => {
    const perform = App.triggers.new_event.operation.perform;
    const pushed = event(9, 'billing', 'invoice.paid');
    await expect(appTester(perform, bundle({ cleanedRequest: pushed }))).resolves.toEqual([
      { ...pushed, id: pushed.event_id },
    ]);
    await expect(appTester(perform, bundle({ rawRequest: { content: JSON.stringify(pushed) } }))).resolves.toEqual([
      { ...pushed, id: pushed.event_id },
    ]);
    const error = errorDetails(await rejection(appTester(perform, bundle({ cleanedRequest: { hello: 'world' } }))));
    expect(error.code).toBe('not_an_event');
  });
});
