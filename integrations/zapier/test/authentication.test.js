'use strict';

// The connection test against a stage (TRIGGERS_API_URL, TRIGGERS_API_KEY).

const { App, api, appTester, errorDetails, rejection, stageAuthData } = require('./support');

describe('authentication, on the stage', () => {
  let authData;
  beforeAll(() => {
    authData = stageAuthData();
  });

  it('passes with a good key', async () => {
    const result = await appTester(App.authentication.test, { authData });
    expect(Array.isArray(result.subscriptions)).toBe(true);
  });

  it("fails with a bad key, saying what the API said (the problem's detail and request id)", async () => {
    const badKey = { ...authData, api_key: 'trg_not-a-key-of-this-stage' };
    const expected = await api(badKey, 'GET', '/v1/subscriptions?limit=1');
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
