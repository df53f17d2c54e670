/**
 * Kong's informational endpoints, in Kong's shapes, for its tools (decK reads `GET /` for the
 * version and database, and `/schemas/plugins/{name}` for plugin defaults): `GET /` (the node,
 * its plugins and configuration summary), `/plugins/enabled`, `/schemas/plugins/{name}`, `/tags`
 * and `/tags/{tag}`, and proxy-cache's `/proxy-cache` endpoints.
 */
import { hostname } from 'node:os';
import { VERSION } from '../core/version.ts';
import { pluginByName, pluginConfigSchema, pluginNames, pluginsByPriority } from '../plugins/registry.ts';
import type { ResponseCache } from '../plugins/response-cache.ts';
import { type ConfigControl, Refusal } from '../runtime/config-control.ts';
import { KINDS, type State } from '../store/document.ts';
import { kongPluginSchema } from './kong-schema.ts';
import { refusalReply } from './resources.ts';
import type { Router } from './router.ts';

/** The Kong admin API version Fulcrum answers as: what Kong clients check features against. */
export const KONG_API_VERSION = '3.9.0';

export interface KongSources {
  /** proxy-cache: each plugin instance's cache, by instance id (the generation in service). */
  proxyCaches(): ReadonlyMap<string, ResponseCache>;
  /** A stable id of this node (Kong's `node_id`). */
  readonly nodeId: string;
}

/** Plugin names configured anywhere in the state. */
function enabledPlugins(state: State): string[] {
  return [...new Set(state.plugins.map((p) => String(p.name)))].sort();
}

export function addKongRoutes(router: Router, control: ConfigControl, sources: KongSources): void {
  router.add(
    'GET',
    '/',
    { summary: "Node information (Kong's fields, and Fulcrum's)", tag: 'admin' },
    async () => ({
      status: 200,
      body: {
        version: KONG_API_VERSION,
        edition: 'community',
        tagline: 'Welcome to fulcrum',
        hostname: hostname(),
        node_id: sources.nodeId,
        lua_version: null,
        fulcrum_version: VERSION,
        mode: control.store.kind,
        store: control.store.location,
        config_version: control.version,
        plugins: {
          available_on_server: Object.fromEntries(
            pluginsByPriority().map((p) => [p.name, { version: VERSION, priority: p.priority }]),
          ),
          enabled_in_cluster: enabledPlugins(control.state),
        },
        configuration: {
          // decK refuses to write to a DB-less Kong (`off`); managed mode is the writable store.
          database: control.store.writable ? 'fulcrum' : 'off',
          role: 'traditional',
          admin_listen: [],
        },
      },
    }),
  );

  router.add(
    'GET',
    '/plugins/enabled',
    { summary: 'The plugins this node has', tag: 'plugins' },
    async () => ({
      status: 200,
      body: { enabled_plugins: [...pluginNames()].sort() },
    }),
  );

  router.add(
    'GET',
    '/schemas/plugins/{name}',
    { summary: "A plugin's schema in Kong's form ({fields})", tag: 'schemas' },
    async (c) => {
      const config = pluginConfigSchema(c.params.name!);
      if (config === null || pluginByName(c.params.name!) === null)
        return refusalReply(new Refusal(404, 'not found', `No plugin named '${c.params.name}'`));
      return { status: 200, body: kongPluginSchema(config) };
    },
  );

  const tagged = (only: string | null) => {
    const data: { entity_name: string; entity_id: string; tag: string }[] = [];
    for (const kind of KINDS)
      for (const e of control.state[kind])
        for (const tag of Array.isArray(e.tags) ? (e.tags as string[]) : [])
          if (only === null || tag === only) data.push({ entity_name: kind, entity_id: e.id, tag });
    return { status: 200, body: { data, next: null, offset: null } };
  };
  router.add('GET', '/tags', { summary: 'Every tag, with the entities carrying it', tag: 'tags' }, async () =>
    tagged(null),
  );
  router.add('GET', '/tags/{tag}', { summary: 'The entities carrying a tag', tag: 'tags' }, async (c) =>
    tagged(c.params.tag!),
  );

  // proxy-cache (Kong's plugin API): look up and purge cached responses by their X-Cache-Key.
  const caches = (pluginId?: string) => {
    const all = sources.proxyCaches();
    if (pluginId === undefined) return [...all.values()];
    const one = all.get(pluginId);
    return one === undefined ? [] : [one];
  };
  const noEntry = () => refusalReply(new Refusal(404, 'not found', 'Not found'));
  router.add(
    'DELETE',
    '/proxy-cache',
    { summary: 'proxy-cache: purge every cached response', tag: 'plugins' },
    async () => {
      for (const c of caches()) c.purge();
      return { status: 204 };
    },
  );
  for (const [pattern, scoped] of [
    ['/proxy-cache/{key}', false],
    ['/proxy-cache/{plugin}/caches/{key}', true],
  ] as const) {
    router.add(
      'GET',
      pattern,
      { summary: 'proxy-cache: a cached response by its X-Cache-Key', tag: 'plugins' },
      async (c) => {
        for (const cache of caches(scoped ? c.params.plugin : undefined)) {
          const e = cache.byDigest(c.params.key!);
          if (e !== null)
            return {
              status: 200,
              body: {
                key: c.params.key,
                status: e.status,
                ttl: Math.round(e.ttlMs / 1000),
                headers: e.headers,
                body_size: e.body.length,
              },
            };
        }
        return noEntry();
      },
    );
    router.add(
      'DELETE',
      pattern,
      { summary: 'proxy-cache: purge a cached response by its X-Cache-Key', tag: 'plugins' },
      async (c) => {
        let found = false;
        for (const cache of caches(scoped ? c.params.plugin : undefined))
          found = cache.deleteByDigest(c.params.key!) || found;
        return found ? { status: 204 } : noEntry();
      },
    );
  }
}
