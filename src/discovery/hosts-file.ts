/**
 * The hosts file for names marked `resolve` (Kong's `dns_hostsfile`, default /etc/hosts): as Kong
 * does, a name the file lists is answered from the file before any DNS server is asked. A name in
 * the file is the file's alone, as with nsswitch's `files dns`: its A and AAAA come from its lines
 * (none of a family: no record of that type), and SRV has no record, so a DNS server that is down
 * or knows the name otherwise changes nothing for it.
 *
 * Kong reads the file once at start; here it is read again when it changes (its size or mtime,
 * checked when a name from it is asked again, every HOSTS_TTL_S), so an edited hosts file moves
 * targets without a reload.
 */
import { readFile, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { Query, QueryResult, QueryType } from './dns-client.ts';

/** The TTL of an answer from the file: how often its names are looked up again. */
export const HOSTS_TTL_S = 10;
/** A hosts file larger than this is not read (it is a list of names, not a database). */
const HOSTS_MAX_BYTES = 16 * 1024 * 1024;

/** Name (lower case) → its IPv4 and IPv6 addresses, in file order. */
export function parseHosts(text: string): Map<string, { A: string[]; AAAA: string[] }> {
  const out = new Map<string, { A: string[]; AAAA: string[] }>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const [address, ...names] = line.split(/\s+/);
    const family = isIP(address!);
    // A zoned IPv6 (fe80::1%eth0) is no target address.
    if (family === 0 || address!.includes('%') || names.length === 0) continue;
    for (const n of names) {
      const key = n.toLowerCase().replace(/\.$/, '');
      const e = out.get(key) ?? { A: [], AAAA: [] };
      const list = family === 4 ? e.A : e.AAAA;
      if (!list.includes(address!)) list.push(address!);
      out.set(key, e);
    }
  }
  return out;
}

/** A Query that answers the names of the hosts file at `path` and asks `next` about the others. */
export function withHostsFile(path: string, next: Query): Query {
  let seen = '';
  let names = new Map<string, { A: string[]; AAAA: string[] }>();
  const load = async (): Promise<void> => {
    try {
      const st = await stat(path);
      const key = `${st.size}/${st.mtimeMs}`;
      if (key === seen) return;
      seen = key;
      names = st.size > HOSTS_MAX_BYTES ? new Map() : parseHosts(await readFile(path, 'utf8'));
    } catch {
      // No hosts file (or unreadable): every name goes to DNS.
      seen = '';
      names = new Map();
    }
  };
  return async (name: string, type: QueryType): Promise<QueryResult> => {
    await load();
    const e = names.get(name.toLowerCase().replace(/\.$/, ''));
    if (e === undefined) return next(name, type);
    const list = type === 'A' ? e.A : type === 'AAAA' ? e.AAAA : [];
    if (list.length === 0) return { kind: 'empty', rcode: 'NOERROR (hosts file)' };
    return {
      kind: 'ok',
      records: list.map((data) => ({ type, name, ttlS: HOSTS_TTL_S, data, port: 0, weight: 0, priority: 0 })),
    };
  };
}
