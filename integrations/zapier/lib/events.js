'use strict';

// What the trigger and the action share: events as Zapier items, and the filter patterns of the API
// (an exact value, or a prefix ending in `*`; `*` alone matches everything).

// A Triggers API event as a Zapier item: Zapier deduplicates items by `id`.
const asItem = (event) => ({ ...event, id: event.event_id });

// A list input as a clean list of distinct values. Zapier sends a list field as an array; a value typed or mapped
// as one string may hold several, separated by commas.
const patternList = (value) => {
  const values = (Array.isArray(value) ? value : [value])
    .filter((item) => item !== undefined && item !== null)
    .flatMap((item) => String(item).split(','))
    .map((item) => item.trim())
    .filter((item) => item !== '');
  return [...new Set(values)];
};

const matchesPattern = (value, pattern) =>
  pattern.endsWith('*') ? value.startsWith(pattern.slice(0, -1)) : value === pattern;

// As the API's filter: an empty list matches everything, otherwise any one pattern must match.
const matches = (value, patterns) =>
  patterns.length === 0 || patterns.some((pattern) => matchesPattern(value, pattern));

// The one exact value of a list, which the API can filter on by itself (a query parameter); else null.
const singleExactValue = (patterns) => (patterns.length === 1 && !patterns[0].endsWith('*') ? patterns[0] : null);

// Sorted keys at every level: the same object gives the same text, whatever the order of its keys.
const canonicalJson = (value) => {
  if (Array.isArray(value)) {
    return `[${value.map(canonicalJson).join(',')}]`;
  }
  if (value && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .filter((key) => value[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value === undefined ? null : value);
};

module.exports = { asItem, canonicalJson, matches, patternList, singleExactValue };
