import type { InventoryUnitOfWork } from '@stockflow/inventory-worker';
import { partitionOf, type MessageType, type Payload, type Publisher, type Worker } from '@stockflow/shared';
import { eventually, startInventory, TestEnv, type DeadMessage, type EventTap, type TappedEvent } from '../support';
import { levelsTrail, stockOf } from './invariants';
import { SplitPartitions } from './split-partitions';

export interface RigOptions {
  /** In-process inventory workers, each active on its share of the partitions (default 2). */
  instances?: number;
  partitions?: number;
  /** Worker environment overrides (BATCH_SIZE, EXPIRY_* …). */
  worker?: Record<string, string | number>;
}

export interface Command<T extends MessageType = MessageType> {
  type: T;
  payload: Payload<T>;
  messageId: string;
}

export function command<T extends MessageType>(type: T, payload: Payload<T>, messageId: string): Command<T> {
  return { type, payload, messageId };
}

/** Generous: these tests share two cores with other test runs. */
export const SETTLE_MS = 90_000;

/**
 * One TestEnv with several real inventory workers, an event tap and two publishers (two
 * channels, so concurrent sends have no order between them unless a test makes one).
 */
export class InventoryRig {
  readonly log: { lines: string[] };

  private constructor(
    readonly env: TestEnv,
    readonly workers: Worker<InventoryUnitOfWork>[],
    readonly tap: EventTap,
    readonly pubs: [Publisher, Publisher],
    capture: { lines: string[] },
  ) {
    this.log = capture;
  }

  static async start(label: string, opts: RigOptions = {}): Promise<InventoryRig> {
    const partitions = opts.partitions ?? 8;
    const instances = opts.instances ?? 2;
    const env = await TestEnv.create(label, { partitions });
    const capture = env.captureLog();
    const assigners: SplitPartitions[] = [];
    const workers: Worker<InventoryUnitOfWork>[] = [];
    for (let i = 0; i < instances; i++) {
      const mine = Array.from({ length: partitions }, (_, p) => p).filter((p) => p % instances === i);
      const assigner = new SplitPartitions(mine, partitions);
      assigners.push(assigner);
      workers.push(await startInventory(env, opts.worker, { log: capture.log, assigner: () => assigner }));
    }
    for (const a of assigners) await a.standbyForAll();
    const tap = await env.tap();
    const pubs: [Publisher, Publisher] = [await env.publisher(), await env.publisher()];
    return new InventoryRig(env, workers, tap, pubs, capture);
  }

  get pub(): Publisher {
    return this.pubs[0];
  }

  /** Registers warehouses and waits until they are known (other keys, other partitions). */
  async warehouses(ids: string[]): Promise<void> {
    await this.run(ids.map((id) => command('RegisterWarehouse', { warehouseId: id, name: id }, `wh-${id}`)));
  }

  /** Receives stock on every line and waits until all of it is applied. */
  async stockUp(lines: { productId: string; warehouseId: string; quantity: number }[], tag = 'stock-up'): Promise<void> {
    await this.run(lines.map((l, i) => command('ReceiveStock', l, `${tag}-${l.productId}-${l.warehouseId}-${i}`)));
  }

  /**
   * Publishes all at once, alternating between the two publishers, and resolves when the
   * broker confirmed every one. Commands that must keep their relative order need one send()
   * after the other on one publisher instead.
   */
  async sendAll(commands: Command[]): Promise<string[]> {
    await Promise.all(commands.map((c, i) => this.pubs[i % 2]!.send(c.type, c.payload as never, { messageId: c.messageId })));
    return commands.map((c) => c.messageId);
  }

  /** sendAll, then waits for every command's answer. */
  async run(commands: Command[], timeoutMs = SETTLE_MS): Promise<Map<string, TappedEvent[]>> {
    await this.sendAll(commands);
    return this.answers(commands.map((c) => c.messageId), timeoutMs);
  }

