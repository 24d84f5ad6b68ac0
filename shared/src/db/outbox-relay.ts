import { Client } from 'pg';
import { type ConfirmPublisher, sleep } from '@stockflow/client/internal';
import { PublishError, StockflowError } from '../errors';
import type { Logger } from '../logger';
import { BUDGETS, classify, type RetryPolicy } from '../retry/policy';
import { SESSION_OPTIONS } from './database';
import { outboxChannel, publishOptions, type LocalRelay, type OutboxRecord, type OutboxRow } from './outbox';
import { dueParkedHeads, deferParkedHead, parkedKeys, parkFollowers, parkKey, unparkAfterHead } from './outbox-parking';
import type { ShardScope } from './outbox-shards';
import { readOutbox } from './outbox-read';
import { HandoffQueue, type Sendable } from './outbox-handoff-queue';
import { HeldKeys } from './outbox-held-keys';
import { publishRound, rowKey, type RowOutcome } from './outbox-round';
import { RelayLeases } from './relay-lease';
import { WakeableSleep } from '../util/wakeable-sleep';

export interface OutboxRelayOptions {
  url: string;
  schema: string;
  applicationName: string;
  publisher: ConfirmPublisher;
  log: Logger;
  /** PARTITIONS: the outbox has a shard per partition (outbox-shards.ts). */
  partitions: number;
  /** The shards it asks for until setShards() says otherwise (default: every one). */
  shards?: readonly number[];
  /**
   * The partitions the worker is about to own, looked at before every renewal: the relay
   * follows an assignment as soon as it is decided, not only once the consumers have moved
   * (a drain can take a while, and a paused instance's shards must not wait for it).
   */
  assignedTarget?: () => readonly number[] | undefined;
  pollMs: number;
  batch: number;
  /** Confirmed rows are deleted together once the oldest has waited this long (0: after every round). */
  deleteDelayMs: number;
  retryMaxMs: number;
  /** Classification, backoff and budget of a refused row (BUDGETS.relayPublish), before it is parked. */
  policy: RetryPolicy;
  /** The shard leases: an instance that has not renewed them for this long holds none (LEASE_TTL_MS). */
  leaseTtlMs: number;
  /** How often a relay renews its shard leases and asks for the wanted ones it lacks (HEARTBEAT_MS). */
  renewMs: number;
  /** This worker instance: a NOTIFY carrying it comes from our own worker, written while we did not lead. */
  instanceId?: string;
  /** Called with the number of rows published, the age of the oldest one and how they were found, for metrics. */
  onPublished?: (count: number, oldestAgeMs: number, via: 'handoff' | 'table' | 'parked') => void;
  /** A row the broker refused (nack, return, lost channel, not encodable), by PublishError kind. */
  onRefused?: (kind: string) => void;
  /** Rows parked (a refused head past its budget and the rows of its key behind it). */
  onParked?: (rows: number) => void;
  /** A row came back unroutable, or its channel closed: a queue, binding or exchange may be gone. */
  repairTopology?: () => Promise<void>;
  /** Hand-offs kept in memory at most (default MAX_HANDED_OFF, outbox-handoff-queue.ts); tests lower it. */
  maxHandedOff?: number;
  /** Makes the relay's Postgres session (default: a pg Client on `url`); unit specs pass a fake. */
  session?: () => Client;
  /** Test seam: runs after the broker confirmed a round and before the rows are deleted. */
  afterPublish?: (messageIds: string[]) => void | Promise<void>;
}

/**
 * The relay's session commits without waiting for its WAL to reach the disk. Its only writes
 * are the DELETEs of rows the broker has already confirmed (and parking); one lost in a crash
 * of Postgres leaves those rows in the table, and they are published again: the same
 * at-least-once as a relay that dies between publish and delete, which consumers absorb by
 * messageId. Visibility is not affected (other sessions see the DELETE at commit), only
 * durability. It halves the WAL flushes per worker transaction and keeps the disk's flush time
 * out of the relay's loop (publish, confirm, delete, next round). The handlers' transactions
 * keep synchronous_commit on: their COMMIT is what an ack stands for.
 */
export const RELAY_SESSION_OPTIONS = `${SESSION_OPTIONS} -c synchronous_commit=off`;

