import { Client, type Pool } from 'pg';
import type { ConsumeMessage } from 'amqplib';
import { contracts, deadLetterExchange, declareQueueKeepingGroupSize, isDataException, quorumArguments, type QuorumGroupSize, eventsExchange, exchangesOf, gatewayOutcomesQueue, HEADER, partitionQueue, WORKER_KINDS, type AmqpConnection, type EventContract, type Logger } from '@stockflow/shared';
import { findCommand, OUTCOME_CHANNEL, settle, type CommandRow } from './db/commands-table';
import { OutcomeWaiters } from './outcome-waiters';

const PREFETCH = 200;
/** A waiter looks at its row this often even without a notification (one lost on a reconnect). */
const RECHECK_MS = 1_000;
const LISTEN_RETRY_MS = 1_000;

/** Every event says what became of the command that caused it. */
const OUTCOME_EVENTS = new Map(Object.entries(contracts).filter(([, c]) => c.kind === 'event') as [string, EventContract][]);

const SETTLED = new Set(['processed', 'applied', 'rejected', 'dead_lettered']);
const settled = (row: CommandRow | undefined) => row !== undefined && SETTLED.has(row.state);
/**
 * The outcome queue's bounds: what the gateway cannot record is retried, then dropped (only a
 * waiting answer misses it; nothing of the command depends on it), and a queue nobody consumes
 * (the gateway removed) stops growing.
 */
const QUEUE_BOUNDS = { 'x-delivery-limit': 20, 'x-max-length': 1_000_000, 'x-overflow': 'drop-head' };
/** A recording that failed for a passing reason (Postgres away) is handed back after this long. */
const REQUEUE_AFTER_MS = 1_000;

/**
 * Learns what became of the commands the gateway accepted, and wakes the requests waiting for it.
 *
 * One durable queue shared by every gateway instance takes a copy of each outcome event (by
 * type, from the events exchange) and of each dead letter (from the dead-letter exchange): what
 * arrives while no gateway runs waits there. Whichever instance consumes it records the outcome
 * on the command's row and NOTIFYs; every instance LISTENs and wakes its own waiters, which
 * also re-read their row every RECHECK_MS, so a notification lost on a reconnect only delays.
 * Events of commands the gateway did not accept match no row and are dropped.
 */
export class Outcomes {
  private readonly waiters: OutcomeWaiters<CommandRow>;
  private listener: Client | undefined;
  private stopped = false;
  private unregister: (() => void) | undefined;

  constructor(
    private readonly opts: { pool: Pool; databaseUrl: string; amqp: AmqpConnection; namespace: string; partitions: number; quorumGroupSize: QuorumGroupSize | undefined; log: Logger },
  ) {
    this.waiters = new OutcomeWaiters({ read: (id) => findCommand(opts.pool, id), settled, recheckMs: RECHECK_MS });
  }

