/** Host header validation (src/core/net.ts), against what nginx and RFC 3986 accept. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isValidHostHeader } from '../../../src/core/net.ts';

describe('isValidHostHeader', () => {
  it('accepts names, IPv4, IPv6 literals, with or without a port', () => {
    for (const h of [
      'example.com',
      'Example.COM:8080',
      'a',
      'x_y-z',
      '10.0.0.1',
      '10.0.0.1:80',
      '[::1]',
      '[::1]:8000',
      'a.b.',
      'xn--bcher-kva.example',
      'host:',
    ])
      assert.equal(isValidHostHeader(h), true, h);
  });
  it('refuses spaces, slashes, empty names, bad ports, broken literals and ".."', () => {
    for (const h of [
      '',
      'a b',
      'a/b',
      'a\\b',
      ':80',
      'x:8o',
      'x:80:90',
      '[::1',
      '[]',
      '[::1]x',
      '[g::1]',
      'a..b',
      'a@b',
      'a?b',
      'a#b',
      'é.example',
      'a\tb',
    ])
      assert.equal(isValidHostHeader(h), false, JSON.stringify(h));
  });
});
