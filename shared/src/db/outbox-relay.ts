import { Client } from 'pg';
import type { ConfirmPublisher } from '../amqp/confirm-publisher';
import type { Logger } from '../logger';
import { sleep } from '../util/time';
import { SESSION_OPTIONS } from './database';
import { outboxChannel } from './outbox';

export interface OutboxRelayOptions {
  url: string;
  schema: string;
  applicationName: string;
  publisher: ConfirmPublisher;
  log: Logger;
  pollMs: number;
  batch: number;
  retryMaxMs: number;
  /** Called with the number of rows published and the age of the oldest one, for metrics. */
  onPublished?: (count: number, oldestAgeMs: number) => void;
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
 * Publishes outbox rows in id order with publisher confirms, then deletes them.
 *
 * Several worker instances run a relay; only the one holding the session advisory lock
 * publishes, so two relays never publish the same rows at once. It wakes on LISTEN/NOTIFY
 * (sent by the committing transaction) with polling as the fallback. A crash after publish
 * and before delete republishes the rows: at-least-once, and consumers dedupe by messageId.
 * Rows are deleted only up to the first failed publish, so a retry never reorders a key.
 */
export class OutboxRelay {
  private client: Client | undefined;
  private leader = false;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private pending = false;
  private readonly abort = new AbortController();

  constructor(private readonly opts: OutboxRelayOptions) {}

  get isLeader(): boolean {
    return this.leader;
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
    while ((await this.drain()) >= this.opts.batch) {
      // full batches: more may be waiting
    }
  }

  /** Wakes the relay (the local worker just committed outbox rows). */
  nudge(): void {
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
          attempt = 0;
          if (published >= this.opts.batch || this.pending) continue;
        }
        await this.idle(this.leader ? this.opts.pollMs : Math.max(this.opts.pollMs, 1000));
      } catch (err) {
        this.opts.log.warn({ err: (err as Error).message, schema: this.opts.schema }, 'outbox relay failed; retrying');
        await this.disconnect();
        await sleep(Math.min(this.opts.retryMaxMs, 100 * 2 ** Math.min(attempt++, 6)), this.abort.signal);
      }
    }
  }

  private async connect(): Promise<void> {
    const client = new Client({ connectionString: this.opts.url, application_name: `${this.opts.applicationName}:relay`, options: SESSION_OPTIONS });
    client.on('error', (err) => {
      this.opts.log.warn({ err: err.message }, 'outbox relay connection error');
      if (this.client === client) {
        this.client = undefined;
        this.leader = false;
      }
      this.wake?.();
    });
    client.on('notification', () => this.nudge());
    await client.connect();
    await client.query(`LISTEN "${outboxChannel(this.opts.schema)}"`);
    this.client = client;
  }

  private async tryLead(): Promise<void> {
    const res = await this.client!.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [`stockflow.outbox.${this.opts.schema}`]);
    this.leader = res.rows[0]?.ok === true;
    if (this.leader) this.opts.log.info({ schema: this.opts.schema }, 'outbox relay is leader');
  }

  private async drain(): Promise<number> {
    const client = this.client;
    if (!client) return 0;
    const { rows } = await client.query<Row>(
      `SELECT id, message_id, type, exchange, routing_key, mandatory, properties, payload,
              (extract(epoch FROM now() - created_at) * 1000)::float8 AS age_ms
       FROM "${this.opts.schema}".outbox ORDER BY id LIMIT $1`,
      [this.opts.batch],
    );
    if (rows.length === 0) return 0;
    const results = await Promise.allSettled(
      rows.map((r) =>
        this.opts.publisher.publish(r.exchange, r.routing_key, Buffer.from(r.payload), {
          ...r.properties,
          messageId: r.message_id,
          type: r.type,
          mandatory: r.mandatory,
        }),
      ),
    );
    const firstFailure = results.findIndex((r) => r.status === 'rejected');
    const done = firstFailure === -1 ? rows : rows.slice(0, firstFailure);
    if (done.length > 0) await this.opts.afterPublish?.(done.map((r) => r.message_id));
    if (done.length > 0) {
      await client.query(`DELETE FROM "${this.opts.schema}".outbox WHERE id = ANY($1::bigint[])`, [done.map((r) => r.id)]);
      this.opts.onPublished?.(done.length, Math.max(...done.map((r) => r.age_ms)));
    }
    if (firstFailure !== -1) throw (results[firstFailure] as PromiseRejectedResult).reason;
    return done.length;
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
    const client = this.client;
    this.client = undefined;
    this.leader = false;
    if (client) await client.end().catch(() => undefined);
  }
}
