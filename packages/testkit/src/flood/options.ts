import { WORKER_KINDS, type WorkerKind } from '@stockflow/shared';
import { LOCAL_DEFAULTS } from '../support/local-services';
import { DEFAULT_FAULT_COUNTS, FAULT_DOCS, FAULT_KINDS, NODE_FAULT_KINDS, parseFaults, type FaultKind, type FaultSpec } from './faults/plan';
import { randomSeed } from './rng';
import { PAUSE_ON_CLUSTER } from './faults/pause-action';
import { isProfile, PRESETS, PROFILES, type Profile } from './soak/profiles';
import { MIX_KEYS, MIXED, type Mix } from './workload/types';

/**
 * Every option of `npm run flood`, with its default and its documentation in one place:
 * --help and the table in docs/concurrent-testing.md are generated from this list.
 */
export interface OptionDef {
  name: string;
  value?: string;
  default: string;
  doc: string;
}

/** Every kind but broker (a RabbitMQ restart disturbs everything else on the broker) and the node faults (defaults on a cluster only). */
export const DEFAULT_FAULT_KINDS = FAULT_KINDS.filter((k) => k !== 'broker' && !NODE_FAULT_KINDS.includes(k));
const faultList = (kinds: readonly FaultKind[]) => kinds.map((k) => `${k}=${DEFAULT_FAULT_COUNTS[k]}`).join(',');
const defaultFaults = faultList(DEFAULT_FAULT_KINDS);

