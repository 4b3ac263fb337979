'use strict';

const crypto = require('crypto');

const { apiUrl } = require('../lib/api');
const { canonicalJson } = require('../lib/events');

const JSON_EXAMPLE = '{"invoice_id": "inv_1001", "amount_cents": 4200}';

const invalidPayload = (z, message) =>
  new z.errors.Error(`${message} Enter a JSON object, for example ${JSON_EXAMPLE}.`, 'invalid_payload', 400);

// A JSON object from a field: an object as it is (a key/value field), a string parsed as JSON text.
const jsonObject = (z, value, label) => {
  if (value === undefined || value === null || value === '') {
    return {};
  }
  let parsed = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch (error) {
      throw invalidPayload(z, `${label} is not valid JSON (${error.message}).`);
    }
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    const kind = Array.isArray(parsed) ? 'an array' : parsed === null ? 'null' : `a ${typeof parsed}`;
    throw invalidPayload(z, `${label} must be a JSON object, not ${kind}.`);
  }
  return parsed;
};

// The event's payload: the JSON text's object, with the key/value pairs on top (they win on a shared key).
const payloadOf = (z, inputData) => ({
  ...jsonObject(z, inputData.payload_json, 'Payload (JSON)'),
  ...jsonObject(z, inputData.payload, 'Payload'),
});

// The Idempotency-Key: one event per step, however often Zapier runs that step again.
//
// Zapier gives an app no id of a Zap run or of a step's attempt: bundle.meta holds the Zap's id (bundle.meta.zap.id,
// the one identifier there, the same for every run of the Zap) and flags such as isLoadingSample. What Zapier does keep
// across its retries of one step (a ThrottledError's retry, Autoreplay, a replay from the Zap history) is the step's
// input: the same values, mapped from the same run's earlier steps. So the key is a SHA-256 of the Zap's id and of
// exactly what the step sends (source, event_type, the payload in canonical JSON), plus the optional Deduplication Key
// field: a retry sends the same key, and the API answers with the first attempt's answer (the same event_id) instead of
// storing a second event. Another body never reuses a key, so the API's 422 for a reused key cannot happen. The cost:
// two runs of one Zap with the very same values also store one event (the API remembers a key as long as its event, 30
// days by default); mapping a value unique to the triggering item (its id) into Deduplication Key keeps such runs
// apart.
const idempotencyKey = (bundle, body) => {
  const zapId = (bundle.meta && bundle.meta.zap && bundle.meta.zap.id) || null;
  const dedupeKey = bundle.inputData.dedupe_key || null;
  const material = canonicalJson(['triggers-api zapier send_event v1', zapId, dedupeKey, body]);
  return `zapier-${crypto.createHash('sha256').update(material).digest('hex')}`;
};

const perform = async (z, bundle) => {
  const body = {
    source: String(bundle.inputData.source || '').trim(),
    event_type: String(bundle.inputData.event_type || '').trim(),
    payload: payloadOf(z, bundle.inputData),
  };
  const response = await z.request({
    url: apiUrl(z, bundle, '/v1/events'),
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Idempotency-Key': idempotencyKey(bundle, body) },
    body,
  });
  // A retry of this step gets the first attempt's answer (the same event_id; 201, or 200 where the API says so).
  return response.data;
};

// The API's own rules (openapi.yaml, Source and EventType): it answers 400 for anything else.
const SOURCE_HELP =
  "A name or a URI reference: 1-256 letters, digits, `-._~:/?[]@!$&'()+,;=` and `%` escapes (no `#`, no `*`).";
const EVENT_TYPE_HELP = '1-128 letters, digits and `._:/-`, starting with a letter or digit.';

module.exports = {
  key: 'send_event',
  noun: 'Event',
  display: {
    label: 'Send Event',
    description: 'Creates an event in the Triggers API, once per Zap step however often Zapier retries it.',
  },
  operation: {
    inputFields: [
      {
        key: 'source',
        label: 'Source',
        type: 'string',
        required: true,
        helpText: `The system the event comes from, for example \`billing\`. ${SOURCE_HELP}`,
      },
      {
        key: 'event_type',
        label: 'Event Type',
        type: 'string',
        required: true,
        helpText: `What happened, for example \`invoice.paid\`. ${EVENT_TYPE_HELP}`,
      },
      {
        key: 'payload',
        label: 'Payload',
        dict: true,
        required: false,
        helpText:
          "The event's payload as key/value pairs (each value is sent as text). For numbers, booleans or nested " +
          'objects use Payload (JSON); both together are merged, these pairs winning on a shared key.',
      },
      {
        key: 'payload_json',
        label: 'Payload (JSON)',
        type: 'code',
        required: false,
        helpText:
          `The event's payload as a JSON object, for example \`${JSON_EXAMPLE}\`. ` +
          'The whole request is at most 256 KiB.',
      },
      {
        key: 'dedupe_key',
        label: 'Deduplication Key',
        type: 'string',
        required: false,
        helpText:
          "Optional. Zapier's retries of this step never store a second event. Runs of this Zap that send the very " +
          'same source, type and payload are also stored once, unless you map here a value unique to the triggering ' +
          'item (such as its ID).',
      },
    ],
    perform,
    sample: {
      event_id: '0f8fad5b-d9cb-469f-a165-70867728950e',
      status: 'pending',
      created_at: '2026-11-22T10:00:00.000000Z',
      request_id: '5f0c6a0e-2b7e-4a55-9b0a-3d1c1f1f7c11',
    },
    outputFields: [
      { key: 'event_id', label: 'Event ID', type: 'string' },
      { key: 'status', label: 'Status', type: 'string' },
      { key: 'created_at', label: 'Created At', type: 'datetime' },
      { key: 'request_id', label: 'Request ID', type: 'string' },
    ],
  },
};
