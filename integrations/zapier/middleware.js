'use strict';

const { throwForProblem } = require('./lib/api');

// Every request carries the connection's API key (the API reads it from X-API-Key only; a key in the query
// string is refused).
const addApiKey = (request, z, bundle) => {
  request.headers = request.headers || {};
  if (bundle.authData && bundle.authData.api_key) {
    request.headers['X-API-Key'] = bundle.authData.api_key;
  }
  request.headers.Accept = request.headers.Accept || 'application/json';
  return request;
};

// Error answers become errors that say what the API said (title, detail, request id). A request made with
// `skipThrowForStatus: true` handles its answer itself (performUnsubscribe takes a 404 as done).
// The app sets flags.throwForThrottlingEarly to false so that 429s reach this middleware too: the core's own
// ThrottledError would drop the problem's detail.
const handleProblems = (response, z) => {
  if (response.skipThrowForStatus) {
    return response;
  }
  throwForProblem(z, response);
  return response;
};

module.exports = { befores: [addApiKey], afters: [handleProblems] };