export const OPTION_DEFS: OptionDef[] = [
  { name: 'seed', value: 'S', default: 'random (printed)', doc: 'Seed of the workload, duplicates, reordering and fault schedule: the same seed replays the same flood' },
  { name: 'commands', value: 'N', default: '100000 (no limit when only --duration is given)', doc: 'Distinct commands to publish (duplicates and the setup come on top); 0 = no limit (use --duration)' },
  { name: 'duration', value: 'T', default: 'none', doc: 'Publish for this long (e.g. 90s, 30m): a soak, whose samples are also judged for leaks (worker RSS, backlog); with --commands, whichever comes first' },
  { name: 'profile', value: 'P', default: 'mixed', doc: `Named workload preset (${PROFILES.map((p) => `${p}: ${PRESETS[p].doc}`).join('; ')}); sets --mix, --hot-keys, --hot-share and --reads-per-sec before any explicit option` },
  { name: 'reads-per-sec', value: 'N', default: '0 (read-heavy: 100)', doc: 'Stock queries per second through the inventory read model while publishing (at most 2 in flight); reported with p50/p99 latency' },
  { name: 'warmup', value: 'T', default: 'a quarter of --duration, at most 5m', doc: 'Start of each series (a worker process\'s life, the publishing phase) the leak rules ignore' },
  { name: 'rate', value: 'N', default: '0', doc: 'Publishes per second; 0 = as fast as the broker confirms' },
  { name: 'max-in-flight', value: 'N', default: '1000', doc: 'Publishes awaiting a broker confirm at most' },
  { name: 'duplicates', value: 'R', default: '0.3', doc: 'Exact re-publishes per command (same message id, payload and sequence); 0.3 = 30 %' },
  { name: 'late-share', value: 'R', default: '0.5', doc: 'Share of duplicates published late (200–20000 publishes later); the rest go right behind the original (concurrent)' },
  { name: 'reorder', default: 'on', doc: 'Shuffle commands across keys within a window (--no-reorder: generation order); one key\'s commands keep their order and sequence' },
  { name: 'reorder-window', value: 'N', default: '64', doc: 'Size of the reordering window' },
  { name: 'products', value: 'N', default: '40', doc: 'Products in the catalogue' },
  { name: 'warehouses', value: 'N', default: '4', doc: 'Warehouses in the catalogue (stock keys = products × warehouses)' },
  { name: 'initial-stock', value: 'N', default: '100', doc: 'Units every stock key receives in the setup phase' },
  { name: 'hot-keys', value: 'N', default: '4', doc: 'Stock keys that get --hot-share of the stock traffic (lock contention); 0 = uniform' },
  { name: 'hot-share', value: 'R', default: '0.3', doc: 'Share of stock traffic on the hot keys' },
  { name: 'mix', value: 'K=W,…', default: Object.entries(MIXED).map(([k, w]) => `${k}=${w}`).join(','), doc: `Relative weights of command kinds (${MIX_KEYS.join(', ')}); unnamed kinds keep their default` },
  { name: 'order-lines', value: 'N', default: '3', doc: 'Lines per order at most (distinct product+warehouse each)' },
  { name: 'decline-rate', value: 'R', default: '0.05', doc: 'Share of orders whose charge the provider declines' },
  { name: 'timeout-rate', value: 'R', default: '0.002', doc: 'Share of orders whose first charge request times out at the provider (half after charging, half before)' },
  { name: 'async-capture-rate', value: 'R', default: '0.05', doc: 'Share of orders the provider captures asynchronously: the charge answers pending and the outcome comes only by webhook, sent twice in parallel' },
  { name: 'short-hold-rate', value: 'R', default: '0.1', doc: 'Share of orders with a 0.3–2.5 s stock hold that races the payment (expiry and refund paths)' },
  { name: 'cancel-first-share', value: 'R', default: '0.1', doc: 'Share of cancels sent before their order is placed (tombstone path)' },
  { name: 'faults', value: 'LIST', default: defaultFaults, doc: `Faults to inject: ${FAULT_KINDS.join(', ')}; each as kind (default count), kind=N (N spread over the flood) or kind=N/T (N every T, e.g. kill=1/30s); none = no faults. Defaults per kind: ${FAULT_KINDS.map((k) => `${k} ${DEFAULT_FAULT_COUNTS[k]}`).join(', ')}` },
  { name: 'redis-flushall', default: 'off', doc: 'The redis fault runs FLUSHALL instead of deleting the run\'s keys: only for a Redis nobody else uses' },
  { name: 'stop-ms', value: 'MS', default: '10000', doc: 'How long a stop fault keeps a worker SIGSTOPped (longer than 2 × AMQP_HEARTBEAT_S, so the broker hands its partitions over)' },
  { name: 'instances', value: 'N|K=N,…', default: 'inventory=2,orders=2,payments=2', doc: 'Worker processes per kind' },
  { name: 'cluster', value: 'DIR', default: 'none (one broker, AMQP_URL)', doc: `Run on the local RabbitMQ cluster in DIR (\`npm run cluster -- up\` makes it in .cluster): every node's address for the workers and the flood, quorum queues with 3 members, and the node faults (${NODE_FAULT_KINDS.join(', ')}) join the default faults, which leave out pause (the queues' consumer counts cannot judge it there)` },
  { name: 'node-down', value: 'T', default: '30s', doc: 'How long a node fault keeps its RabbitMQ node down (--cluster)' },
  { name: 'partitions', value: 'N', default: '16', doc: 'Partition queues per worker kind (attach: must match the running deployment)' },
  { name: 'worker-env', value: 'K=V', default: 'none', doc: 'Extra environment for every worker the flood starts (repeatable), e.g. BATCH_SIZE=20' },
  { name: 'attach', default: 'off', doc: 'Use workers that are already running (e.g. `npm start`) instead of starting them: the default faults then leave out kill, stop and leader-stop (and say so)' },
  { name: 'namespace', value: 'NS', default: 'fl-<tag> (attach: $STOCKFLOW_NAMESPACE or stockflow)', doc: 'Exchange/queue/Redis prefix; owned runs make their own' },
  { name: 'via', value: 'http=R', default: 'none (AMQP only)', doc: 'Send the commands of this share of the partition keys through the HTTP gateway instead of AMQP (a key never uses both); an owned run starts a gateway in the flood\'s process, --attach needs --gateway-url and STOCKFLOW_GATEWAY_TOKEN' },
  { name: 'gateway-url', value: 'URL', default: 'none', doc: 'The HTTP gateway of an attached deployment (with --via http=R)' },
  { name: 'provider-url', value: 'URL', default: 'http://127.0.0.1:4100 (attach only)', doc: 'Payment provider simulator of an attached deployment (driven through its /admin API)' },
  { name: 'quiesce-timeout', value: 'T', default: '120s', doc: 'After publishing, give up waiting for quiescence when nothing moved (inbox, outboxes, queues) for this long; the run then checks anyway and fails' },
  { name: 'drain-max', value: 'T', default: '60m', doc: 'Give up waiting for quiescence after this long even while things still move' },
  { name: 'keep', default: 'off', doc: 'Keep the database, queues, Redis keys and run directory for inspection (without it they go however the run ends; a failed run keeps only its run directory). --attach: the tap queue goes anyway' },
  { name: 'json', value: 'FILE', default: 'none', doc: 'Write the machine-readable report here' },
  { name: 'html', value: 'FILE', default: 'none', doc: 'Write a self-contained HTML report (charts inline, no network) here' },
  { name: 'history', value: 'DIR', default: 'none', doc: 'Write the raw history (publishes.jsonl, events.jsonl) here' },
  { name: 'run-dir', value: 'DIR', default: '$TMPDIR/stockflow-flood/<tag>', doc: 'Worker logs and the flood log' },
  { name: 'progress-ms', value: 'MS', default: '2000', doc: 'Progress line interval on stderr when it is not a terminal (a terminal shows a bar with percentage and ETA)' },
  { name: 'sample-ms', value: 'MS', default: '1000', doc: 'Sampling interval of the time series in the reports' },
  { name: 'quiet', default: 'off', doc: 'No progress lines' },
  { name: 'help', default: '', doc: 'This text' },
];

