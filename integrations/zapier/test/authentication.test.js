'use strict';

// The connection test against a stage (TRIGGERS_API_URL, TRIGGERS_API_KEY, and TRIGGERS_SENDER_API_KEY: a key of the
// same tenant with the `events:write` scope only).

const { App, api, appTester, errorDetails, rejection, stageAuthData } = require('./support');

describe('authentication, on the stage', () => {
  let authData;
  beforeAll(() => {
    authData = stageAuthData();
  });

  it("passes with a good key, answering the key's tenant for the connection's label", async () => {
    const result = await appTester(App.authentication.test, { authData });
    const expected = await api(authData, 'GET', '/v1/key');
    expect(result.tenant).toBe(expected.data.tenant);
    const label = await appTester(App.authentication.connectionLabel, { authData, inputData: result });
    expect(label).toBe(`${result.tenant} at ${new URL(authData.api_url).host}`);
  });

  it('passes with a key that may only send events (what Send Event needs)', async () => {
    const sender = process.env.TRIGGERS_SENDER_API_KEY;
    expect(sender).toMatch(/^trg_/);
    const result = await appTester(App.authentication.test, { authData: { ...authData, api_key: sender } });
    expect(result.scopes).toEqual(['events:write']);
  });

  it("fails with a bad key, saying what the API said (the problem's detail and request id)", async () => {
    const badKey = { ...authData, api_key: 'trg_not-a-key-of-this-stage' };
    const expected = await api(badKey, 'GET', '/v1/key');
    expect(expected.status).toBe(401);

    const error = errorDetails(await rejection(appTester(App.authentication.test, { authData: badKey })));
    expect(error.name).toBe('AppError');
    expect(error.status).toBe(401);
    expect(error.code).toBe(expected.data.type);
    expect(error.message).toContain('did not accept the API key');
    expect(error.message).toContain(expected.data.detail);
    expect(error.message).toMatch(/\[request id [^\]\s]+\]$/);
  });
});