/** First wait before a parked key's head is tried again; it doubles up to PARKED_RETRY_MAX_MS. */
const PARKED_RETRY_FIRST_MS = 30_000;
const PARKED_RETRY_MAX_MS = 600_000;
/** Parked heads tried per poll at most. */
const PARKED_RETRIES_PER_POLL = 10;

/** The relay's lease ran out (by its own clock) before a publish: it does not lead any more. */
export class RelayLeaseLost extends StockflowError {}

/**
 * Publishes outbox rows in id order with publisher confirms, then deletes them. Its parts:
 *   leader election  RelayLease (relay-lease.ts): one publisher per schema at a time
 *   read             readOutbox (outbox-read.ts), and the hand-offs (outbox-handoff-queue.ts)
 *   publish          publishRound (outbox-round.ts): pipelined, per-key order kept
 *   hold and park    HeldKeys (outbox-held-keys.ts), outbox_parked (outbox-parking.ts)
 *   delete           deleteConfirmed(): the confirmed ids, together, up to deleteDelayMs later
 *
 * States (one loop, run()):
 *   disconnected  no session: connects, with backoff after a failure. Entered at start and
 *                 from any state on a lost session (a leader becomes a follower first)
 *   follower      connected, not leading: asks for the lease every max(pollMs, 1 s); NOTIFYs
 *                 and hand-offs are not for it
 *   leader        holds the lease, renewed every renewMs and checked by our own clock before
 *                 every publish. On gaining it: reads the table, forgets refusals, reads the
 *                 parked keys. Then each round drains one source (drain()), tends parked keys
 *                 every pollMs and deletes what is due
 *                 → follower when the lease is lost, taken, or ran out by our own clock (a
 *                 paused process): hand-offs are dropped, the next leader reads the table
 *   stopping      stop(): the loop ends, a final flush publishes what is left (taking the lease
 *                 if nobody holds it), the confirmed rows are deleted and the lease released.
 *                 It takes no hand-offs
 *
 * Several worker instances run a relay; only the lease holder publishes, so two relays never
 * publish the same rows at once, and a leader that is paused or hung past its lease publishes
 * nothing when it wakes (the instance that took over has). A crash after publish and before
 * delete republishes the rows: at-least-once, and consumers dedupe by messageId.
 *
 * A row the broker refuses (returned unroutable, nacked, its channel closed) holds its key:
 * the key's later rows stay in the table (hand-offs of the key are dropped, table reads skip
 * it) while every other key flows. It is retried with backoff after the topology was declared
 * again, and past BUDGETS.relayPublish, or at once when it cannot be encoded, parked with the
 * rest of its key, whose head is tried again every PARKED_RETRY_FIRST_MS, doubling. Rows the
 * broker confirmed are never published again, whatever failed beside them.
 */
export class OutboxRelay implements LocalRelay {
  private client: Client | undefined;
  private readonly leases: RelayLeases;
  /** The shards this relay asks for: its worker's partitions (setShards), every one until told. */
  private wanted: number[];
  private renewedAt = 0;
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly idleWait = new WakeableSleep();
  private pending = false;
  private readonly abort = new AbortController();
  private readonly handedOff: HandoffQueue;
  private readonly held = new HeldKeys();
  /** The table must be read before hand-offs are trusted again (gained the lead, a NOTIFY, a full page, a refusal resolved). */
  private mustRead = true;
  private lastReadAt = 0;
  /** Ids the broker confirmed that are still in the table, and since when the oldest waits. */
  private confirmed: string[] = [];
  private confirmedSince = 0;
  private parkedTendedAt = 0;

  constructor(private readonly opts: OutboxRelayOptions) {
    this.leases = new RelayLeases(opts.schema, opts.instanceId ?? 'relay', opts.leaseTtlMs);
    this.wanted = [...(opts.shards ?? Array.from({ length: opts.partitions }, (_, i) => i))].sort((a, b) => a - b);
    this.handedOff = new HandoffQueue(opts.maxHandedOff);
  }

  /** What this worker's NOTIFYs carry, so its relay can tell them from anybody else's ('' without an id). */
  get instanceId(): string {
    return this.opts.instanceId ?? '';
  }

  /** Holds a shard and takes hand-offs (a stopping relay takes none, though it holds its shards until it has flushed). */
  get isLeader(): boolean {
    return this.running && this.leading;
  }