export interface FloodOptions {
  seed: string;
  commands: number;
  profile: Profile;
  readsPerSec: number;
  warmupMs: number | undefined;
  durationMs: number | undefined;
  rate: number;
  maxInFlight: number;
  duplicates: number;
  lateShare: number;
  reorderWindow: number;
  products: number;
  warehouses: number;
  initialStock: number;
  hotKeys: number;
  hotShare: number;
  mix: Mix;
  orderLines: number;
  declineRate: number;
  timeoutRate: number;
  asyncCaptureRate: number;
  shortHoldRate: number;
  cancelFirstShare: number;
  faults: FaultSpec[];
  /** What parsing decided for the user, said at the start of the run. */
  notes: string[];
  redisFlushAll: boolean;
  stopMs: number;
  instances: Record<WorkerKind, number>;
  /** The local cluster's directory (--cluster): the run takes its addresses from there. */
  cluster: string | undefined;
  nodeDownMs: number;
  partitions: number;
  workerEnv: Record<string, string>;
  attach: boolean;
  /** Share of partition keys sent through the HTTP gateway (0: none). */
  viaHttp: number;
  gatewayUrl: string | undefined;
  namespace: string | undefined;
  providerUrl: string;
  quiesceTimeoutMs: number;
  drainMaxMs: number;
  keep: boolean;
  json: string | undefined;
  html: string | undefined;
  history: string | undefined;
  runDir: string | undefined;
  progressMs: number;
  sampleMs: number;
  quiet: boolean;
  databaseUrl: string;
  amqpUrl: string;
  redisUrl: string;
}

