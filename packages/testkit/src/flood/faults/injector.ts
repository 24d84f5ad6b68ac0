import { FAULT_ACTIONS, FaultSkipped, type FaultContext } from './actions';
import { FAULT_KINDS, NODE_FAULT_KINDS, type FaultKind, type PlannedFault } from './plan';
import type { NodeOutage } from './node-actions';
import { ensureBrokerRunning } from './rabbitmqctl';

export interface FaultRecord {
  t: number;
  kind: FaultKind;
  target: string;
  detail: string;
  /** false: skipped or failed (then `detail` says why); it is not counted as injected. */
  ok: boolean;
  /** Figures an invariant reads (relay-failover, forged-webhooks). */
  measure?: Record<string, number>;
  /** The nodes a node fault took down (node-failover). */
  outages?: NodeOutage[];
}

/**
 * Fires the planned faults as the flood progresses, one at a time (a fault never overlaps
 * the injection of another; its effects, such as a restart, do), and heals everything at
 * the end: stopped workers continued, dead ones restarted, the broker running. The node
 * faults keep a RabbitMQ node down for most of a minute: they go one at a time on a chain of
 * their own (two nodes of three down would be a lost majority, not a failover), while the
 * other faults go on meanwhile, as a worker crash during a node outage would.
 */
export class FaultInjector {
  readonly records: FaultRecord[] = [];
  private readonly due: PlannedFault[];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private runningNodes: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Faults already due are dropped too (an interrupted run), not only those to come. */
  private aborted = false;
  private brokerTouched = false;
  private startedAt = 0;

  constructor(
    private readonly ctx: FaultContext,
    planned: PlannedFault[],
  ) {
    this.due = [...planned];
  }

  /** `progress()` is the flood's share done (0..1), for count-planned faults. */
  start(progress: () => number): void {
    this.startedAt = Date.now();
    this.timer = setInterval(() => {
      if (this.stopped) return;
      const p = progress();
      const elapsed = Date.now() - this.startedAt;
      const ready = this.due.filter((f) => (f.progress !== undefined && p >= f.progress) || (f.atMs !== undefined && elapsed >= f.atMs));
      if (ready.length === 0) return;
      for (const f of ready) this.due.splice(this.due.indexOf(f), 1);
      const kinds = ready.map((f) => f.kind);
      const nodes = kinds.filter((k) => NODE_FAULT_KINDS.includes(k));
      const others = kinds.filter((k) => !NODE_FAULT_KINDS.includes(k));
      if (others.length > 0) this.running = this.running.then(() => this.fireAll(others));
      if (nodes.length > 0) this.runningNodes = this.runningNodes.then(() => this.fireAll(nodes));
    }, 250);
  }

  private async fireAll(kinds: FaultKind[]): Promise<void> {
    for (const kind of kinds) {
      if (this.aborted) return;
      await this.fire(kind);
    }
  }

  async fire(kind: FaultKind): Promise<FaultRecord> {
    const t = Date.now();
    if (kind === 'broker') this.brokerTouched = true;
    let record: FaultRecord;
    try {
      const out = await FAULT_ACTIONS[kind](this.ctx);
      record = { t, kind, target: out.target, detail: out.detail, ok: true, ...(out.measure ? { measure: out.measure } : {}), ...(out.outages ? { outages: out.outages } : {}) };
    } catch (err) {
      record = { t, kind, target: '-', detail: err instanceof FaultSkipped ? err.message : `failed: ${(err as Error).message}`, ok: false };
    }
    this.records.push(record);
    this.ctx.log(`fault ${record.ok ? '' : '(not injected) '}${kind}: ${record.target} ${record.detail}`);
    return record;
  }

  counts(): Record<FaultKind, number> {
    const out = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
    for (const r of this.records) if (r.ok) out[r.kind]++;
    return out;
  }

  /**
   * Stops firing: no fault comes due any more. With `finishDue`, the faults that came due while
   * commands flowed but wait behind a slow one fire first (a busy host makes the chain fall
   * behind, and a planned fault is never dropped); otherwise only the one being injected finishes.
   */
  async stop(opts: { finishDue?: boolean } = {}): Promise<void> {
    this.stopped = true;
    if (!opts.finishDue) this.aborted = true;
    clearInterval(this.timer);
    await Promise.all([this.running, this.runningNodes]);
  }

  /** The end of publishing: the faults due fire, then everything is put right. */
  async heal(timeoutMs: number): Promise<void> {
    await this.stop({ finishDue: true });
    await this.settle();
    await this.ctx.fleet.heal(timeoutMs);
  }

  /**
   * Stops firing and puts right what would outlive the run: the broker (or every cluster node)
   * running again, stopped workers continued (now rather than when their timers would have).
   * Dead workers are left to the fleet; at the end of a run it stops them anyway.
   */
  async settle(): Promise<void> {
    await this.stop();
    if (this.brokerTouched) await ensureBrokerRunning();
    await this.ctx.cluster?.restore();
    for (const p of this.ctx.fleet.processes()) if (p.state === 'paused') p.signal('SIGCONT');
  }
}
