import { sameFingerprint } from '@stockflow/client/internal';
import { claimInbox } from '../../db/inbox';
import { writeOutbox, type LocalRelay, type OutboxRow } from '../../db/outbox';
import type { DedupFilter } from '../../redis/dedup-filter';
import { withoutRowLocks, type ResolvedTestHooks } from '../test-hooks';
import type { Runtime, ServiceDefinition, UnitOfWork, WorkItem } from '../types';
import { handlerContext, handlerOf, type AfterCommit } from './handler-context';

/** One partition's batch inside a (possibly merged) transaction. */
export interface TxPart {
  items: WorkItem[];
  partition: number;
  /** Filled by the handlers: what to run once the transaction committed. */
  afterCommit: AfterCommit[];
}

/** What one transaction did, and when it ran (performance.now()). */
export interface Committed {
  /** The ids it claimed fresh (applied now). */
  fresh: Set<string>;
  /** Items whose id was claimed before with another type or payload: to be dead-lettered (id_reused), not acked as duplicates. */
  reused: Set<WorkItem>;
  began: number;
  committed: number;
}

/**
 * One transaction for the batches of one or more partitions:
 *   BEGIN; claim the inbox; lock and load the rows; run the handlers in order; flush the unit
 *   of work; write the outbox rows; COMMIT.
 * Failures propagate; the apply stage decides what they mean.
 */
export class TransactionStep<U extends UnitOfWork> {
  constructor(
    private readonly def: ServiceDefinition<U>,
    private readonly rt: Runtime,
    private readonly dedup: DedupFilter,
    private readonly hooks: ResolvedTestHooks,
    /** The local outbox relay: committed outbox rows go to it in memory (OutboxRelay.handoff). */
    private readonly relay: LocalRelay | undefined,
  ) {}

  async run(parts: TxPart[], attempt: number): Promise<Committed> {
    const { db, metrics } = this.rt;
    const { sabotage } = this.hooks;
    const items = parts.length === 1 ? parts[0]!.items : parts.flatMap((p) => p.items);
    const partOf = new Map<WorkItem, TxPart>();
    for (const p of parts) for (const i of p.items) partOf.set(i, p);
    // Set once the transaction has its connection: waiting for the pool is transaction_queue.
    let began = 0;
    const outcome = await db.transaction(async (tx) => {
      began = performance.now();
      // The claim and the first statements of load() go to Postgres in one round trip: rows
      // are declared for every message before the claim has told duplicates apart. A
      // duplicate's rows are then locked for nothing (the Redis fast path keeps those rare),
      // and rows created up front for it are removed again by flush().
      const uow = this.def.createUnitOfWork(sabotage.noLocks ? withoutRowLocks(tx) : tx, this.rt);
      for (const item of items) handlerOf(this.def, item.envelope).declare?.(uow, item.payload as never);
      const lockStart = process.hrtime.bigint();
      const claiming = sabotage.noInbox
        ? Promise.resolve({ fresh: new Set(items.map((i) => i.envelope.messageId)), reused: new Set<WorkItem>() })
        : claimInbox(tx, db.schema, this.def.name, sabotage.noFingerprint ? items.map((i) => ({ ...i, fingerprint: '' })) : items);
      const loading = uow.load();
      loading.catch(() => undefined);
      const claimed = await claiming;
      await loading;
      metrics.lockWait.observe(Number(process.hrtime.bigint() - lockStart) / 1e9);
      const work: WorkItem[] = [];
      /** The item that claimed each id in this transaction: a copy later in the batch must be the same message. */
      const taken = new Map<string, WorkItem>();
      for (const item of items) {
        const id = item.envelope.messageId;
        if (!claimed.fresh.has(id)) continue;
        const first = taken.get(id);
        if (first !== undefined && !sabotage.noInbox) {
          if (!sameFingerprint(item, first.fingerprint) && !sameFingerprint(first, item.fingerprint) && !sabotage.noFingerprint) claimed.reused.add(item);
          continue;
        }
        taken.set(id, item);
        work.push(item);
      }
      if (work.length === 0) await uow.flush();
      else {
        metrics.batchSize.observe(work.length);
        const outbox: OutboxRow[] = [];
        for (const item of work) {
          const part = partOf.get(item)!;
          await handlerOf(this.def, item.envelope).handle(handlerContext(this.rt, uow, item, part.partition, outbox, part.afterCommit), item.payload as never);
        }
        await uow.flush();
        // Handed over the moment COMMIT returns: two batches that touched one row reach the
        // relay in the order they committed (the later one needs more round trips after the
        // earlier one's COMMIT released the row).
        writeOutbox(
          tx,
          db.schema,
          outbox,
          this.relay && {
            relay: this.relay,
            query: (sql, p) => db.query(sql, p),
            onNotifyError: (err) => this.rt.log.warn({ err: (err as Error).message }, "outbox NOTIFY after a lost hand-off failed; the leader's periodic read will find the rows"),
          },
        );
      }
      await this.hooks.beforeCommit?.(work, attempt);
      return { fresh: new Set(taken.keys()), reused: claimed.reused };
    });
    // Every id of a committed transaction is in the inbox now: claimed here, or by the
    // transaction a copy was waiting for. Sent with the next lookup, not per partition batch,
    // and never waited for: the ack must not wait for the fast path, which a lost write only
    // makes slower.
    this.dedup.remember(items.filter((i) => !outcome.reused.has(i)).map((i) => ({ id: i.envelope.messageId, fingerprint: i.fingerprint })));
    return { ...outcome, began, committed: performance.now() };
  }
}