export function defaultOptions(env: NodeJS.ProcessEnv = process.env): FloodOptions {
  return {
    seed: String(randomSeed()),
    commands: 100_000,
    profile: 'mixed',
    readsPerSec: 0,
    warmupMs: undefined,
    durationMs: undefined,
    rate: 0,
    maxInFlight: 1000,
    duplicates: 0.3,
    lateShare: 0.5,
    reorderWindow: 64,
    products: 40,
    warehouses: 4,
    initialStock: 100,
    hotKeys: 4,
    hotShare: 0.3,
    mix: { ...MIXED },
    orderLines: 3,
    declineRate: 0.05,
    timeoutRate: 0.002,
    asyncCaptureRate: 0.05,
    shortHoldRate: 0.1,
    cancelFirstShare: 0.1,
    faults: parseFaults(defaultFaults),
    notes: [],
    redisFlushAll: false,
    stopMs: 10_000,
    instances: { inventory: 2, orders: 2, payments: 2 },
    cluster: undefined,
    nodeDownMs: 30_000,
    partitions: 16,
    workerEnv: {},
    attach: false,
    viaHttp: 0,
    gatewayUrl: undefined,
    namespace: undefined,
    providerUrl: 'http://127.0.0.1:4100',
    quiesceTimeoutMs: 120_000,
    drainMaxMs: 3_600_000,
    keep: false,
    json: undefined,
    html: undefined,
    history: undefined,
    runDir: undefined,
    progressMs: 2000,
    sampleMs: 1000,
    quiet: false,
    databaseUrl: env.DATABASE_URL || LOCAL_DEFAULTS.DATABASE_URL,
    amqpUrl: env.AMQP_URL || LOCAL_DEFAULTS.AMQP_URL,
    redisUrl: env.REDIS_URL || LOCAL_DEFAULTS.REDIS_URL,
  };
}

