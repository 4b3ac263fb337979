'use strict';

const { apiUrl, throwForProblem } = require('../lib/api');
const { asItem, matches, patternList, singleExactValue } = require('../lib/events');

const PAGE_SIZE = 50; // the API's default page size (limit 1-100)
const MAX_PAGES = 4; // performList reads at most this many pages to fill a page of matching events

const filterOf = (bundle) => ({
  sources: patternList(bundle.inputData.sources),
  event_types: patternList(bundle.inputData.event_types),
});

// Subscription names are 1-128 printable ASCII characters; the Zap's id tells an operator whose it is.
const subscriptionName = (bundle) => {
  const zapId = bundle.meta && bundle.meta.zap && bundle.meta.zap.id;
  const name = `zapier ${zapId ? `zap ${zapId}` : 'new_event'}`;
  return name.replace(/[^\x20-\x7E]/g, '?').slice(0, 128);
};

// Turning the Zap on: a push subscription whose deliveries are POSTed to Zapier's hook URL, signed as Standard
// Webhooks (webhook-id, webhook-timestamp, webhook-signature) with the `secret` of this answer. The whole answer
// becomes bundle.subscribeData (subscription_id, secret, filter, ...).
const performSubscribe = async (z, bundle) => {
  const response = await z.request({
    url: apiUrl(z, bundle, '/v1/subscriptions'),
    method: 'POST',
    body: {
      name: subscriptionName(bundle),
      filter: filterOf(bundle),
      delivery: { mode: 'push', url: bundle.targetUrl },
    },
  });
  return response.data;
};

// Turning the Zap off. A subscription that is already gone (404) is what was asked for.
const performUnsubscribe = async (z, bundle) => {
  const subscriptionId = bundle.subscribeData && bundle.subscribeData.subscription_id;
  if (!subscriptionId) {
    throw new z.errors.Error(
      'This Zap has no Triggers API subscription to delete (no subscription_id in its subscribe data).',
      'missing_subscription_id',
      400,
    );
  }
  const response = await z.request({
    url: apiUrl(z, bundle, `/v1/subscriptions/${encodeURIComponent(subscriptionId)}`),
    method: 'DELETE',
    skipThrowForStatus: true,
  });
  if (response.status === 404) {
    return { subscription_id: subscriptionId, deleted: true };
  }
  throwForProblem(z, response);
  return response.data;
};

// One push delivery: the body is the event itself.
const perform = (z, bundle) => {
  let event = bundle.cleanedRequest;
  if ((!event || typeof event !== 'object') && bundle.rawRequest && bundle.rawRequest.content) {
    try {
      event = JSON.parse(bundle.rawRequest.content);
    } catch (_error) {
      event = null;
    }
  }
  if (!event || typeof event !== 'object' || typeof event.event_id !== 'string') {
    throw new z.errors.Error(
      'The request Zapier received is not a Triggers API event (a JSON object with an event_id).',
      'not_an_event',
      400,
    );
  }
  return [asItem(event)];
};

const pageSize = (bundle) => {
  const limit = bundle.meta && Number(bundle.meta.limit);
  return limit >= 1 ? Math.min(Math.floor(limit), 100) : PAGE_SIZE;
};

// Samples in the Zap editor, and the polling fallback: the newest events, newest first, that the trigger's filter
// matches. One exact source or event type is filtered by the API (a query parameter); prefixes and several values
// are filtered here.
const performList = async (z, bundle) => {
  const filter = filterOf(bundle);
  const wanted = pageSize(bundle);
  const params = { limit: wanted };
  const source = singleExactValue(filter.sources);
  const eventType = singleExactValue(filter.event_types);
  if (source) {
    params.source = source;
  }
  if (eventType) {
    params.event_type = eventType;
  }
  const items = [];
  for (let page = 0; page < MAX_PAGES && items.length < wanted; page += 1) {
    const response = await z.request({ url: apiUrl(z, bundle, '/v1/events'), method: 'GET', params });
    const events = (response.data && response.data.events) || [];
    for (const event of events) {
      if (matches(event.source, filter.sources) && matches(event.event_type, filter.event_types)) {
        items.push(asItem(event));
      }
    }
    const next = response.data && response.data.next_cursor;
    if (!next) {
      break;
    }
    params.cursor = next;
  }
  return items.slice(0, wanted);
};

const PATTERN_HELP = 'Exact values, or prefixes ending in `*` (`invoice.*`). Leave empty for every value. At most 20.';

module.exports = {
  key: 'new_event',
  noun: 'Event',
  display: {
    label: 'New Event',
    description: 'Triggers at once when an event is created in the Triggers API (pushed to Zapier, signed).',
  },
  operation: {
    type: 'hook',
    inputFields: [
      {
        key: 'sources',
        label: 'Sources',
        type: 'string',
        list: true,
        required: false,
        helpText: `Only events from these sources (for example \`billing\`). ${PATTERN_HELP}`,
      },
      {
        key: 'event_types',
        label: 'Event Types',
        type: 'string',
        list: true,
        required: false,
        helpText: `Only events of these types (for example \`invoice.paid\` or \`invoice.*\`). ${PATTERN_HELP}`,
      },
    ],
    performSubscribe,
    performUnsubscribe,
    perform,
    performList,
    sample: {
      id: '0f8fad5b-d9cb-469f-a165-70867728950e',
      event_id: '0f8fad5b-d9cb-469f-a165-70867728950e',
      source: 'billing',
      event_type: 'invoice.paid',
      payload: { invoice_id: 'inv_1001', amount_cents: 4200 },
      status: 'pending',
      created_at: '2026-11-22T10:00:00.000000Z',
      acknowledged_at: null,
      expires_at: '2026-12-22T10:00:00.000000Z',
    },
    outputFields: [
      { key: 'event_id', label: 'Event ID', type: 'string' },
      { key: 'source', label: 'Source', type: 'string' },
      { key: 'event_type', label: 'Event Type', type: 'string' },
      { key: 'status', label: 'Status', type: 'string' },
      { key: 'created_at', label: 'Created At', type: 'datetime' },
      { key: 'acknowledged_at', label: 'Acknowledged At', type: 'datetime' },
      { key: 'expires_at', label: 'Expires At', type: 'datetime' },
    ],
  },
};
