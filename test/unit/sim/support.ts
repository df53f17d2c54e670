/** Scenarios for the simulator tests, from YAML text as users write them. */
import { parseSource } from '../../../src/config/load.ts';
import { type Scenario, scenarioFrom } from '../../../src/sim/scenario.ts';

export function scenario(yaml: string): Scenario {
  return scenarioFrom(parseSource(yaml, 'test.yaml'));
}

/** Share of tries the named target took in a result. */
export function shareOf(r: { targets: readonly { name: string; share: number }[] }, name: string): number {
  const t = r.targets.find((x) => x.name === name);
  if (!t) throw new Error(`no target ${name}`);
  return t.share;
}
