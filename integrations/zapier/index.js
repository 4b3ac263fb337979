'use strict';

// The Triggers API on Zapier: a New Event trigger (a REST hook on a push subscription) and a Send Event action.
// README.md ("Zapier") says how to test and publish it.

const authentication = require('./authentication');
const { befores, afters } = require('./middleware');
const newEvent = require('./triggers/new_event');
const sendEvent = require('./creates/send_event');

module.exports = {
  version: require('./package.json').version,
  platformVersion: require('zapier-platform-core').version,

  authentication,
  beforeRequest: [...befores],
  afterResponse: [...afters],
  // 429s reach afterResponse, which throws a ThrottledError carrying the problem's detail and Retry-After
  // (zapier-platform-core skips its own early ThrottledError only when this is false).
  flags: { throwForThrottlingEarly: false },

  triggers: { [newEvent.key]: newEvent },
  searches: {},
  creates: { [sendEvent.key]: sendEvent },
  resources: {},
};
