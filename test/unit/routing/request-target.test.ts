import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRequestTarget } from '../../../src/routing/path.ts';

describe('parseRequestTarget', () => {
  it('splits origin-form into a normalized path and the query as received', () => {
    assert.deepEqual(parseRequestTarget('/a/./b/../c?x=1&y=%2F'), {
      path: '/a/c',
      query: '?x=1&y=%2F',
      authority: null,
      target: null,
    });
    assert.deepEqual(parseRequestTarget('/'), { path: '/', query: '', authority: null, target: '/' });
  });

  it('gives the target as received when its path needed no normalization', () => {
    const t = '/api/v1/users/42?expand=orders';
    assert.equal(parseRequestTarget(t)?.target, t);
    assert.equal(parseRequestTarget('/api//v1?x')?.target, null);
    assert.equal(parseRequestTarget('/%7Euser')?.target, null);
  });

  it('takes the authority of an absolute-form target', () => {
    assert.deepEqual(parseRequestTarget('http://Example.com:8080/p?q'), {
      path: '/p',
      query: '?q',
      authority: 'example.com:8080',
      target: '/p?q',
    });
    assert.deepEqual(parseRequestTarget('HTTPS://h/'), { path: '/', query: '', authority: 'h', target: '/' });
  });

  it('refuses other forms and paths that climb above the root', () => {
    for (const bad of ['*', 'example.com:443', 'ftp://h/p', 'http://[bad/p', '/../etc', 'x/y'])
      assert.equal(parseRequestTarget(bad), null, bad);
  });
});
