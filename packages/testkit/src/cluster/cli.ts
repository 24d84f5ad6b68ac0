#!/usr/bin/env node
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CLUSTER_SIZE, ClusterAbortedError, DEFAULT_BASE_PORT, DEFAULT_NODE_PREFIX, down, LocalClusterError, MAX_BASE_PORT, startNode, status, stopNode, up, type ClusterStatus, type ClusterUrls } from './local-cluster';

/** Beside the checkout's node_modules (gitignored), whether run from dist or through ts-jest. */
const DEFAULT_DIR = join(__dirname, '../../../../.cluster');

export const USAGE = `stockflow-cluster <command> [options]     (in a checkout: npm run cluster -- <command>)

A ${CLUSTER_SIZE}-node RabbitMQ cluster on this machine, beside (never touching) its own broker.

  up                 start the nodes that are not running, join them to node 1, wait until all
                     ${CLUSTER_SIZE} run clustered; prints AMQP_URL and the management URLs. Idempotent.
  status             each node: running or not, and the members it sees. Exit 0 when all ${CLUSTER_SIZE}
                     run clustered, 1 otherwise
  stop-node <n>      stop node n (1-${CLUSTER_SIZE}), keeping its data [--kill: SIGKILL, a crash]
  start-node <n>     start node n again and wait until the cluster sees it running
  down               stop every node and delete the directory. Idempotent

Options:
  --dir <path>       where the cluster lives (default: .cluster in the checkout)
  --base-port <p>    up only: AMQP port of node 1 (default ${DEFAULT_BASE_PORT}); node n uses p+n-1 for AMQP,
                     +10000 for management, +20000 for Erlang distribution
  --prefix <name>    up only: node names <name>-1@localhost … (default ${DEFAULT_NODE_PREFIX})
  --bin-dir <path>   directory of rabbitmq-server and rabbitmqctl (default: /usr/lib/rabbitmq/bin,
                     then PATH)
  --json             up, status: print JSON
  -h, --help         this text

Exit codes: 0 ok, 1 failed (status: not healthy), 2 usage, 130 interrupted.`;

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  dir: { type: 'string' },
  'base-port': { type: 'string' },
  prefix: { type: 'string' },
  'bin-dir': { type: 'string' },
  json: { type: 'boolean' },
  kill: { type: 'boolean' },
} as const;

const COMMANDS = ['up', 'status', 'stop-node', 'start-node', 'down'] as const;
type Command = (typeof COMMANDS)[number];

class UsageError extends Error {}

interface Parsed {
  command: Command;
  node?: number;
  dir: string;
  basePort?: number;
  prefix?: string;
  binDir?: string;
  json: boolean;
  kill: boolean;
}

function strict(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function parse(argv: string[]): Parsed | 'help' {
  const { values, positionals } = strict(argv);
  if (values.help) return 'help';
  const [command, ...rest] = positionals;
  if (command === undefined) throw new UsageError('a command is needed: ' + COMMANDS.join(', '));
  if (!(COMMANDS as readonly string[]).includes(command)) throw new UsageError(`unknown command '${command}' (commands: ${COMMANDS.join(', ')})`);
  const cmd = command as Command;
  let node: number | undefined;
  if (cmd === 'stop-node' || cmd === 'start-node') {
    const n = rest.shift();
    if (n === undefined || !/^\d+$/.test(n) || Number(n) < 1 || Number(n) > CLUSTER_SIZE) throw new UsageError(`${cmd} needs a node number from 1 to ${CLUSTER_SIZE}${n === undefined ? '' : `, got '${n}'`}`);
    node = Number(n);
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]!}'`);
  for (const flag of ['base-port', 'prefix'] as const) if (values[flag] !== undefined && cmd !== 'up') throw new UsageError(`--${flag} applies to up only (the other commands read the cluster's settings from its directory)`);
  if (values.kill && cmd !== 'stop-node') throw new UsageError('--kill applies to stop-node only');
  if (values.json && cmd !== 'up' && cmd !== 'status') throw new UsageError('--json applies to up and status only');
  let basePort: number | undefined;
  if (values['base-port'] !== undefined) {
    basePort = Number(values['base-port']);
    if (!/^\d+$/.test(values['base-port']) || basePort < 1024 || basePort > MAX_BASE_PORT) throw new UsageError(`--base-port must be a port from 1024 to ${MAX_BASE_PORT}, got '${values['base-port']}'`);
  }
  return { command: cmd, node, dir: values.dir ?? DEFAULT_DIR, basePort, prefix: values.prefix, binDir: values['bin-dir'], json: values.json ?? false, kill: values.kill ?? false };
}

