import { Client } from 'pg';
import type { ConfirmPublisher } from '../amqp/confirm-publisher';
import type { Logger } from '../logger';
import { sleep } from '../util/time';
import { SESSION_OPTIONS } from './database';
import { outboxChannel, type LocalRelay, type OutboxRecord } from './outbox';

export interface OutboxRelayOptions {
  url: string;
  schema: string;
  applicationName: string;
  publisher: ConfirmPublisher;
  log: Logger;
  pollMs: number;
  batch: number;
  /** Confirmed rows are deleted together once the oldest has waited this long (0: after every round). */
  deleteDelayMs: number;
  retryMaxMs: number;
  /** This worker instance: a NOTIFY carrying it comes from our own worker, written while we did not lead. */
  instanceId?: string;
  /** Called with the number of rows published, the age of the oldest one and how they were found, for metrics. */
  onPublished?: (count: number, oldestAgeMs: number, via: 'handoff' | 'table') => void;
  /** Hand-offs kept in memory at most (default MAX_HANDED_OFF); tests lower it. */
  maxHandedOff?: number;
  /** Test seam: runs after the broker confirmed a round and before the rows are deleted. */
  afterPublish?: (messageIds: string[]) => void | Promise<void>;
}

interface Row {
  id: string;
  message_id: string;
  type: string;
  exchange: string;
  routing_key: string;
  mandatory: boolean;
  properties: Record<string, unknown>;
  payload: string;
  age_ms: number;
}

/**
 * The relay's session commits without waiting for its WAL to reach the disk. Its only writes
 * are the DELETEs of rows the broker has already confirmed; one lost in a crash of Postgres
 * leaves those rows in the table, and they are published again: the same at-least-once as a
 * relay that dies between publish and delete, which consumers absorb by messageId. Visibility
 * is not affected (other sessions see the DELETE at commit), only durability. It halves the
 * WAL flushes per worker transaction and keeps the disk's flush time out of the relay's loop
 * (publish, confirm, delete, next round). The handlers' transactions keep synchronous_commit
 * on: their COMMIT is what an ack stands for.
 */
export const RELAY_SESSION_OPTIONS = `${SESSION_OPTIONS} -c synchronous_commit=off`;

/**
 * Hand-offs kept in memory at most (about 1.2 KB each). Beyond it the rows stay in the table
 * and are read from there once the queue has drained. At full load the relay falls behind the
 * worker; a 20 000-row queue held about 24 MB of the worker's heap with reservations (four
 * events each), most of its peak RSS above idle.
 */
const MAX_HANDED_OFF = 5_000;

/**
 * Publishes outbox rows in id order with publisher confirms, then deletes them, up to
 * deleteDelayMs later, together with the rows of the rounds published meanwhile.
 *
 * Several worker instances run a relay; only the one holding the session advisory lock
 * publishes, so two relays never publish the same rows at once. The leader wakes on
 * LISTEN/NOTIFY (sent by a committing transaction whose own relay does not lead) and on
 * hand-offs, with polling as the fallback. A crash after publish
 * and before delete republishes the rows: at-least-once, and consumers dedupe by messageId.
 * Rows are deleted only up to the first failed publish, so a retry never reorders a key.
 *
 * The local worker hands the rows it just committed to its own relay (handoff()), so the
 * leader publishes them without reading them back; a transaction written while its relay led
 * sends no NOTIFY. The table is still read on start, on gaining the lead, on a NOTIFY of anybody
 * else, after any failure and at least every pollMs: whatever was not handed off (other
 * instances' rows, rows of a hand-off lost to a reconnect) is published from there.
 */
export class OutboxRelay implements LocalRelay {
  private client: Client | undefined;
  private leader = false;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private pending = false;
  private readonly abort = new AbortController();
  private handedOff: (OutboxRecord & { at: number })[] = [];
  /** Hand-offs were refused for room: the table holds rows newer than the queue, read once it drains. */
  private overflowed = false;
  private mustRead = true;
  private lastReadAt = 0;
  /** Ids published from table reads lately (two generations): a late hand-off of them is stale. */
  private readIds = new Set<string>();
  private readIdsBefore = new Set<string>();
  private readIdsSince = Date.now();
  /** Ids the broker confirmed that are still in the table, and since when the oldest waits. */
  private confirmed: string[] = [];
  private confirmedSince = 0;

  constructor(private readonly opts: OutboxRelayOptions) {}

  /** What this worker's NOTIFYs carry, so its relay can tell them from anybody else's ('' without an id). */
  get instanceId(): string {
    return this.opts.instanceId ?? '';
  }

