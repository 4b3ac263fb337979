'use strict';

const { apiUrl, baseUrl } = require('./lib/api');

// GET /v1/key needs no scope, so a key made for one action (Send Event's `events:write` alone) connects too. A bad
// key answers 401 with a problem document, which the afterResponse middleware turns into an error quoting its detail.
const test = async (z, bundle) => {
  const response = await z.request({ url: apiUrl(z, bundle, '/v1/key'), method: 'GET' });
  return response.data;
};

// The tenant (from the test's answer, which Zapier hands over as inputData) and the stage, never the key: two
// connections to one stage differ by tenant, to two stages by host and path.
const connectionLabel = (z, bundle) => {
  const url = new URL(baseUrl(z, bundle));
  return `${bundle.inputData.tenant} at ${url.host}${url.pathname === '/' ? '' : url.pathname}`;
};

module.exports = {
  type: 'custom',
  fields: [
    {
      key: 'api_url',
      label: 'API URL',
      required: true,
      type: 'string',
      helpText:
        'The base URL of your Triggers API stage, without `/v1`: for example ' +
        '`https://abc123.execute-api.eu-west-1.amazonaws.com/dev` (`serverless info` prints it) or a custom domain.',
    },
    {
      key: 'api_key',
      label: 'API Key',
      required: true,
      type: 'password',
      helpText:
        'An API key of your tenant (it starts with `trg_`). Your operator creates one with ' +
        '`python -m triggers.cli.api_keys create`; it is shown only once.',
    },
  ],
  test,
  connectionLabel,
};