  /** The shards it holds now, by its own clock. */
  get shards(): number[] {
    return [...this.leases.shards].sort((a, b) => a - b);
  }

  /** Who this relay is in relay_lease.holder. */
  get leaseHolder(): string {
    return this.leases.holder;
  }

  /** True when it would take every one of these rows by hand-off now: it holds all their shards. */
  relaysAll(rows: readonly Pick<OutboxRow, 'keyHash'>[]): boolean {
    if (!this.isLeader) return false;
    const held = this.leases.shards;
    return rows.every((r) => held.has(this.shardOf(r)));
  }

  /**
   * The shards to relay: the partitions its worker owns now. Shards no longer wanted are let go
   * at the next turn of the loop (after their published rows are deleted), wanted ones taken as
   * soon as they are free.
   */
  setShards(partitions: readonly number[]): void {
    const next = [...new Set(partitions)].sort((a, b) => a - b);
    if (next.length === this.wanted.length && next.every((p, i) => p === this.wanted[i])) return;
    this.wanted = next;
    this.renewedAt = 0;
    this.idleWait.wake();
  }

  private get leading(): boolean {
    return this.leases.shards.size > 0;
  }

  private shardOf(row: Pick<OutboxRow, 'keyHash'>): number {
    return row.keyHash % this.opts.partitions;
  }

