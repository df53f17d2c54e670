/** YAML bodies the integration tests share. */

/**
 * One service `s` on `/` over one upstream `u` with these targets. `service` and `upstream` are
 * extra YAML lines for each (indented four spaces), `route` extra flow-mapping fields for the route.
 */
export function serviceOverUpstream(
  targets: readonly string[],
  extra: { service?: string; upstream?: string; route?: string } = {},
): string {
  return `
services:
  - name: s
    host: u
${extra.service ?? ''}    routes: [{ paths: ["/"]${extra.route ?? ''} }]
upstreams:
  - name: u
${extra.upstream ?? ''}    targets:
${targets.map((t) => `      - target: ${t}\n`).join('')}`;
}
