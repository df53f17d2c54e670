/**
 * acl: allow or deny consumers by group (Kong's acl). Runs after authentication (priority 950 <
 * the authentication plugins'), reads the groups of the consumer (`acls` under consumers), and
 * tells the target the groups in X-Consumer-Groups unless `hide_groups_header`.
 */
import { native } from '../config/kong-fields.ts';
import { bool, strList } from './schema-kit.ts';
import type { ConfigProblem, LocalReply, PluginDef } from './types.ts';

export interface AclConfig {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
  readonly hide_groups_header: boolean;
}

const NO_CONSUMER: LocalReply = { status: 401, reason: 'no-consumer', body: { message: 'Unauthorized' } };
const REFUSED: LocalReply = {
  status: 403,
  reason: 'forbidden',
  body: { message: 'You cannot consume this service' },
};

export const acl: PluginDef<AclConfig, AclConfig> = {
  name: 'acl',
  priority: 950,
  noConsumer: false,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      allow: strList(
        'Groups allowed; a consumer in none of them gets 403. Give `allow` or `deny`, not both.',
      ),
      deny: strList('Groups refused; a consumer in any of them gets 403.'),
      hide_groups_header: bool('Do not send X-Consumer-Groups to the target.', false),
      always_use_authenticated_groups: bool('Accepted for Kong compatibility; no effect.', false),
      include_consumer_groups: bool('Accepted for Kong compatibility; no effect.', false),
    },
  },
  kong: {
    allow: native(['admins']),
    deny: native(['banned'], { allow: null }),
    hide_groups_header: native(true),
    always_use_authenticated_groups: native(true),
    include_consumer_groups: native(true),
  },
  check(raw, problems: ConfigProblem[]): AclConfig {
    const allow = (raw.allow as string[] | undefined) ?? [];
    const deny = (raw.deny as string[] | undefined) ?? [];
    if (allow.length > 0 === deny.length > 0)
      problems.push({ path: [], message: 'give exactly one of "allow" or "deny"' });
    return { allow, deny, hide_groups_header: (raw.hide_groups_header as boolean | undefined) ?? false };
  },
  build(conf) {
    return conf;
  },
  access(r, c) {
    const consumer = r.consumer;
    if (consumer === null) return NO_CONSUMER;
    const groups = r.consumers.groupsOf(consumer.id);
    let blocked: boolean;
    if (c.allow.length > 0) {
      blocked = true;
      for (const g of c.allow) if (groups.has(g)) blocked = false;
    } else {
      blocked = false;
      for (const g of c.deny) if (groups.has(g)) blocked = true;
    }
    if (blocked) return REFUSED;
    if (!c.hide_groups_header)
      r.setRequestHeader('x-consumer-groups', groups.size === 0 ? null : [...groups].join(', '));
    return null;
  },
};