  async start(): Promise<void> {
    await this.listen();
    this.unregister = await this.opts.amqp.register(async (conn) => {
      const ch = await conn.createChannel();
      ch.on('error', (err: Error) => this.opts.log.warn({ err: err.message }, 'outcome channel error'));
      const queue = gatewayOutcomesQueue(this.opts.namespace);
      // The workers declare these too, the same way: a gateway started first must not fail.
      for (const e of exchangesOf(this.opts.namespace)) await ch.assertExchange(e.name, e.type, { durable: true });
      // Replicated like the partition queues (QUORUM_GROUP_SIZE); an existing queue keeps its members.
      await declareQueueKeepingGroupSize(() => conn.createChannel(), { name: queue, options: { durable: true, arguments: { ...quorumArguments(this.opts), ...QUEUE_BOUNDS } }, bindings: [] });
      for (const [type] of OUTCOME_EVENTS) await ch.bindQueue(queue, eventsExchange(this.opts.namespace), `${type}.*`);
      for (const kind of WORKER_KINDS) {
        for (let p = 0; p < this.opts.partitions; p++) await ch.bindQueue(queue, deadLetterExchange(this.opts.namespace), partitionQueue(this.opts.namespace, kind, p, this.opts.partitions));
      }
      await ch.prefetch(PREFETCH);
      // The channel may be gone by the time a recording ends (a reconnect): its deliveries come
      // again on the new one, so a failed ack or nack is nothing to act on.
      const settle = (fn: () => void) => {
        try {
          fn();
        } catch {
          // channel closed
        }
      };
      await ch.consume(queue, (m) => {
        if (!m) return;
        this.record(m).then(
          () => settle(() => ch.ack(m)),
          (err: unknown) => {
            const messageId = m.properties.messageId as string | undefined;
            if (isDataException(err)) {
              this.opts.log.error({ err: (err as Error).message, messageId }, 'an outcome the gateway cannot store: dropped (GET and waits for its command stay at accepted)');
              settle(() => ch.ack(m));
              return;
            }
            this.opts.log.warn({ err: (err as Error).message, messageId }, 'recording an outcome failed; handed back in a second');
            setTimeout(() => settle(() => ch.nack(m, false, true)), REQUEUE_AFTER_MS).unref();
          },
        ).catch(() => undefined);
      });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unregister?.();
    this.waiters.wakeAll();
    await this.listener?.end().catch(() => undefined);
  }

  /** The row once it is settled, or as it is when `ms` ran out. */
  waitFor(messageId: string, ms: number): Promise<CommandRow | undefined> {
    return this.waiters.waitFor(messageId, ms, () => this.stopped);
  }

  private async record(m: ConsumeMessage): Promise<void> {
    const headers: Record<string, unknown> = m.properties.headers ?? {};
    if (m.fields.exchange === deadLetterExchange(this.opts.namespace)) {
      const id = m.properties.messageId as string | undefined;
      // The worker's own reason, or the broker's (a delivery limit reached) when it dead-lettered.
      const reason = [headers[HEADER.reason], headers['x-first-death-reason']].find((r) => typeof r === 'string' || Buffer.isBuffer(r));
      if (id) await settle(this.opts.pool, id, 'dead_lettered', null, null, reason === undefined ? 'dead-lettered' : String(reason));
      return;
    }
    const type = m.properties.type as string | undefined;
    const cause: unknown = headers[HEADER.causationId];
    const contract = type ? OUTCOME_EVENTS.get(type) : undefined;
    if (!contract || typeof cause !== 'string') return;
    let payload: unknown;
    try {
      payload = JSON.parse(m.content.toString('utf8')) as unknown;
    } catch {
      return;
    }
    await settle(this.opts.pool, cause, contract.refusal ? 'rejected' : 'applied', type!, payload, contract.refusal ? refusalReason(payload) : null);
  }

  private wake(messageId: string | undefined): void {
    if (messageId) this.waiters.wake(messageId);
  }

  /**
   * LISTENs on a session of its own, connected again each second when it drops or cannot
   * connect (the first time, at start, a failure is the start's). Meanwhile waiters poll.
   */
  private async listen(): Promise<void> {
    const client = new Client({ connectionString: this.opts.databaseUrl, application_name: 'stockflow:gateway:listen' });
    let lost = false;
    const again = (err: Error) => {
      if (lost) return;
      lost = true;
      this.opts.log.warn({ err: err.message }, 'outcome notifications lost; listening again');
      client.end().catch(() => undefined);
      if (!this.stopped) setTimeout(() => void this.listen().catch((e: unknown) => again(e as Error)), LISTEN_RETRY_MS).unref();
    };
    client.on('notification', (n) => this.wake(n.payload));
    client.on('error', again);
    await client.connect();
    await client.query(`LISTEN ${OUTCOME_CHANNEL}`);
    if (this.stopped) {
      await client.end();
      return;
    }
    this.listener = client;
  }
}

/** A refusal event's own words for why (reason, or the first line's). */
function refusalReason(payload: unknown): string {
  const p = payload as { reason?: unknown; lines?: { reason?: unknown }[] };
  if (typeof p.reason === 'string') return p.reason;
  const line = p.lines?.find((l) => typeof l.reason === 'string');
  return typeof line?.reason === 'string' ? line.reason : 'rejected';
}