  /**
   * Every inventory command is answered by an outcome event caused by it (applied or refused),
   * so "each id has an outcome" is the end of its processing as a client sees it. Returns the
   * distinct events caused by each id.
   */
  async answers(messageIds: string[], timeoutMs = SETTLE_MS): Promise<Map<string, TappedEvent[]>> {
    const wanted = new Set(messageIds);
    await this.tap.waitFor(() => {
      const answered = new Set(this.tap.events.filter((e) => e.causationId !== undefined && wanted.has(e.causationId)).map((e) => e.causationId));
      return answered.size === wanted.size;
    }, timeoutMs);
    return this.causedBy(messageIds);
  }

  /** Distinct (by event id) events caused by each of these command ids. */
  causedBy(messageIds: string[]): Map<string, TappedEvent[]> {
    const out = new Map<string, TappedEvent[]>(messageIds.map((id) => [id, []]));
    const seen = new Set<string>();
    for (const e of this.tap.events) {
      if (e.causationId === undefined || !out.has(e.causationId) || seen.has(e.messageId)) continue;
      seen.add(e.messageId);
      out.get(e.causationId)!.push(e);
    }
    return out;
  }

  /** The types of the events caused by each of these ids, sorted: one per command, as a rule. */
  static outcomes(answers: Map<string, TappedEvent[]>): Map<string, string[]> {
    return new Map([...answers].map(([id, events]) => [id, events.map((e) => e.type).sort()]));
  }

  /** Waits until the inventory partition queues are drained and the outbox is empty. */
  async quiesce(timeoutMs = SETTLE_MS): Promise<void> {
    await this.env.waitIdle(timeoutMs, ['inventory']);
  }

  /** The history of one row from the `levels` of every event, once it has reached the row's current version. */
  async trail(productId: string, warehouseId: string): Promise<ReturnType<typeof levelsTrail>> {
    return eventually(async () => {
      const row = await stockOf(this.env, productId, warehouseId);
      const trail = levelsTrail(this.tap.distinct(), productId, warehouseId);
      expect(trail.last?.version).toBe(row?.version);
      return trail;
    }, 30_000);
  }

  /** Messages handled by all workers of the rig with this outcome (applied, duplicate, dead_lettered). */
  async processed(outcome: 'applied' | 'duplicate' | 'dead_lettered'): Promise<number> {
    let n = 0;
    for (const w of this.workers) {
      for (const v of (await w.runtime.metrics.processed.get()).values) if (v.labels.outcome === outcome) n += v.value;
    }
    return n;
  }

  /** ExpireReservation commands the rig's schedulers sent, by source. */
  async expirySends(source: 'redis' | 'sweep'): Promise<number> {
    let n = 0;
    for (const w of this.workers) {
      for (const v of (await w.runtime.metrics.reservationExpiries.get()).values) if (v.labels.source === source) n += v.value;
    }
    return n;
  }

  async deadLetters(): Promise<DeadMessage[]> {
    return this.env.peekDeadQueues('inventory');
  }

  /** Log lines of retried batches (transient failures such as deadlocks or lock timeouts). */
  retriedBatches(): string[] {
    return this.log.lines.filter((l) => l.includes('batch failed'));
  }

  /**
   * Stops every worker and waits until their Postgres sessions are gone: a backend reports
   * its statistics (deadlocks among them) for sure only when it exits.
   */
  async stopWorkers(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
    await eventually(async () => {
      const [row] = await this.env.query<{ n: string }>(
        `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'stockflow:inventory-worker:%'`,
      );
      expect(Number(row!.n)).toBe(0);
    }, 30_000);
  }

  async cleanup(): Promise<void> {
    await this.env.cleanup();
  }
}

/**
 * `n` ids of the form `<prefix>-<k>` whose partitions cycle through every partition, so a
 * test's reservations are applied by every partition consumer at once.
 */
export function idsOverPartitions(prefix: string, n: number, partitions: number): string[] {
  const buckets: string[][] = Array.from({ length: partitions }, () => []);
  for (let k = 0; buckets.some((b) => b.length < Math.ceil(n / partitions)); k++) {
    const id = `${prefix}-${k}`;
    const bucket = buckets[partitionOf(id, partitions)]!;
    if (bucket.length < Math.ceil(n / partitions)) bucket.push(id);
  }
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) out.push(buckets[i % partitions]![Math.floor(i / partitions)]!);
  return out;
}
