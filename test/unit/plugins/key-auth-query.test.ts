/**
 * key-auth reads the key from the query without building URLSearchParams when nothing needs
 * decoding: whatever the query, it must find exactly what URLSearchParams.getAll finds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { queryArgs } from '../../../src/plugins/key-auth.ts';

const QUERIES = [
  '?apikey=bench',
  '?apikey=',
  '?apikey',
  '?apikey&x=1',
  '?x=1&apikey=a&apikey=b',
  '?x=1&&apikey=a&',
  '?&&&',
  '?',
  '?apikeyx=1&xapikey=2',
  '?apike=1&apikey2=2',
  '?apikey==a=b',
  '?=apikey&apikey=%41',
  '?apikey=a+b',
  '?api%6Bey=c',
  '?apikey=%zz',
  '?apikey=caf\u00e9&b=\u00ff',
  '?a=1;apikey=2',
  '?apikey=x#frag',
  '?APIKEY=1',
];

describe('key-auth query arguments', () => {
  it('reads every query as URLSearchParams.getAll does', () => {
    for (const q of QUERIES)
      for (const name of ['apikey', 'APIKEY', 'x'])
        assert.deepEqual(queryArgs(q, name), new URLSearchParams(q.slice(1)).getAll(name), `${q} ${name}`);
  });
});
