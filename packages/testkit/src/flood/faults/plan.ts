import { Rng } from '../rng';

export const FAULT_KINDS = ['kill', 'conn', 'pg', 'redis', 'stop', 'broker', 'publisher-restart', 'leader-stop', 'unroutable', 'forged-webhooks', 'id-reuse', 'big-headers', 'pause', 'node', 'rolling-restart'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Faults that stop RabbitMQ nodes: only on a cluster (--cluster), one at a time on their own. */
export const NODE_FAULT_KINDS: readonly FaultKind[] = ['node', 'rolling-restart'];

/** What each kind does, for --help and the docs. */
export const FAULT_DOCS: Record<FaultKind, string> = {
  kill: 'SIGKILL a random worker process and restart it; half of the restarts are armed with STOCKFLOW_TEST_EXIT_AFTER_COMMIT, so that incarnation dies right after its next commit of a chosen type, before the ack',
  conn: 'close a worker\'s AMQP connection on the broker (rabbitmqctl close_connection)',
  pg: 'pg_terminate_backend of a worker\'s Postgres sessions (pool and outbox relay), mid-transaction when they are busy',
  redis: 'Redis data loss: delete every key of the run\'s namespace (FLUSHALL only with --redis-flushall)',
  stop: 'SIGSTOP a worker that actively consumes, long enough for the broker to hand its partitions over, then SIGCONT: a stale partition owner',
  broker: 'rabbitmqctl stop_app / start_app: a RabbitMQ restart (never part of the defaults: it disturbs everything else on the broker)',
  'publisher-restart': 'the flood\'s publisher restarts: a new sequence session, every key numbered from 1 again mid-key (workers order each session on its own)',
  'leader-stop': 'SIGSTOP the instance that relays most of one service\'s outbox (the holder of most of its relay shards) for --stop-ms, then SIGCONT; other instances must relay all its shards within LEASE_TTL_MS and a few seconds (relay-failover)',
  unroutable: 'unbind the command-exchange binding of the busiest recent key\'s partition for 5 s, then bind it again: the flood\'s publishes to it come back unroutable and are sent again, nothing later of their route before them (nothing-lost, per-key-order)',
  'forged-webhooks': 'a storm of 100 webhooks to the payment gateway: unsigned, signed with another secret, tampered after signing, replayed an hour late; every one must be refused (forged-webhooks)',
  'id-reuse': 'publishes 20 messages reusing ids: of commands already applied (another payload) and of events the workers emitted (another type); each must be dead-lettered as id_reused (id-reuse)',
  pause: 'an operator pauses one partition of a worker kind (a quarter of the time the whole worker) for 5 s, as stockflow-ops pause does, then resumes it: every instance lets go within 15 s and nothing of it is applied until the resume (pause-held); its messages wait and go on in order',
  node: 'on a RabbitMQ cluster (--cluster): once every queue member is online, the node leading the most partition queues goes down for --node-down (30 s; half the time SIGKILL, a crash), then starts again; the partitions it led must move on before it is back (node-failover), and the report shows how long they stood still',
  'rolling-restart': 'on a RabbitMQ cluster (--cluster): every node in turn is stopped and started again, the next once the last runs in the cluster and every queue member is online (node-failover for each)',
  'big-headers': 'publishes 5 invalid messages whose header tables nearly fill 64 KiB; each must reach its dead queue as invalid_schema while its partition goes on (dead-letters)',
};

export const DEFAULT_FAULT_COUNTS: Record<FaultKind, number> = {
  kill: 6,
  conn: 6,
  pg: 6,
  redis: 3,
  stop: 3,
  broker: 1,
  'publisher-restart': 2,
  'leader-stop': 2,
  unroutable: 2,
  'forged-webhooks': 2,
  'id-reuse': 2,
  'big-headers': 2,
  pause: 2,
  node: 2,
  'rolling-restart': 1,
};

export type FaultSpec = { kind: FaultKind; count: number } | { kind: FaultKind; everyMs: number; perPeriod: number };

/**
 * `kill,conn` (default counts), `kill=10` (ten over the flood), `kill=1/30s` (one every
 * thirty seconds, jittered), `none`.
 */
export function parseFaults(text: string): FaultSpec[] {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === 'none') return [];
  return trimmed.split(',').map((part) => {
    const [name, value] = part.trim().split('=') as [string, string | undefined];
    if (!(FAULT_KINDS as readonly string[]).includes(name)) throw new Error(`unknown fault '${name}' (one of ${FAULT_KINDS.join(', ')})`);
    const kind = name as FaultKind;
    if (value === undefined) return { kind, count: DEFAULT_FAULT_COUNTS[kind] };
    const rate = /^(\d+)\/(\d+(?:\.\d+)?)(ms|s|m)$/.exec(value);
    if (rate) {
      const unit = { ms: 1, s: 1000, m: 60_000 }[rate[3] as 'ms' | 's' | 'm'];
      return { kind, perPeriod: Number(rate[1]), everyMs: Number(rate[2]) * unit };
    }
    if (!/^\d+$/.test(value)) throw new Error(`fault '${part}': give a count (kill=5) or a rate (kill=1/30s)`);
    return { kind, count: Number(value) };
  });
}

export function formatFaults(specs: FaultSpec[]): string {
  if (specs.length === 0) return 'none';
  return specs.map((s) => ('count' in s ? `${s.kind}=${s.count}` : `${s.kind}=${s.perPeriod}/${s.everyMs / 1000}s`)).join(',');
}

/** A planned fault: fires when the flood reached `progress` (0..1) or at `atMs` after the start. */
export interface PlannedFault {
  kind: FaultKind;
  progress?: number;
  atMs?: number;
}

/**
 * Counted faults are spread over 5 %–85 % of the flood's progress (published commands, or
 * elapsed time when only --duration bounds it), seeded; rates fire by the clock with ±30 %
 * jitter until publishing ends (the injector asks for more as time passes).
 */
export function planFaults(specs: FaultSpec[], seed: string | number, horizonMs: number | undefined): PlannedFault[] {
  const rng = Rng.derive(seed, 'faults');
  const out: PlannedFault[] = [];
  for (const s of specs) {
    if ('count' in s) {
      for (let i = 0; i < s.count; i++) {
        const progress = 0.05 + rng.next() * 0.8;
        out.push(horizonMs === undefined ? { kind: s.kind, progress } : { kind: s.kind, atMs: progress * horizonMs });
      }
    } else {
      // Enough periods for a day; the injector stops at the end of publishing.
      for (let t = 0, i = 0; t < 86_400_000 && i < 100_000; i++) {
        t += s.everyMs * (0.7 + rng.next() * 0.6);
        for (let k = 0; k < s.perPeriod; k++) out.push({ kind: s.kind, atMs: t });
      }
    }
  }
  return out.sort((a, b) => (a.progress ?? 0) - (b.progress ?? 0) || (a.atMs ?? 0) - (b.atMs ?? 0));
}