export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new Error(`'${text}' is not a duration (e.g. 1500ms, 90s, 30m, 1h)`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

function num(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} ${raw}: must be a number between ${min} and ${max}`);
  return n;
}

function int(name: string, raw: string, min: number, max: number): number {
  const n = num(name, raw, min, max);
  if (!Number.isInteger(n)) throw new Error(`--${name} ${raw}: must be an integer`);
  return n;
}

function pairs(name: string, raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of raw.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq < 1) throw new Error(`--${name} ${raw}: expected K=V pairs`);
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

export class UsageError extends Error {}

/** Faults that kill or pause worker processes: only for workers the flood started itself. */
const PROCESS_FAULTS: readonly string[] = ['kill', 'stop', 'leader-stop'];

/** Parses argv (without node and the script); throws UsageError with a message for the user. */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): FloodOptions | 'help' {
  const o = defaultOptions(env);
  const known = new Map(OPTION_DEFS.map((d) => [d.name, d]));
  const given = new Set<string>();
  applyProfile(o, argv);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument '${arg}' (see --help)`);
    const [written, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    let name = written;
    let negated = false;
    if (name.startsWith('no-') && known.has(name.slice(3))) {
      negated = true;
      name = name.slice(3);
    }
    const def = known.get(name);
    if (!def) throw new UsageError(`unknown option --${name} (see --help)`);
    if (name === 'help') return 'help';
    if (negated && def.value !== undefined && name !== 'faults') throw new UsageError(`--no-${name} is not an option`);
    let value = '';
    if (def.value !== undefined && !negated) {
      value = inline ?? argv[++i] ?? '';
      if (value === '') throw new UsageError(`--${name} needs a value (${def.value})`);
    }
    given.add(name);
    try {
      apply(o, name, value, negated);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  // A soak is bounded by time: a command limit it did not ask for would end it early.
  if (o.durationMs !== undefined && !given.has('commands')) o.commands = 0;
  if (o.commands === 0 && o.durationMs === undefined) throw new UsageError('--commands 0 needs a --duration');
  if (o.viaHttp > 0 && o.attach && !o.gatewayUrl) throw new UsageError('--via http with --attach needs --gateway-url (and the token in STOCKFLOW_GATEWAY_TOKEN)');
  if (o.gatewayUrl && !o.attach) throw new UsageError('--gateway-url is for --attach: an owned run starts its own gateway');
  const nodeFaults = o.faults.filter((f) => NODE_FAULT_KINDS.includes(f.kind));
  if (!o.cluster && nodeFaults.length > 0) throw new UsageError(`--faults ${nodeFaults.map((f) => f.kind).join(', ')}: stopping RabbitMQ nodes needs a cluster (--cluster DIR)`);
  if (o.cluster && o.attach) throw new UsageError('--cluster starts workers on the cluster: it cannot be combined with --attach (attach to a cluster with AMQP_URL listing its nodes)');
  if (o.cluster && !given.has('faults')) {
    o.faults = [...o.faults.filter((f) => f.kind !== 'pause'), ...parseFaults(faultList(NODE_FAULT_KINDS))];
    o.notes.push(`--cluster: default fault pause left out (${PAUSE_ON_CLUSTER})`);
  }
  if (o.attach) {
    const needProcesses = o.faults.filter((f) => PROCESS_FAULTS.includes(f.kind));
    if (needProcesses.length > 0 && given.has('faults')) {
      throw new UsageError(`--attach cannot ${needProcesses.map((f) => f.kind).join(', ')}: those faults need worker processes the flood started; pass --faults without them (e.g. --faults conn,pg,redis)`);
    }
    if (needProcesses.length > 0) {
      o.faults = o.faults.filter((f) => !PROCESS_FAULTS.includes(f.kind));
      o.notes.push(`--attach: default faults ${needProcesses.map((f) => f.kind).join(', ')} left out (they need worker processes the flood started)`);
    }
  }
  return o;
}

/**
 * A profile is a preset, so it applies first wherever it stands on the command line: then every
 * explicit option wins over it (`--profile hot-key --hot-share 0.5` means what it says).
 */
function applyProfile(o: FloodOptions, argv: string[]): void {
  for (let i = 0; i < argv.length; i++) {
    const m = /^--profile(?:=(.*))?$/s.exec(argv[i]!);
    if (!m) continue;
    const name = m[1] ?? argv[i + 1] ?? '';
    if (!isProfile(name)) throw new UsageError(`--profile '${name}': one of ${PROFILES.join(', ')}`);
    const p = PRESETS[name];
    Object.assign(o, { profile: name, mix: { ...p.mix }, hotKeys: p.hotKeys, hotShare: p.hotShare, readsPerSec: p.readsPerSec });
  }
}

function apply(o: FloodOptions, name: string, v: string, negated: boolean): void {
  switch (name) {
    case 'seed': o.seed = v; break;
    case 'commands': o.commands = int(name, v, 0, 1e9); break;
    case 'duration': o.durationMs = parseDuration(v); break;
    case 'profile': break;
    case 'reads-per-sec': o.readsPerSec = num(name, v, 0, 100_000); break;
    case 'warmup': o.warmupMs = parseDuration(v); break;
    case 'rate': o.rate = num(name, v, 0, 1e6); break;
    case 'max-in-flight': o.maxInFlight = int(name, v, 1, 100_000); break;
    case 'duplicates': o.duplicates = num(name, v, 0, 10); break;
    case 'late-share': o.lateShare = num(name, v, 0, 1); break;
    case 'reorder': o.reorderWindow = negated ? 1 : Math.max(o.reorderWindow, 2); break;
    case 'reorder-window': o.reorderWindow = int(name, v, 1, 100_000); break;
    case 'products': o.products = int(name, v, 1, 100_000); break;
    case 'warehouses': o.warehouses = int(name, v, 2, 1000); break;
    case 'initial-stock': o.initialStock = int(name, v, 0, 1_000_000); break;
    case 'hot-keys': o.hotKeys = int(name, v, 0, 100_000); break;
    case 'hot-share': o.hotShare = num(name, v, 0, 1); break;
    case 'mix':
      for (const [k, w] of Object.entries(pairs(name, v))) {
        if (!(MIX_KEYS as readonly string[]).includes(k)) throw new Error(`--mix: unknown kind '${k}' (${MIX_KEYS.join(', ')})`);
        o.mix[k as keyof Mix] = num(`mix ${k}`, w, 0, 1e6);
      }
      if (MIX_KEYS.every((k) => o.mix[k] <= 0)) throw new Error('--mix: every weight is 0');
      break;
    case 'order-lines': o.orderLines = int(name, v, 1, 50); break;
    case 'decline-rate': o.declineRate = num(name, v, 0, 1); break;
    case 'timeout-rate': o.timeoutRate = num(name, v, 0, 1); break;
    case 'async-capture-rate': o.asyncCaptureRate = num(name, v, 0, 1); break;
    case 'short-hold-rate': o.shortHoldRate = num(name, v, 0, 1); break;
    case 'cancel-first-share': o.cancelFirstShare = num(name, v, 0, 1); break;
    case 'faults': o.faults = negated ? [] : parseFaults(v); break;
    case 'redis-flushall': o.redisFlushAll = !negated; break;
    case 'stop-ms': o.stopMs = int(name, v, 100, 600_000); break;
    case 'instances': {
      if (/^\d+$/.test(v)) {
        const n = int(name, v, 1, 32);
        o.instances = { inventory: n, orders: n, payments: n };
        break;
      }
      for (const [k, n] of Object.entries(pairs(name, v))) {
        if (!(WORKER_KINDS as readonly string[]).includes(k)) throw new Error(`--instances: unknown worker kind '${k}' (${WORKER_KINDS.join(', ')})`);
        o.instances[k as WorkerKind] = int(`instances ${k}`, n, 1, 32);
      }
      break;
    }
    case 'cluster': o.cluster = v; break;
    case 'node-down': o.nodeDownMs = parseDuration(v); break;
    case 'partitions': o.partitions = int(name, v, 1, 256); break;
    case 'worker-env': Object.assign(o.workerEnv, pairs(name, v)); break;
    case 'attach': o.attach = !negated; break;
    case 'namespace': o.namespace = v; break;
    case 'provider-url': o.providerUrl = v; break;
    case 'via': {
      const m = /^http=(.+)$/.exec(v);
      if (!m) throw new Error(`--via ${v}: http=R, e.g. http=0.2`);
      o.viaHttp = num(name, m[1]!, 0, 1);
      break;
    }
    case 'gateway-url': o.gatewayUrl = v; break;
    case 'quiesce-timeout': o.quiesceTimeoutMs = parseDuration(v); break;
    case 'drain-max': o.drainMaxMs = parseDuration(v); break;
    case 'keep': o.keep = !negated; break;
    case 'json': o.json = v; break;
    case 'html': o.html = v; break;
    case 'history': o.history = v; break;
    case 'run-dir': o.runDir = v; break;
    case 'progress-ms': o.progressMs = int(name, v, 100, 3_600_000); break;
    case 'sample-ms': o.sampleMs = int(name, v, 100, 3_600_000); break;
    case 'quiet': o.quiet = !negated; break;
    default: throw new Error(`option --${name} is not handled`);
  }
}

export function helpText(): string {
  const lines = ['Usage: npm run flood -- [options]', '', 'Floods the workers with a seeded workload under faults, waits for quiescence and proves every invariant of docs/concurrent-testing.md.', 'Exit code 0 only when every invariant held (and, with --duration, no trend showed a leak). Services: DATABASE_URL, AMQP_URL, REDIS_URL (default: the local ones).', '', 'Options:'];
  for (const d of OPTION_DEFS) {
    const head = `  --${d.name}${d.value ? ` ${d.value}` : ''}`;
    lines.push(`${head.padEnd(30)} ${d.doc}${d.default ? ` [default: ${d.default}]` : ''}`);
  }
  lines.push('', 'Fault kinds:');
  for (const k of FAULT_KINDS) lines.push(`  ${k.padEnd(8)} ${FAULT_DOCS[k]}`);
  return lines.join('\n');
}
