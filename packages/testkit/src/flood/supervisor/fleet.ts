import { WORKER_KINDS, type WorkerKind } from '@stockflow/shared';
import type { Rng } from '../rng';
import { WorkerProcess } from './worker-process';

export interface FleetExit {
  t: number;
  instanceId: string;
  incarnation: number;
  signal: NodeJS.Signals | null;
  code: number | null;
  /** It died on purpose right after a commit (STOCKFLOW_TEST_EXIT_AFTER_COMMIT). */
  armed: string | undefined;
}

/** Counters scraped from the workers' /metrics, summed over every incarnation seen. */
export interface FleetCounters {
  applied: number;
  duplicates: number;
  deadLettered: number;
}

/**
 * The workers a flood runs against. Owned: processes the flood started and restarts.
 * Attached: workers somebody else runs (`npm start`): no processes to kill or stop.
 */
export interface Fleet {
  readonly mode: 'owned' | 'attached';
  processes(): WorkerProcess[];
  /** Gateways of live payment workers, for the webhook relay. */
  webhookTargets(): string[];
  counters(): Promise<FleetCounters | undefined>;
  readonly exits: FleetExit[];
  /** Every process running and resumed; resolves when all are ready. */
  heal(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

const METRICS = ['stockflow_messages_total{outcome="applied"}', 'stockflow_duplicates_total', 'stockflow_dead_lettered_total'];

export interface ProcessFleetOptions {
  tag: string;
  instances: Record<WorkerKind, number>;
  env(kind: WorkerKind, instanceId: string): Record<string, string>;
  logDir: string;
  /** Pause before a dead process is started again. */
  restartDelayMs: number;
}

export class ProcessFleet implements Fleet {
  readonly mode = 'owned';
  readonly exits: FleetExit[] = [];
  private readonly all: WorkerProcess[] = [];
  private readonly nextEnv = new Map<WorkerProcess, Record<string, string>>();
  private readonly seen = new Map<string, Record<string, number>>();
  private stopping = false;
  restarts = 0;

  constructor(private readonly opts: ProcessFleetOptions) {
    const short: Record<WorkerKind, string> = { inventory: 'inv', orders: 'ord', payments: 'pay' };
    for (const kind of WORKER_KINDS) {
      for (let i = 0; i < opts.instances[kind]; i++) {
        const instanceId = `fl-${opts.tag}-${short[kind]}${i}`;
        const p = new WorkerProcess({ kind, index: i, instanceId, env: opts.env(kind, instanceId), logDir: opts.logDir });
        p.onExit = (proc, how) => this.onExit(proc, how);
        this.all.push(p);
      }
    }
  }

  async start(timeoutMs = 60_000): Promise<void> {
    for (const p of this.all) p.start();
    await Promise.all(this.all.map((p) => p.ready(timeoutMs)));
  }

  processes(): WorkerProcess[] {
    return [...this.all];
  }

  pick(rng: Rng, filter: (p: WorkerProcess) => boolean = () => true): WorkerProcess | undefined {
    const candidates = this.all.filter((p) => p.state === 'running' && filter(p));
    return candidates.length > 0 ? rng.pick(candidates) : undefined;
  }

  /** The next incarnation of `p` starts with this extra environment (once). */
  armNext(p: WorkerProcess, env: Record<string, string>): void {
    this.nextEnv.set(p, env);
  }

  webhookTargets(): string[] {
    return this.all.filter((p) => p.kind === 'payments' && p.state === 'running' && p.httpPort !== undefined).map((p) => `http://127.0.0.1:${p.httpPort}/webhooks/provider`);
  }

  private onExit(p: WorkerProcess, how: { code: number | null; signal: NodeJS.Signals | null }): void {
    this.exits.push({ t: Date.now(), instanceId: p.instanceId, incarnation: p.incarnation, signal: how.signal, code: how.code, armed: p.armed });
    if (this.stopping) return;
    setTimeout(() => {
      if (this.stopping || p.state !== 'exited') return;
      const env = this.nextEnv.get(p) ?? {};
      this.nextEnv.delete(p);
      this.restarts++;
      p.start(env);
    }, this.opts.restartDelayMs).unref();
  }

  async counters(): Promise<FleetCounters> {
    await Promise.all(
      this.all.map(async (p) => {
        const values = await p.scrape(METRICS).catch(() => undefined);
        if (values) this.seen.set(`${p.instanceId}#${p.incarnation}`, values);
      }),
    );
    const sum = (name: string) => [...this.seen.values()].reduce((s, v) => s + (v[name] ?? 0), 0);
    return { applied: sum(METRICS[0]!), duplicates: sum(METRICS[1]!), deadLettered: sum(METRICS[2]!) };
  }

  async heal(timeoutMs: number): Promise<void> {
    this.nextEnv.clear();
    for (const p of this.all) if (p.state === 'paused') p.signal('SIGCONT');
    const deadline = Date.now() + timeoutMs;
    for (const p of this.all) {
      // An instance still armed to crash after a commit is restarted plain.
      if (p.armed && p.state !== 'exited') {
        await p.stop();
        p.onExit = (proc, how) => this.onExit(proc, how);
        this.onExit(p, { code: null, signal: 'SIGTERM' });
      }
    }
    for (const p of this.all) {
      while (p.state === 'exited' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      await p.ready(Math.max(1000, deadline - Date.now()));
    }
  }

  /** No more restarts; every process SIGTERMed, SIGKILLed after `graceMs` (0: at once). */
  async stop(graceMs?: number): Promise<void> {
    this.stopping = true;
    await Promise.all(this.all.map((p) => p.stop(graceMs)));
  }
}

/** Workers the flood did not start: it can cut their connections and sessions, not their processes. */
export class AttachedFleet implements Fleet {
  readonly mode = 'attached';
  readonly exits: FleetExit[] = [];

  constructor(private readonly gateways: string[]) {}

  processes(): WorkerProcess[] {
    return [];
  }

  webhookTargets(): string[] {
    return this.gateways;
  }

  async counters(): Promise<undefined> {
    return undefined;
  }

  async heal(): Promise<void> {}

  async stop(): Promise<void> {}
}
