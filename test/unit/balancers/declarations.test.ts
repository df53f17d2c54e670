/**
 * The algorithms' declarations are the one source of the config schema's algorithm enum and option
 * fields, of the normalized settings, and of which algorithms hash: a declared option shows up in
 * the file schema with its default and the algorithms reading it, and nowhere is a list kept by hand.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  algorithmDeclaration,
  algorithmNames,
  BALANCER_OPTIONS,
  DEFAULT_BALANCER_SETTINGS,
  factoryFor,
  hashingNames,
  readBalancerSettings,
  relevantSettings,
} from '../../../src/balancers/configure.ts';
import { BUILTIN_ALGORITHMS, BUILTIN_BALANCERS } from '../../../src/balancers/index.ts';
import { balancingSchemaFields } from '../../../src/config/balancing.ts';
import { upstreamSchema } from '../../../src/config/schema.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { seededRng } from '../../../src/core/random.ts';
import { mk } from './support.ts';

const properties = upstreamSchema.properties as Record<string, Record<string, unknown>>;

describe('balancer declarations', () => {
  it('give the schema its algorithm enum: every id followed by its aliases', () => {
    assert.deepEqual(properties.algorithm!.enum, algorithmNames());
    assert.deepEqual(
      algorithmNames(),
      BUILTIN_ALGORITHMS.flatMap((d) => [d.id, ...d.aliases]),
    );
    const names = algorithmNames();
    assert.equal(names[names.indexOf('ring-hash') + 1], 'consistent-hashing', "Kong's alias follows its id");
    assert.deepEqual(
      hashingNames(),
      BUILTIN_ALGORITHMS.filter((d) => d.hashing).flatMap((d) => [d.id, ...d.aliases]),
    );
    assert.ok(hashingNames().includes('maglev') && !hashingNames().includes('least-request'));
  });

  it('give the schema one field per option, naming the algorithms that read it', () => {
    const fields = balancingSchemaFields();
    for (const { option, readers } of BALANCER_OPTIONS) {
      assert.deepEqual(properties[option.field], fields[option.field], option.field);
      assert.equal(fields[option.field]!.default, option.schema.default);
      for (const id of readers)
        assert.match(String(fields[option.field]!.description), new RegExp(`\`${id}\``));
    }
    const shared = BALANCER_OPTIONS.find((o) => o.option.field === 'hash_balance_factor')!;
    assert.deepEqual(shared.readers, ['ring-hash', 'maglev', 'rendezvous'], 'one declaration, three readers');
  });

  it('give the default settings, and the settings read from an upstream (normalized)', () => {
    assert.equal(DEFAULT_BALANCER_SETTINGS.slots, 10000);
    assert.equal(DEFAULT_BALANCER_SETTINGS.maglevTableSize, 65537);
    const s = readBalancerSettings({ load_header: 'X-Backend-Load', choice_count: 5 });
    assert.equal(s.loadHeader, 'x-backend-load');
    assert.equal(s.choiceCount, 5);
    assert.equal(s.decayWindowMs, 10000);
    assert.deepEqual(relevantSettings('consistent-hashing', s), { slots: 10000, hashBalanceFactor: 0 });
    assert.deepEqual(relevantSettings('round-robin', s), {});
  });

  it('configure each algorithm from its options, and name the field a range error is about', () => {
    for (const d of BUILTIN_ALGORITHMS) {
      assert.equal(algorithmDeclaration(d.id), d);
      for (const alias of d.aliases) assert.equal(algorithmDeclaration(alias), d);
      assert.equal(BUILTIN_BALANCERS.get(d.id), d.factory);
      const picker = factoryFor(d.id, DEFAULT_BALANCER_SETTINGS)
        .create({ rng: seededRng(1), clock: new ManualClock() })
        .update([mk('a'), mk('b')]);
      assert.ok(picker.pick({ clientIp: '127.0.0.1', hashKey: 'k' }, null) !== null, d.id);
    }
    const bad = { ...DEFAULT_BALANCER_SETTINGS, maglevTableSize: 100 };
    assert.throws(() => factoryFor('maglev', bad), /^RangeError: maglev_table_size: expected a prime/);
    assert.throws(() => factoryFor('fastest', bad), /^RangeError: algorithm: no balancer named "fastest"/);
  });
});
