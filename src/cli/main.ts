/**
 * The `fulcrum` command: start, validate, --version, --help.
 */

import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, formatIssue } from '../config/load.ts';
import { loadSnapshotFile } from '../config/validate.ts';
import { VERSION } from '../core/version.ts';
import type { LogFormat } from '../observability/access-log.ts';
import { BindError, FulcrumNode } from '../runtime/node.ts';
import { workersFor } from '../workers/primary.ts';
import { startDemoServers, stopDemoServers } from './demo.ts';
import { simulateCommand } from './simulate.ts';

export const DEFAULT_CONFIG = fileURLToPath(new URL('../../../config/default.yaml', import.meta.url));

const HELP = `fulcrum ${VERSION}: load balancer, reverse proxy and API gateway

Usage:
  fulcrum start [FILE | -c FILE] [--demo] [--watch]
                                     run the proxy (SIGHUP, or with --watch a change of FILE, reloads
                                     it; SIGTERM/SIGINT drain and stop; SIGUSR1 reopens log files)
  fulcrum start [...] --workers N|auto
                                     serve every listener from N worker processes (one per core
                                     with auto); docs/cluster.md
  fulcrum start [...] --cluster redis://HOST:PORT
                                     share configuration and rate limits with the other nodes
                                     using the same Redis; docs/cluster.md
  fulcrum start --managed [--state STATE] [FILE | -c FILE]
                                     run with the admin API as the source of truth, persisted to STATE
  fulcrum validate FILE              check a declarative file; exit 0 when valid, 1 with every error
  fulcrum simulate [SCENARIO]        compare the balancing algorithms on a simulated workload
                                     (fulcrum simulate --help; docs/simulate.md)
  fulcrum --version                  print the version
  fulcrum --help                     print this help

Options:
  -c, --config FILE   the declarative configuration (YAML or JSON, Kong format 3.0);
                      default: ./fulcrum.yaml if present, else the bundled default
  --demo              also start two demo upstream servers on 127.0.0.1:9001 and :9002
  --managed           managed mode: admin API writes are persisted to the state file and survive
                      restarts; -c FILE only seeds a state file that does not exist yet
  --state STATE       the managed state file (default: ./fulcrum.state.json)
  --watch             reload when the configuration file changes (file mode), as SIGHUP does
  --workers N         worker processes serving the listeners (a number, or auto: one per core);
                      overrides the file's \`workers\`
  --cluster URL       the Redis a cluster of nodes shares (redis://[user:password@]host:port[/db]);
                      overrides the file's \`cluster.redis\`
  --zone ZONE         this node's zone for zone-aware balancing (overrides the file's
                      \`zone\`; default: the FULCRUM_ZONE environment variable, if set)
  --log-level LEVEL   the application log level: trace, debug, info, warn, error, fatal or
                      silent (overrides the file's logging.level)
  --log-format FMT    the application log format: auto (pretty on a terminal), json or pretty
                      (overrides the file's logging.format)

Docs: docs/README.md
`;

function pickConfig(given: string | undefined): string {
  if (given) return resolve(given);
  if (existsSync('fulcrum.yaml')) return resolve('fulcrum.yaml');
  return DEFAULT_CONFIG;
}

/**
 * The file `start` was given: `start FILE` or `start -c FILE` (both only when they agree), or
 * undefined for the default; an error for anything else, rather than ignoring an argument.
 */
function startFile(
  rest: readonly string[],
  flag: string | undefined,
): string | undefined | { error: string } {
  if (rest.length > 1)
    return {
      error: `start takes one configuration file, got ${rest.map((r) => JSON.stringify(r)).join(' ')}`,
    };
  const given = rest[0];
  if (given !== undefined && flag !== undefined && resolve(given) !== resolve(flag))
    return { error: `two configuration files given (${given} and -c ${flag}): give one` };
  return given ?? flag;
}

function validate(file: string | undefined): number {
  if (!file) {
    process.stderr.write('fulcrum validate: a FILE is required\n');
    return 2;
  }
  try {
    const snap = loadSnapshotFile(file);
    // Warnings (Kong fields accepted and not supported, a migrated format) do not fail validation.
    for (const w of snap.warnings) process.stderr.write(`${file}: ${w.path}: warning: ${w.message}\n`);
    for (const p of snap.problems) process.stderr.write(`${file}: ${p.path}: ${p.message}\n`);
    if (snap.problems.length > 0) {
      process.stderr.write(`${file}: ${snap.problems.length} object(s) would be disabled\n`);
      return 1;
    }
    process.stdout.write(
      `${file}: valid (${snap.services.length} services, ${snap.routes.length} routes, ${snap.upstreams.filter((u) => !u.implicit).length} upstreams)\n`,
    );
    return 0;
  } catch (err) {
    // A file that cannot be validated is an answer (exit 1 with the reason), not a crash.
    const issues =
      err instanceof ConfigError
        ? err.issues
        : [{ file, line: 0, column: 0, path: '', message: `cannot validate: ${(err as Error).message}` }];
    for (const i of issues) process.stderr.write(`${formatIssue(i)}\n`);
    process.stderr.write(`${file}: ${issues.length} error(s)\n`);
    return 1;
  }
}

export const DEFAULT_STATE_FILE = 'fulcrum.state.json';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
const LOG_FORMATS = ['auto', 'json', 'pretty'];