  /** Leads and takes hand-offs (a stopping relay takes none, though it holds the lock until it has flushed). */
  get isLeader(): boolean {
    return this.leader && this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Publishes what is left (best effort within the caller's grace period) and lets go of the lock. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.abort.abort();
    this.wake?.();
    await this.loop;
    await this.flush().catch((err: unknown) => this.opts.log.warn({ err: (err as Error).message }, 'outbox flush on stop failed'));
    await this.disconnect();
  }

  /**
   * Stop-time flush (the consumers have drained: what they committed is here). Takes the lead
   * if nobody holds it (the leader may have stopped just before us) and publishes until caught
   * up; when another live instance leads, its relay publishes the rest.
   */
  private async flush(): Promise<void> {
    if (!this.client) return;
    if (!this.leader) await this.tryLead();
    if (!this.leader) return;
    while ((await this.drainTable()) >= this.opts.batch) {
      // full batches: more may be waiting
    }
  }

  /**
   * Rows the local worker just committed (after COMMIT, in commit order). Only the leader keeps
   * them; elsewhere the leader's table read finds them. Returns false when it did not take them
   * (it does not lead, or is stopping): the writer must then make sure the leader hears of them.
   */
  handoff(records: OutboxRecord[]): boolean {
    if (!this.leader || !this.running) return false;
    if (records.length === 0) return true;
    if (this.overflowed || this.handedOff.length + records.length > (this.opts.maxHandedOff ?? MAX_HANDED_OFF)) {
      // Left in the table. What is queued is older and goes first; every later hand-off is
      // left too until the table has been read, so a key's rows still go out in commit order.
      this.overflowed = true;
    } else {
      const at = Date.now();
      for (const r of records) if (!this.readIds.has(r.id) && !this.readIdsBefore.has(r.id)) this.handedOff.push({ ...r, at });
    }
    this.nudge();
    return true;
  }

  /** Wakes the relay that leads (there are rows to publish); one that does not lead has nothing to do. */
  nudge(): void {
    if (!this.leader) return;
    this.pending = true;
    this.wake?.();
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (this.running) {
      try {
        if (!this.client) await this.connect();
        if (!this.leader) await this.tryLead();
        if (this.leader) {
          this.pending = false;
          const published = await this.drain();
          if (this.deleteDue() <= 0) await this.deleteConfirmed();
          attempt = 0;
          if (published >= this.opts.batch || this.pending || this.handedOff.length > 0 || this.overflowed) continue;
        } else {
          // Nothing to publish until it leads. A wake-up still pending (from its days as leader,
          // or any nudge) would otherwise skip every wait and ask for the lock in a busy loop.
          this.pending = false;
        }
        await this.idle(this.leader ? Math.min(this.opts.pollMs, this.deleteDue()) : Math.max(this.opts.pollMs, 1000));
      } catch (err) {
        this.opts.log.warn({ err: (err as Error).message, schema: this.opts.schema }, 'outbox relay failed; retrying');
        await this.disconnect();
        await sleep(Math.min(this.opts.retryMaxMs, 100 * 2 ** Math.min(attempt++, 6)), this.abort.signal);
      }
    }
  }

  private async connect(): Promise<void> {
    const client = new Client({ connectionString: this.opts.url, application_name: `${this.opts.applicationName}:relay`, options: RELAY_SESSION_OPTIONS });
    client.on('error', (err) => {
      this.opts.log.warn({ err: err.message }, 'outbox relay connection error');
      if (this.client === client) this.loseConnection();
      this.wake?.();
    });
    client.on('notification', (msg) => {
      // Only the leader publishes. A relay that does not lead tries for the lead on its own
      // clock (and reads the whole table when it gets it): woken by every commit of every
      // instance, it would ask for the lock once per transaction, for nothing.
      if (!this.leader) return;
      // Our own worker's rows come by handoff(); anybody else's must be read from the table.
      if (this.opts.instanceId && msg.payload === this.opts.instanceId) return;
      this.mustRead = true;
      this.nudge();
    });
    await client.connect();
    await client.query(`LISTEN "${outboxChannel(this.opts.schema)}"`);
    this.client = client;
  }

  private async tryLead(): Promise<void> {
    const res = await this.client!.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [`stockflow.outbox.${this.opts.schema}`]);
    this.leader = res.rows[0]?.ok === true;
    // Whatever was committed before we led was handed to nobody.
    this.mustRead = true;
    if (this.leader) this.opts.log.info({ schema: this.opts.schema }, 'outbox relay is leader');
  }