function urlLines(urls: ClusterUrls): string {
  return [`  AMQP_URL=${urls.amqp}`, `  MANAGEMENT_URL=${urls.management[0]!}`, `  management UIs (guest/guest): ${urls.management.map((u) => u.replace('guest:guest@', '')).join('  ')}`].join('\n');
}

function statusText(s: ClusterStatus): string {
  if (!s.exists) return `no cluster in ${s.dir}\n`;
  const lines = s.nodes.map((n) => {
    const state = n.running ? 'running' : n.process ? 'process up, RabbitMQ stopped' : 'stopped';
    const members = n.running ? `  members: ${n.members.map((m) => `${m.name}${m.running ? '' : ' (down)'}`).join(', ')}` : '';
    return `  ${n.name}  AMQP ${n.amqpPort}  management ${n.managementPort}  ${state}${members}`;
  });
  return `${s.healthy ? 'healthy' : 'not healthy'}: ${s.nodes.filter((n) => n.running).length} of ${s.nodes.length} nodes running in ${s.dir}\n${lines.join('\n')}\n${urlLines(s.urls!)}\n`;
}

async function run(p: Parsed, signal: AbortSignal): Promise<number> {
  const t0 = Date.now();
  const log = (line: string) => process.stderr.write(`[cluster ${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}\n`);
  switch (p.command) {
    case 'up': {
      const r = await up({ dir: p.dir, basePort: p.basePort, prefix: p.prefix, binDir: p.binDir, log, signal });
      if (p.json) process.stdout.write(JSON.stringify({ dir: r.spec.dir, amqpUrl: r.urls.amqp, managementUrls: r.urls.management, started: r.started, joined: r.joined }) + '\n');
      else process.stdout.write(`${CLUSTER_SIZE} nodes running clustered in ${r.spec.dir}\n${urlLines(r.urls)}\n`);
      return 0;
    }
    case 'status': {
      const s = await status({ dir: p.dir });
      process.stdout.write(p.json ? JSON.stringify(s) + '\n' : statusText(s));
      return s.healthy ? 0 : 1;
    }
    case 'stop-node':
      await stopNode({ dir: p.dir, log }, p.node!, { kill: p.kill });
      return 0;
    case 'start-node':
      await startNode({ dir: p.dir, binDir: p.binDir, log, signal }, p.node!);
      return 0;
    case 'down': {
      const r = await down({ dir: p.dir, log });
      process.stdout.write(r.removed ? `stopped ${r.stopped.length} node(s), removed ${p.dir}\n` : `nothing in ${p.dir}\n`);
      return 0;
    }
  }
}

async function main(): Promise<number> {
  let parsed: Parsed | 'help';
  try {
    parsed = parse(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (parsed === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // The first signal stops what `up` or `start-node` started; a second one exits at once.
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) process.exit(130);
    process.stderr.write(`\n[cluster] ${signal}: stopping what this run started (again to quit now)\n`);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await run(parsed, stop.signal);
  } catch (err) {
    if (err instanceof ClusterAbortedError) {
      process.stderr.write(`[cluster] ${err.message}\n`);
      return 130;
    }
    if (err instanceof LocalClusterError) {
      process.stderr.write(`[cluster] ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

void main().then((code) => process.exit(code));
