'use strict';

// Helpers of the app's tests: the stage to test against, direct API calls (what the app is checked against),
// local HTTP servers (a fake API, a REST hook receiver) and unique names, so runs never see each other's events.

const crypto = require('crypto');
const http = require('http');

const zapier = require('zapier-platform-core');

const App = require('../index');

const appTester = zapier.createAppTester(App);

// The stage under test, from TRIGGERS_API_URL and TRIGGERS_API_KEY, as a connection's authData.
const stageAuthData = () => {
  const apiUrl = process.env.TRIGGERS_API_URL;
  const apiKey = process.env.TRIGGERS_API_KEY;
  if (!apiUrl || !apiKey) {
    throw new Error(
      'These tests run against a Triggers API stage: set TRIGGERS_API_URL (its base URL, e.g. ' +
        'http://127.0.0.1:3000) and TRIGGERS_API_KEY (a key of a tenant on it). ' +
        'tests/stage/test_zapier.py does both against the local stage.',
    );
  }
  return { api_url: apiUrl, api_key: apiKey };
};

// One request to the API without the app: {status, headers, data} (data: the parsed JSON body, or its text).
const api = async (authData, method, path, body) => {
  const headers = { 'X-API-Key': authData.api_key };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
  }
  const response = await fetch(`${authData.api_url.replace(/\/+$/, '')}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = text;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (_error) {
    // not JSON: keep the text
  }
  return { status: response.status, headers: response.headers, data };
};

const unique = (prefix) => `${prefix}-${Date.now().toString(36)}-${crypto.randomBytes(4).toString('hex')}`;

// The error a promise rejects with; fails when it resolves.
const rejection = async (promise) => {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail, and it succeeded');
};

// z.errors.Error and z.errors.ThrottledError carry JSON in their message ({message, code, status} and
// {message, delay}); anything else is its message alone.
const errorDetails = (error) => {
  try {
    return { name: error.name, ...JSON.parse(error.message) };
  } catch (_error) {
    return { name: error.name, message: error.message };
  }
};

// An HTTP server on 127.0.0.1, on a free port. `respond(request)` gives {status, headers, body} for each request
// ({method, path, headers, body}: the body as received, a string); every request is kept in `requests`.
const startServer = (respond = () => ({ status: 204 })) =>
  new Promise((resolve, reject) => {
    const requests = [];
    const server = http.createServer((incoming, outgoing) => {
      const chunks = [];
      incoming.on('data', (chunk) => chunks.push(chunk));
      incoming.on('end', () => {
        const request = {
          method: incoming.method,
          path: incoming.url,
          headers: incoming.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        requests.push(request);
        const answer = respond(request) || { status: 204 };
        const body =
          answer.body === undefined || typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
        outgoing.writeHead(answer.status, answer.headers || {});
        outgoing.end(body || '');
      });
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        requests,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });

// Polls `condition` every `intervalMs` until it returns something truthy (returned), or fails after `timeoutMs`.
const waitFor = async (condition, { timeoutMs, intervalMs = 250, what }) => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await condition();
    if (result) {
      return result;
    }
    if (Date.now() > deadline) {
      throw new Error(`waited ${timeoutMs / 1000} s for ${what}`);
    }
    await new Promise((done) => setTimeout(done, intervalMs));
  }
};

module.exports = { App, api, appTester, errorDetails, rejection, stageAuthData, startServer, unique, waitFor };
