/**
 * The configuration body of the cluster health tests: one Redis, one upstream `u` whose targets are
 * probed on `/health` every `intervalS` (two failures make one unhealthy), and a service `s` on `/`.
 */
export function probedClusterBody(redisUrl: string, targets: readonly string[], intervalS: number): string {
  return `cluster:
  redis: ${redisUrl}
  timeout: 300
upstreams:
  - name: u
    healthchecks:
      active:
        http_path: /health
        healthy: { interval: ${intervalS}, successes: 1 }
        unhealthy: { interval: ${intervalS}, http_failures: 2 }
    targets:
${targets.map((t) => `      - target: ${t}`).join('\n')}
services:
  - name: s
    host: u
    routes: [{ name: r, paths: ["/"] }]
`;
}
