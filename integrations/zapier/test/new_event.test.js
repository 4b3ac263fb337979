'use strict';

// The New Event trigger against a stage (TRIGGERS_API_URL, TRIGGERS_API_KEY): its samples (performList, from
// GET /v1/events) and its REST hook round trip (a push subscription delivering to a server on 127.0.0.1, as it
// would to Zapier's hook URL).

const { Webhook } = require('standardwebhooks');

const { App, api, appTester, stageAuthData, startServer, unique, waitFor } = require('./support');

const operation = App.triggers.new_event.operation;
const PUSH_WAIT_MS = 30000;

describe('New Event, on the stage', () => {
  let authData;
  beforeAll(() => {
    authData = stageAuthData();
  });

  const createEvent = async (source, eventType, payload = {}) => {
    const created = await api(authData, 'POST', '/v1/events', { source, event_type: eventType, payload });
    expect(created.status).toBe(201);
    return created.data.event_id;
  };

  it('lists the newest events first, each with id = event_id, as the filter says', async () => {
    const source = unique('zapier-list');
    const ids = [];
    for (const eventType of ['order.created', 'invoice.paid', 'order.shipped']) {
      ids.push(await createEvent(source, eventType, { n: ids.length }));
    }
    await createEvent(unique('zapier-other'), 'order.created'); // another source: never listed below

    const all = await appTester(operation.performList, { authData, inputData: { sources: [source] }, meta: {} });
    expect(all.map((item) => item.id)).toEqual([...ids].reverse());
    all.forEach((item) => {
      expect(item.id).toBe(item.event_id);
      expect(item.source).toBe(source);
    });
    const times = all.map((item) => item.created_at);
    expect(times).toEqual([...times].sort().reverse());

    const orders = await appTester(operation.performList, {
      authData,
      inputData: { sources: [source], event_types: ['order.*'] },
      meta: { limit: 10 },
    });
    expect(orders.map((item) => item.id)).toEqual([ids[2], ids[0]]);
  });

  it('subscribes, gets a signed push of a matching event, performs it and unsubscribes', async () => {
    const source = unique('zapier-hook');
    const receiver = await startServer(() => ({ status: 200, body: { status: 'success' } }));
    let subscribeData;
    try {
      subscribeData = await appTester(operation.performSubscribe, {
        authData,
        inputData: { sources: [source], event_types: ['invoice.*'] },
        targetUrl: `${receiver.url}/hooks/standard/1234/abcd`,
        meta: { zap: { id: unique('zap') } },
      });
      expect(subscribeData.subscription_id).toEqual(expect.any(String));
      expect(subscribeData.secret).toMatch(/^whsec_/);

      const unmatched = await createEvent(source, 'order.created'); // outside the filter: never pushed
      const eventId = await createEvent(source, 'invoice.paid', { invoice_id: 'inv_1001' });

      const push = await waitFor(() => receiver.requests.find((request) => request.body.includes(eventId)), {
        timeoutMs: PUSH_WAIT_MS,
        what: `the push of event ${eventId} to ${receiver.url}`,
      });
      expect(push.method).toBe('POST');
      expect(push.path).toBe('/hooks/standard/1234/abcd');
      for (const header of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
        expect(push.headers[header]).toEqual(expect.any(String));
      }
      // Signed with the subscription's secret, as Standard Webhooks' own library checks it.
      new Webhook(subscribeData.secret).verify(push.body, push.headers);
      const body = JSON.parse(push.body);
      expect(body.event_id).toBe(eventId);

      const items = await appTester(operation.perform, {
        authData,
        inputData: { sources: [source], event_types: ['invoice.*'] },
        subscribeData,
        cleanedRequest: body,
        rawRequest: { content: push.body, headers: push.headers },
      });
      expect(items).toEqual([{ ...body, id: eventId }]);
      expect(items[0]).toMatchObject({ source, event_type: 'invoice.paid', payload: { invoice_id: 'inv_1001' } });
      expect(receiver.requests.filter((request) => request.body.includes(unmatched))).toEqual([]);
    } finally {
      if (subscribeData && subscribeData.subscription_id) {
        await appTester(operation.performUnsubscribe, { authData, subscribeData });
      }
      await receiver.close();
    }
    const gone = await api(authData, 'GET', `/v1/subscriptions/${subscribeData.subscription_id}`);
    expect(gone.status).toBe(404);
    // Unsubscribing twice (Zapier may retry it) is fine: the subscription is already gone.
    await appTester(operation.performUnsubscribe, { authData, subscribeData });
  });
});
