/**
 * What the admin listener refuses before it routes a request, so that a web page open in the
 * operator's browser cannot use the admin API (issue 12, "Security of the control plane"):
 *
 * - **Cross-origin requests (CSRF).** A browser sends `Origin` on every cross-origin fetch and on
 *   every POST (an HTML form included), and `Sec-Fetch-Site` on everything (a navigation or an
 *   `<img>` too). A request whose Origin is not the admin API's own (scheme, Host, port) or whose
 *   Sec-Fetch-Site is `cross-site` is refused with 403. curl, decK and scripts send neither.
 * - **DNS rebinding.** A page on `evil.example` can re-point that name at 127.0.0.1 and then be
 *   "same-origin" with the admin API; only the Host header still names `evil.example`. So the Host
 *   must be a name of the listener: `localhost`, an IP address (a rebinding page always uses a
 *   name), the bound address, or one of `admin.allowed_hosts`. The port is not compared: an SSH
 *   tunnel or a port forward changes it, and the name alone is what an attacker controls. Checked
 *   whenever a page could get an answer: on a loopback address, and on any address without a token.
 * - **Media types.** A request body must be one of the types its endpoint documents (415 before it
 *   is read): a page can send text/plain, form and multipart bodies without a CORS preflight.
 *
 * The same rules as Django's CSRF origin check and the Host allow-lists of Jupyter and webpack's
 * dev server; written here because they are a few lines over node:http.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { isLoopback } from '../core/net.ts';
import { Refusal } from '../runtime/config-control.ts';

/** A body format an endpoint accepts (each documented in docs/admin.md). */
export type MediaKind = 'json' | 'form' | 'yaml' | 'multipart';

const MEDIA: Readonly<Record<MediaKind, readonly string[]>> = {
  json: ['application/json'],
  form: ['application/x-www-form-urlencoded'],
  yaml: ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'],
  // Only POST /config takes it (Kong's `curl --form config=@kong.yml`): a page could send one
  // without a preflight, and the Origin and Sec-Fetch-Site checks above are what refuse it.
  multipart: ['multipart/form-data'],
};

/** What the endpoints take unless they say otherwise: Kong's JSON and curl `-d` forms. */
export const DEFAULT_MEDIA: readonly MediaKind[] = ['json', 'form'];

/** The media types of `kinds`, for messages and the OpenAPI document. */
export function mediaTypes(kinds: readonly MediaKind[]): string[] {
  return kinds.map((k) => MEDIA[k][0]!);
}

export interface GuardSettings {
  /** `http` or `https`, as the listener serves. */
  readonly scheme: string;
  /** The bound address. */
  readonly address: string;
  /** Whether a token is required (read per request: a POST /config may change it). */
  readonly tokenRequired: boolean;
  /** Extra names for the Host header (`admin.allowed_hosts`), lower case. */
  readonly allowedHosts: readonly string[];
}

const forbidden = (name: string, message: string) => new Refusal(403, name, message);

/** `Host: name[:port]` → the name, lower case (`[::1]` keeps its brackets), or null when absent. */
export function hostName(host: string | undefined): string | null {
  if (host === undefined || host === '') return null;
  const h = host.toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon >= 0 && /^\d*$/.test(h.slice(colon + 1)) ? h.slice(0, colon) : h;
}

function hostAllowed(name: string, g: GuardSettings): boolean {
  return (
    name === 'localhost' ||
    isIP(name.replace(/^\[|\]$/g, '')) !== 0 ||
    name === g.address.toLowerCase() ||
    g.allowedHosts.includes(name)
  );
}

function originOf(url: string): string | null {
  try {
    const o = new URL(url).origin;
    return o === 'null' ? null : o;
  } catch {
    return null;
  }
}

/** Why this request must be refused before it is routed (Host, then Origin), or null. */
export function crossSiteRefusal(req: IncomingMessage, g: GuardSettings): Refusal | null {
  const host = req.headers.host;
  const name = hostName(host);
  if ((isLoopback(g.address) || !g.tokenRequired || g.allowedHosts.length > 0) && name !== null)
    if (!hostAllowed(name, g))
      return forbidden(
        'forbidden host',
        `Host ${JSON.stringify(host)} is not a name of this admin listener (localhost, an IP address, ` +
          `${g.address}, or one of admin.allowed_hosts): a web page that re-points its own name at ` +
          'this machine (DNS rebinding) would send it',
      );
  const origin = req.headers.origin;
  if (origin !== undefined) {
    const own = host === undefined ? null : originOf(`${g.scheme}://${host}`);
    if (own === null || originOf(origin) !== own)
      return forbidden(
        'cross-origin request',
        `Origin ${JSON.stringify(origin)} is not this admin API's origin (${own ?? 'no Host given'}): ` +
          'requests from other web pages are refused; curl, decK and other clients that are not ' +
          'browsers send no Origin',
      );
  }
  if (req.headers['sec-fetch-site'] === 'cross-site')
    return forbidden(
      'cross-origin request',
      'Sec-Fetch-Site: cross-site: the browser says another site made this request, and the admin API ' +
        'answers only its own pages and clients that are not browsers',
    );
  return null;
}

/** 415 when the request has a body whose media type is not one of `kinds`, else null. */
export function mediaRefusal(req: IncomingMessage, kinds: readonly MediaKind[]): Refusal | null {
  const length = req.headers['content-length'];
  const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  if (!hasBody) return null;
  const raw = req.headers['content-type'];
  const type = (raw ?? '').split(';')[0]!.trim().toLowerCase();
  const ok = kinds.some((k) => MEDIA[k].includes(type) || (k === 'json' && type.endsWith('+json')));
  if (ok) return null;
  const want = mediaTypes(kinds).join(' or ');
  return new Refusal(
    415,
    'unsupported media type',
    raw === undefined
      ? `a request body needs a Content-Type: send ${want}`
      : `content-type ${JSON.stringify(type)} is not accepted here: send ${want}`,
  );
}