  private async drain(): Promise<number> {
    if (this.overflowed && this.handedOff.length === 0) {
      this.overflowed = false;
      this.mustRead = true;
    }
    if (this.mustRead) return this.drainTable();
    // The safety net: rows older than a poll interval were handed to nobody (handed-off ones
    // are published within milliseconds, and drainTable deletes those first); younger ones are
    // on their way by hand-off and are left to it. While the relay is behind, its queued
    // hand-offs are older than that themselves, and the read would fetch mostly them, at a
    // SELECT and a parse of each, when the relay is busiest: then it takes only rows older than
    // the oldest queued hand-off by a poll interval, and below its id (written before it: else
    // the read would scan the whole backlog by id for rows that match none), so a row nobody
    // handed off still waits about the relay's lag and one interval.
    if (Date.now() - this.lastReadAt >= this.opts.pollMs) {
      const oldest = this.handedOff[0];
      return oldest ? this.drainTable(this.opts.pollMs + Date.now() - oldest.at, oldest.id) : this.drainTable(this.opts.pollMs);
    }
    if (this.handedOff.length === 0) return 0;
    const rows = this.handedOff.splice(0, this.opts.batch);
    const now = Date.now();
    return this.publish(rows.map((r) => ({ ...r, ageMs: now - r.at })), 'handoff');
  }

  /** Reads the oldest rows of the table (id order), or only those older than `minAgeMs` (and below `beforeId`), and publishes them. */
  private async drainTable(minAgeMs?: number, beforeId?: string): Promise<number> {
    // What is read must not include rows already published.
    await this.deleteConfirmed();
    const client = this.client;
    if (!client) return 0;
    if (minAgeMs === undefined) this.mustRead = false;
    this.lastReadAt = Date.now();
    const { rows } = await client.query<Row>(
      `SELECT id, message_id, type, exchange, routing_key, mandatory, properties, payload,
              (extract(epoch FROM now() - created_at) * 1000)::float8 AS age_ms
       FROM "${this.opts.schema}".outbox
       ${minAgeMs === undefined ? '' : `WHERE created_at < now() - $2 * interval '1 millisecond'${beforeId === undefined ? '' : ' AND id < $3::bigint'}`}
       ORDER BY id LIMIT $1`,
      minAgeMs === undefined ? [this.opts.batch] : beforeId === undefined ? [this.opts.batch, minAgeMs] : [this.opts.batch, minAgeMs, beforeId],
    );
    if (rows.length === 0) return 0;
    if (this.lastReadAt - this.readIdsSince > 10_000) {
      this.readIdsBefore = this.readIds;
      this.readIds = new Set();
      this.readIdsSince = this.lastReadAt;
    }
    const read = new Set<string>();
    for (const r of rows) {
      read.add(r.id);
      this.readIds.add(r.id);
    }
    if (this.handedOff.length > 0) this.handedOff = this.handedOff.filter((r) => !read.has(r.id));
    // A full page: there may be more; read again next round rather than trust the hand-offs.
    if (rows.length >= this.opts.batch) this.mustRead = true;
    return this.publish(
      rows.map((r) => ({ id: r.id, messageId: r.message_id, type: r.type, exchange: r.exchange, routingKey: r.routing_key, mandatory: r.mandatory, properties: r.properties, payload: r.payload, ageMs: r.age_ms })),
      'table',
    );
  }

  /** Publishes in order with confirms, then deletes what the broker confirmed (up to the first failure). */
  private async publish(rows: (OutboxRecord & { ageMs: number })[], via: 'handoff' | 'table'): Promise<number> {
    const client = this.client;
    if (!client || rows.length === 0) return 0;
    const results = await Promise.allSettled(
      rows.map((r) =>
        this.opts.publisher.publish(r.exchange, r.routingKey, Buffer.from(r.payload), {
          ...r.properties,
          messageId: r.messageId,
          type: r.type,
          mandatory: r.mandatory,
        }),
      ),
    );
    const firstFailure = results.findIndex((r) => r.status === 'rejected');
    const done = firstFailure === -1 ? rows : rows.slice(0, firstFailure);
    if (done.length > 0) {
      await this.opts.afterPublish?.(done.map((r) => r.messageId));
      if (this.confirmed.length === 0) this.confirmedSince = Date.now();
      for (const r of done) this.confirmed.push(r.id);
      this.opts.onPublished?.(done.length, Math.max(...done.map((r) => r.ageMs)), via);
      if (this.confirmed.length >= this.opts.batch || this.opts.deleteDelayMs === 0) await this.deleteConfirmed();
    }
    if (firstFailure !== -1) throw (results[firstFailure] as PromiseRejectedResult).reason;
    return done.length;
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
    if (this.pending) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    this.wake = undefined;
  }

  private async disconnect(): Promise<void> {
    // Before the lock goes with the session (on stop, or after any failure, a failed round
    // included): another instance may lead next and would publish again what we published
    // and had not deleted.
    await this.deleteConfirmed().catch(() => undefined);
    const client = this.client;
    this.loseConnection();
    if (client) await client.end().catch(() => undefined);
  }

  /** Without its session the relay holds no lead, and hand-offs kept for it are dropped: the next leader reads the table. */
  private loseConnection(): void {
    this.client = undefined;
    this.leader = false;
    this.handedOff = [];
    this.overflowed = false;
    this.mustRead = true;
  }
}