  private scope(): ShardScope {
    return { partitions: this.opts.partitions, shards: this.shards };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Publishes what is left (best effort within the caller's grace period) and lets go of the lease. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.abort.abort();
    this.idleWait.wake();
    await this.loop;
    await this.flush().catch((err: unknown) => this.opts.log.warn({ err: (err as Error).message }, 'outbox flush on stop failed'));
    await this.disconnect(true);
  }

  /**
   * Stop-time flush (the consumers have drained: what they committed is here). Takes the lead
   * if nobody holds it (the leader may have stopped just before us) and publishes until caught
   * up; when another live instance leads, its relay publishes the rest.
   */
  private async flush(): Promise<void> {
    if (!this.client) return;
    if (!this.leading) await this.tryLead();
    if (!this.leading) return;
    for (let rounds = 0; rounds < 100; rounds++) {
      const published = await this.drainTable();
      if (published < this.opts.batch) return;
    }
  }

  /**
   * Rows the local worker just committed (after COMMIT, in commit order). It keeps those of the
   * shards it holds; the holders of the others find theirs in the table. Returns false when it
   * did not take them all (it holds not all their shards, or is stopping): the writer must then
   * make sure the other holders hear of them.
   */
  handoff(records: OutboxRecord[]): boolean {
    if (!this.isLeader) return false;
    if (records.length === 0) return true;
    const held = this.leases.shards;
    const mine = held.size === this.opts.partitions ? records : records.filter((r) => held.has(this.shardOf(r)));
    if (mine.length > 0) {
      this.handedOff.offer(mine);
      this.nudge();
    }
    return mine.length === records.length;
  }

  /** Wakes the relay if it holds a shard (there are rows to publish); one that holds none has nothing to do. */
  nudge(): void {
    if (!this.leading) return;
    this.pending = true;
    this.idleWait.wake();
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (this.running) {
      try {
        if (!this.client) await this.connect();
        if (!this.leading || Date.now() - this.renewedAt >= this.opts.renewMs) await this.tryLead();
        if (this.leading) {
          this.pending = false;
          const published = await this.drain();
          if (Date.now() - this.parkedTendedAt >= this.opts.pollMs) await this.tendParked();
          if (this.deleteDue() <= 0) await this.deleteConfirmed();
          attempt = 0;
          if (published >= this.opts.batch || this.pending || this.handedOff.length > 0 || this.handedOff.overflowing) continue;
        } else {
          // Nothing to publish until it holds a shard. A wake-up still pending (from when it held
          // some, or any nudge) would otherwise skip every wait and ask for leases in a busy loop.
          this.pending = false;
        }
        await this.idle(this.leading ? Math.min(this.opts.pollMs, this.deleteDue(), this.held.retryDue(), this.opts.renewMs) : Math.max(this.opts.pollMs, 1000));
      } catch (err) {
        this.opts.log.warn({ err: (err as Error).message, schema: this.opts.schema }, 'outbox relay failed; retrying');
        await this.disconnect(false);
        await sleep(Math.min(this.opts.retryMaxMs, this.opts.policy.backoff(attempt++)), this.abort.signal);
      }
    }
  }

  private async connect(): Promise<void> {
    const client = this.opts.session?.() ?? new Client({ connectionString: this.opts.url, application_name: `${this.opts.applicationName}:relay`, options: RELAY_SESSION_OPTIONS });
    client.on('error', (err) => {
      this.opts.log.warn({ err: err.message }, 'outbox relay connection error');
      if (this.client === client) this.loseConnection();
      this.idleWait.wake();
    });
    client.on('notification', (msg) => {
      // Only shard holders publish. A relay that holds none asks for its shards on its own
      // clock (and reads the table when it gets one): woken by every commit of every
      // instance, it would ask for leases once per transaction, for nothing.
      if (!this.leading) return;
      // Our own worker's rows come by handoff(); anybody else's must be read from the table.
      if (this.opts.instanceId && msg.payload === this.opts.instanceId) return;
      this.mustRead = true;
      this.nudge();
    });
    await client.connect();
    await client.query(`LISTEN "${outboxChannel(this.opts.schema)}"`);
    this.client = client;
  }

  /**
   * Renews the shards it holds, takes the wanted ones that are free, lets go of the unwanted
   * ones (after deleting their published rows, so the next holder does not publish them again).
   * On any change it reads the table (what was committed meanwhile was handed to nobody) and
   * starts its per-key state afresh.
   */
  private async tryLead(): Promise<void> {
    const client = this.session();
    this.renewedAt = Date.now();
    const target = this.opts.assignedTarget?.();
    if (target) this.setShards(target);
    if ([...this.leases.shards].some((s) => !this.wanted.includes(s))) await this.deleteConfirmed();
    const { gained, lost } = await this.leases.acquire(client, this.wanted);
    if (gained.length === 0 && lost.length === 0) return;
    this.mustRead = true;
    this.held.forgetRefusals();
    if (lost.length > 0) this.handedOff.clear();
    this.held.setParked(this.leading ? await parkedKeys(client, this.opts.schema, this.scope()) : new Set());
    this.opts.log.info({ schema: this.opts.schema, holder: this.leases.holder, shards: this.shards, gained, lost }, 'outbox relay shards changed');
  }

  /** Its shards ran out by its own clock, or its session is gone: it holds none now, and hand-offs kept for it are dropped. */
  private becomeFollower(): void {
    this.leases.drop();
    this.handedOff.clear();
    this.mustRead = true;
  }

  /**
   * One round as leader, from one of three sources:
   *   the whole table  when mustRead is set, after an overflow drained, or when a refused row's
   *                    retry is due
   *   the safety net   every pollMs: rows nobody handed off (other instances', or a hand-off
   *                    lost to a reconnect) are the ones older than a poll interval. While the
   *                    relay lags, queued hand-offs are that old themselves, so the read then
   *                    takes only rows a poll interval older than the oldest queued hand-off and
   *                    below its id: it does not fetch the queue's rows again, nor scan the
   *                    backlog for rows that match none
   *   the hand-offs    otherwise
   */
  private async drain(): Promise<number> {
    if (this.handedOff.takeDrainedOverflow()) this.mustRead = true;
    if (this.mustRead || this.held.retryDue() <= 0) return this.drainTable();
    if (Date.now() - this.lastReadAt >= this.opts.pollMs) {
      const oldest = this.handedOff.oldest;
      return oldest ? this.drainTable(this.opts.pollMs + Date.now() - oldest.at, oldest.id) : this.drainTable(this.opts.pollMs);
    }
    if (this.handedOff.length === 0) return 0;
    return this.publish(this.handedOff.take(this.opts.batch, this.held.all()), 'handoff');
  }

  /**
   * Reads the oldest rows of the table (id order), or only those older than `minAgeMs` (and
   * below `beforeId`), and publishes them. Rows of held keys are left out, but for refused rows
   * whose retry is due.
   */
  private async drainTable(minAgeMs?: number, beforeId?: string): Promise<number> {
    // What is read must not include rows already published.
    await this.deleteConfirmed();
    const client = this.client;
    if (!client) return 0;
    if (minAgeMs === undefined) this.mustRead = false;
    this.lastReadAt = Date.now();
    const held = this.held.all();
    const rows = await readOutbox(client, this.opts.schema, { limit: this.opts.batch, minAgeMs, beforeId, held, due: held.size > 0 ? this.held.dueIds(this.lastReadAt) : [], scope: this.scope() });
    if (rows.length === 0) return 0;
    this.handedOff.readFromTable(
      rows.map((r) => r.id),
      this.lastReadAt,
    );
    // A full page: there may be more; read again next round rather than trust the hand-offs.
    if (rows.length >= this.opts.batch) this.mustRead = true;
    return this.publish(rows, 'table');
  }

  /**
   * Sends one row with confirms, if the lease is still ours by our own clock: its copy for the
   * consumer and, for an event with one, then its copy for watchers. The watchers' copy waits
   * for the consumer's confirm: sent beside it, it went out again with every retry of a refused
   * consumer copy.
   */
  private send(r: OutboxRecord): Promise<void> {
    if (!this.leases.holds(this.shardOf(r))) return Promise.reject(new RelayLeaseLost(`relay lease of ${this.opts.schema} shard ${this.shardOf(r)} ran out before publishing`));
    const body = Buffer.from(r.payload);
    const main = this.opts.publisher.publish(r.exchange, r.routingKey, body, publishOptions(r, r.mandatory));
    const { watchExchange, watchRoutingKey } = r;
    if (!watchExchange || !watchRoutingKey) return main;
    return main.then(() => this.opts.publisher.publish(watchExchange, watchRoutingKey, body, publishOptions(r, false)));
  }

  /** Publishes a round (outbox-round.ts), records what the broker confirmed, and deals with what it refused. */
  private async publish(rows: Sendable[], via: 'handoff' | 'table'): Promise<number> {
    const client = this.client;
    if (!client || rows.length === 0) return 0;
    const outcomes = await publishRound(rows, (r) => this.send(r));
    const done = outcomes.filter((o) => o.status === 'confirmed').map((o) => o.row);
    if (done.length > 0) {
      await this.opts.afterPublish?.(done.map((r) => r.messageId));
      if (this.confirmed.length === 0) this.confirmedSince = Date.now();
      for (const r of done) {
        this.confirmed.push(r.id);
        if (this.held.release(r.id)) this.mustRead = true;
      }
      this.opts.onPublished?.(done.length, Math.max(...done.map((r) => r.ageMs)), via);
      if (this.confirmed.length >= this.opts.batch || this.opts.deleteDelayMs === 0) await this.deleteConfirmed();
    }
    const failed = outcomes.filter((o): o is Extract<RowOutcome<Sendable>, { status: 'failed' }> => o.status === 'failed');
    if (failed.length > 0) await this.refusedRows(failed);
    return done.length;
  }

  /**
   * Rows the broker refused: retried after backoff (the topology declared again first when the
   * route or the channel was missing), parked with their key past BUDGETS.relayPublish or when no
   * retry can help. A lease that ran out makes the relay a follower instead.
   */
  private async refusedRows(failed: { row: Sendable; error: unknown }[]): Promise<void> {
    if (failed.some((f) => f.error instanceof RelayLeaseLost)) {
      this.opts.log.warn({ schema: this.opts.schema }, 'outbox relay lease ran out (paused or starved?); stepping down');
      this.becomeFollower();
      return;
    }
    let repair = false;
    for (const { row, error } of failed) {
      const kind = error instanceof PublishError ? error.kind : 'error';
      this.opts.onRefused?.(kind);
      if (kind === 'unroutable' || kind === 'channel_closed') repair = true;
      const key = rowKey(row);
      const attempts = this.held.attemptsOf(row.id) + 1;
      const next = this.opts.policy.next(error, attempts - 1, BUDGETS.relayPublish);
      this.opts.log.warn({ messageId: row.messageId, type: row.type, partitionKey: key, attempts, kind, err: (error as Error).message }, next.retry ? 'broker refused an outbox row; its key waits for the retry' : 'broker refused an outbox row past its budget; parking its key');
      if (next.retry) {
        this.held.refuse(row.id, key, attempts, next.delayMs);
      } else {
        this.held.release(row.id);
        // Published rows of the key must be gone before the key's rows move.
        await this.deleteConfirmed();
        const n = await parkKey(this.session(), this.opts.schema, key, { id: row.id, reason: `${classify(error)} ${kind}: ${(error as Error).message}`, attempts, retryInMs: PARKED_RETRY_FIRST_MS });
        this.held.park(key);
        this.opts.onParked?.(n);
      }
    }
    this.handedOff.dropKeys(this.held.all());
    if (repair) await this.opts.repairTopology?.().catch((err: unknown) => this.opts.log.warn({ err: (err as Error).message }, 'topology repair failed'));
  }

  /**
   * Parked keys: the list is read again (an operator may have discarded some), rows of parked
   * keys that reached the outbox since join them, and heads whose retry is due are tried: one
   * that goes through takes its key's other rows back to the outbox, in order.
   */
  private async tendParked(): Promise<void> {
    const client = this.session();
    this.parkedTendedAt = Date.now();
    this.held.setParked(await parkedKeys(client, this.opts.schema, this.scope()));
    if (this.held.parkedKeys.size === 0) return;
    const followers = await parkFollowers(client, this.opts.schema, [...this.held.parkedKeys]);
    if (followers > 0) this.opts.onParked?.(followers);
    for (const head of await dueParkedHeads(client, this.opts.schema, PARKED_RETRIES_PER_POLL, this.scope())) {
      try {
        await this.send(head);
      } catch (err) {
        if (err instanceof RelayLeaseLost) return this.becomeFollower();
        const attempts = head.attempts + 1;
        const retryInMs = Math.min(PARKED_RETRY_MAX_MS, PARKED_RETRY_FIRST_MS * 2 ** Math.min(attempts, 10));
        await deferParkedHead(client, this.opts.schema, head.id, attempts, retryInMs, `${classify(err)} ${err instanceof PublishError ? err.kind : 'error'}: ${(err as Error).message}`);
        continue;
      }
      await unparkAfterHead(client, this.opts.schema, head.partitionKey, head.id);
      this.held.unpark(head.partitionKey);
      this.mustRead = true;
      this.opts.onPublished?.(1, head.ageMs, 'parked');
      this.opts.log.info({ messageId: head.messageId, partitionKey: head.partitionKey }, 'parked outbox row published; its key flows again');
    }
  }

  /** Milliseconds until the confirmed rows are due for deletion (Infinity: none wait). */
  private deleteDue(): number {
    return this.confirmed.length === 0 ? Infinity : this.confirmedSince + this.opts.deleteDelayMs - Date.now();
  }

  /**
   * Deletes the rows the broker has confirmed. The DELETE waits up to deleteDelayMs (or until
   * a round's worth of ids waits), so that one DELETE (a round trip and a transaction of its
   * own) covers the rows of many worker transactions instead of one each. Every table read
   * deletes first, so a read never finds a row already published. The ids survive a lost
   * session: rows a new leader has meanwhile published again and deleted are simply not found.
   */
  private async deleteConfirmed(): Promise<void> {
    const client = this.client;
    if (!client || this.confirmed.length === 0) return;
    const ids = this.confirmed.slice();
    await client.query(`DELETE FROM "${this.opts.schema}".outbox WHERE id = ANY($1::bigint[])`, [ids]);
    this.confirmed.splice(0, ids.length);
    this.confirmedSince = Date.now();
  }

  private async idle(ms: number): Promise<void> {
    if (!this.pending) await this.idleWait.sleep(ms);
  }

  private async disconnect(release: boolean): Promise<void> {
    // Before the lease goes (on stop, or after any failure): another instance may lead next
    // and would publish again what we published and had not deleted.
    await this.deleteConfirmed().catch(() => undefined);
    const client = this.client;
    if (client && release && this.leading) await this.leases.release(client).catch(() => undefined);
    this.loseConnection();
    if (client) await client.end().catch(() => undefined);
  }

  /** The relay's session; lost (its 'error' event) while a round ran, the round fails and the loop reconnects. */
  private session(): Client {
    if (!this.client) throw new Error('outbox relay session lost');
    return this.client;
  }

  /** Without its session the relay cannot renew its lease: it stops leading now, and hand-offs kept for it are dropped. */
  private loseConnection(): void {
    this.client = undefined;
    this.becomeFollower();
  }
}
