'use strict';

// The Send Event action against a stage (TRIGGERS_API_URL, TRIGGERS_API_KEY): Zapier's retries of one step store
// one event.

const { App, api, appTester, stageAuthData, unique } = require('./support');

const perform = App.creates.send_event.operation.perform;

describe('Send Event, on the stage', () => {
  let authData;
  beforeAll(() => {
    authData = stageAuthData();
  });

  // One step of one Zap run: its input, and the bundle.meta Zapier sends with every attempt of it.
  const step = (source, zapId) => ({
    authData,
    inputData: {
      source,
      event_type: 'invoice.paid',
      payload: { invoice_id: 'inv_1001' },
      payload_json: '{"amount_cents": 4200, "lines": [{"sku": "a", "qty": 2}]}',
    },
    meta: { zap: { id: zapId }, isLoadingSample: false },
  });

  it('stores one event when Zapier runs the same step twice (a retry)', async () => {
    const source = unique('zapier-send');
    const bundle = step(source, unique('zap'));

    const first = await appTester(perform, bundle);
    const retry = await appTester(perform, JSON.parse(JSON.stringify(bundle)));

    expect(first.status).toBe('pending');
    expect(retry).toEqual({ ...first, request_id: retry.request_id }); // the original answer, replayed
    const stored = await api(authData, 'GET', `/v1/events/${first.event_id}`);
    expect(stored.status).toBe(200);
    expect(stored.data).toMatchObject({
      event_id: first.event_id,
      source,
      event_type: 'invoice.paid',
      payload: { invoice_id: 'inv_1001', amount_cents: 4200, lines: [{ sku: 'a', qty: 2 }] },
      created_at: first.created_at,
    });
  });

  it("leaves exactly one event of a retried step in the tenant's event list", async () => {
    const source = unique('zapier-send');
    const bundle = step(source, unique('zap'));
    const first = await appTester(perform, bundle);
    await appTester(perform, JSON.parse(JSON.stringify(bundle)));

    const listed = await api(authData, 'GET', `/v1/events?source=${encodeURIComponent(source)}`);
    expect(listed.status).toBe(200);
    expect(listed.data.events.map((event) => event.event_id)).toEqual([first.event_id]);
  });

  it('stores another event for another Zap sending the same values', async () => {
    const source = unique('zapier-send');
    const one = await appTester(perform, step(source, unique('zap')));
    const other = await appTester(perform, step(source, unique('zap')));
    expect(other.event_id).not.toBe(one.event_id);
    for (const created of [one, other]) {
      expect((await api(authData, 'GET', `/v1/events/${created.event_id}`)).status).toBe(200);
    }
  });
});
