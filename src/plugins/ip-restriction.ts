/**
 * ip-restriction: allow or deny by the real client address (Kong's ip-restriction). The address
 * is the socket peer, or, behind a trusted proxy (`trusted_ips`), the nearest untrusted
 * X-Forwarded-For hop. With an `allow` list the address must be in it (it decides alone, as in
 * Kong, where allow overrides deny); otherwise an address in `deny` is refused.
 */
import type { BlockList } from 'node:net';
import { native } from '../config/kong-fields.ts';
import { buildCidrList, inCidrList } from '../core/net.ts';
import { int, optStr, strList } from './schema-kit.ts';
import type { ConfigProblem, LocalReply, PluginDef } from './types.ts';

export interface IpRestrictionConfig {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
  readonly status: number;
  readonly message: string;
}

interface Built {
  readonly allow: BlockList | null;
  readonly deny: BlockList | null;
  readonly reply: LocalReply;
}

function list(entries: readonly string[]): BlockList | null {
  if (entries.length === 0) return null;
  const r = buildCidrList(entries);
  return 'list' in r ? r.list : null;
}

export const ipRestriction: PluginDef<IpRestrictionConfig, Built> = {
  name: 'ip-restriction',
  priority: 990,
  noConsumer: false,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      allow: strList('Addresses and CIDRs (IPv4 or IPv6) allowed; every other address is refused.'),
      deny: strList('Addresses and CIDRs refused (used when `allow` is empty).'),
      status: int('The status of the refusal.', 100, 599, { default: 403 }),
      message: optStr('The message of the refusal.', { default: 'Your IP address is not allowed' }),
    },
  },
  kong: {
    allow: native(['10.0.0.0/8']),
    deny: native(['192.0.2.7'], { allow: null }),
    status: native(401),
    message: native('go away'),
  },
  check(raw, problems: ConfigProblem[]): IpRestrictionConfig {
    const allow = (raw.allow as string[] | undefined) ?? [];
    const deny = (raw.deny as string[] | undefined) ?? [];
    for (const [field, entries] of [
      ['allow', allow],
      ['deny', deny],
    ] as const) {
      const r = buildCidrList(entries);
      if ('bad' in r) problems.push({ path: [field, r.bad], message: r.why });
    }
    if (allow.length === 0 && deny.length === 0)
      problems.push({ path: [], message: 'give at least one of "allow" or "deny"' });
    return {
      allow,
      deny,
      status: (raw.status as number | undefined) ?? 403,
      message: (raw.message as string | null | undefined) ?? 'Your IP address is not allowed',
    };
  },
  build(conf) {
    return {
      allow: list(conf.allow),
      deny: list(conf.deny),
      reply: { status: conf.status, reason: 'ip-denied', body: { message: conf.message } },
    };
  },
  access(r, b) {
    const ip = r.realIp();
    if (b.allow !== null) return inCidrList(b.allow, ip) ? null : b.reply;
    if (b.deny !== null && inCidrList(b.deny, ip)) return b.reply;
    return null;
  },
};