interface StartOptions {
  readonly configFile: string | undefined;
  readonly demo: boolean;
  readonly zone: string | undefined;
  readonly stateFile?: string;
  readonly watch?: boolean;
  readonly logLevel?: string;
  readonly logFormat?: LogFormat;
  /** `--workers`: 0 for auto; undefined: the file's `workers`. */
  readonly workers?: number;
  /** `--cluster URL`. */
  readonly cluster?: string;
}

async function start(o: StartOptions): Promise<void> {
  let demoServers: Server[] = [];
  if (o.demo) demoServers = await startDemoServers();
  let node: FulcrumNode;
  try {
    node = await FulcrumNode.start({
      configFile: o.configFile,
      stateFile: o.stateFile,
      watch: o.watch ?? false,
      ...(o.cluster === undefined ? {} : { cluster: o.cluster }),
      proxyHost: workersFor(o.workers, {
        ...(o.logLevel ? { logLevel: o.logLevel } : {}),
        ...(o.logFormat ? { logFormat: o.logFormat } : {}),
      }),
      ...(o.zone ? { zone: o.zone } : {}),
      ...(o.logLevel ? { logLevel: o.logLevel } : {}),
      ...(o.logFormat ? { logFormat: o.logFormat } : {}),
    });
  } catch (err) {
    await stopDemoServers(demoServers);
    if (err instanceof ConfigError) {
      for (const i of err.issues) process.stderr.write(`${formatIssue(i)}\n`);
      process.stderr.write(`${o.stateFile ?? o.configFile}: ${err.issues.length} error(s); not started\n`);
      process.exit(1);
    }
    if (err instanceof BindError) {
      process.stderr.write(`fulcrum: not started: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      node.logs.app.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    node.logs.app.info({ signal }, 'stopping: draining in-flight requests');
    node
      .stop()
      .then(() => stopDemoServers(demoServers))
      .then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    node.logs.app.info('SIGHUP: reloading configuration');
    void node.reload();
  });
  // nginx's convention: logrotate moves the file, then USR1 makes the node write a new one.
  process.on('SIGUSR1', () => {
    node.reopenLogs();
    node.logs.app.info('SIGUSR1: log files reopened');
  });
}

export async function main(argv: string[]): Promise<number | null> {
  // simulate has options of its own: parsed there.
  if (argv[0] === 'simulate') return simulateCommand(argv.slice(1));
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        demo: { type: 'boolean' },
        managed: { type: 'boolean' },
        state: { type: 'string' },
        zone: { type: 'string' },
        watch: { type: 'boolean' },
        workers: { type: 'string' },
        cluster: { type: 'string' },
        'log-level': { type: 'string' },
        'log-format': { type: 'string' },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    process.stderr.write(`fulcrum: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const cmd = positionals[0];
  if (values.help || cmd === 'help' || cmd === undefined) {
    process.stdout.write(HELP);
    return cmd === undefined && !values.help ? 2 : 0;
  }
  if (cmd === 'validate')
    return validate((positionals[1] as string | undefined) ?? (values.config as string | undefined));
  if (cmd === 'start') {
    const zone = (values.zone as string | undefined) || process.env.FULCRUM_ZONE || undefined;
    if (values.state !== undefined && values.managed !== true) {
      process.stderr.write('fulcrum: --state needs --managed\n');
      return 2;
    }
    const file = startFile(positionals.slice(1) as string[], values.config as string | undefined);
    if (typeof file === 'object') {
      process.stderr.write(`fulcrum: ${file.error}\n`);
      return 2;
    }
    const logLevel = values['log-level'] as string | undefined;
    if (logLevel !== undefined && !LOG_LEVELS.includes(logLevel)) {
      process.stderr.write(`fulcrum: --log-level must be one of ${LOG_LEVELS.join(', ')}\n`);
      return 2;
    }
    const logFormat = values['log-format'] as string | undefined;
    if (logFormat !== undefined && !LOG_FORMATS.includes(logFormat)) {
      process.stderr.write(`fulcrum: --log-format must be one of ${LOG_FORMATS.join(', ')}\n`);
      return 2;
    }
    const workers = values.workers as string | undefined;
    if (workers !== undefined && workers !== 'auto' && !/^[1-9][0-9]{0,3}$/.test(workers)) {
      process.stderr.write('fulcrum: --workers must be a number from 1 to 1024, or auto\n');
      return 2;
    }
    const clusterUrl = values.cluster as string | undefined;
    if (clusterUrl !== undefined && !/^rediss?:\/\/[^\s]+$/.test(clusterUrl)) {
      process.stderr.write(
        'fulcrum: --cluster must be a Redis URL: redis://HOST:PORT (or rediss:// for TLS)\n',
      );
      return 2;
    }
    const common = {
      ...(clusterUrl === undefined ? {} : { cluster: clusterUrl }),
      demo: values.demo === true,
      ...(workers === undefined ? {} : { workers: workers === 'auto' ? 0 : Number(workers) }),
      zone,
      ...(logLevel ? { logLevel } : {}),
      ...(logFormat ? { logFormat: logFormat as LogFormat } : {}),
    };
    if (values.managed === true) {
      const state = resolve((values.state as string | undefined) ?? DEFAULT_STATE_FILE);
      await start({
        ...common,
        configFile: file === undefined ? undefined : resolve(file),
        stateFile: state,
      });
      return null;
    }
    await start({ ...common, configFile: pickConfig(file), watch: values.watch === true });
    return null;
  }
  process.stderr.write(`fulcrum: unknown command ${JSON.stringify(cmd)}\n\n${HELP}`);
  return 2;
}
