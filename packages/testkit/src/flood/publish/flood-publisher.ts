import { isMandatory, newSequenceSession, propertiesOf, type Payload, type Publisher } from '@stockflow/shared';
import type { History, PublishRecord } from '../history/history';
import type { ProviderHandle } from '../provider/provider-handle';
import type { PlannedCommand, ProviderPlan, ScheduledPublish } from '../workload/types';
import type { HttpDoor } from './http-door';
import type { OrderedPublisher, OutgoingMessage } from './ordered-publisher';

interface Prepared {
  exchange: string;
  routingKey: string;
  body: Buffer;
  properties: OutgoingMessage['properties'];
  sequence: number;
  session: string;
  payload: unknown;
  /** Copies still to come; the prepared message is dropped after the last. */
  copiesLeft: number;
}

const CHUNK = 256;

/**
 * Turns scheduled publishes into broker messages and records each in the history:
 * - stamps the per-key sequence (1, 2, 3 … per partition key, in publish order) through the
 *   shared Publisher's envelope builder; a duplicate reuses its original's message verbatim;
 * - completes set adjustments from the latest levels the tap saw;
 * - tells the provider about declines and timeouts before the orders they concern go out;
 * - applies backpressure: at most `maxQueued` messages wait in the ordered publisher.
 */
export class FloodPublisher {
  private readonly sequences = new Map<string, number>();
  /** The numbering the sequences belong to; a publisher-restart fault starts a new one. */
  private session = newSequenceSession();
  private readonly prepared = new Map<string, Prepared>();
  private index = 0;
  /** Provider plans (declines, timeouts, async captures) that could not be set in time. */
  plansLost = 0;

  constructor(
    private readonly deps: { publisher: Publisher; ordered: OrderedPublisher; history: History; provider: ProviderHandle; http?: HttpDoor },
    private readonly maxQueued = 2000,
  ) {}

  /** Publishes everything `items` yields; resolves when all of it is handed to the ordered publisher. */
  async publishAll(items: Iterable<ScheduledPublish>, shouldStop: () => boolean = () => false): Promise<void> {
    let chunk: ScheduledPublish[] = [];
    const flush = async () => {
      const plans = chunk.flatMap((s): ProviderPlan[] => (!s.duplicate && s.command.provider ? [s.command.provider] : []));
      // A plan that does not reach the provider only means a charge that is not declined or
      // delayed: it never makes the checker wrong, so it is counted, not fatal.
      if (plans.length > 0) await this.deps.provider.apply(plans).catch(() => (this.plansLost += plans.length));
      for (const s of chunk) {
        await this.deps.ordered.space(this.maxQueued);
        await this.deps.http?.space();
        this.publishOne(s);
      }
      chunk = [];
    };
    for (const item of items) {
      chunk.push(item);
      if (chunk.length >= CHUNK) await flush();
      if (shouldStop()) break;
    }
    await flush();
  }

  /**
   * What a restarted upstream publisher does: a new session, and every key numbered from 1
   * again. Returns the new session.
   */
  restartSession(): string {
    this.session = newSequenceSession();
    this.sequences.clear();
    return this.session;
  }

  /** Waits until the broker confirmed everything published so far. */
  async confirmed(): Promise<void> {
    await Promise.all([this.deps.ordered.idle(), this.deps.http?.idle()]);
  }

  private publishOne(s: ScheduledPublish): void {
    const c = s.command;
    let p = this.prepared.get(c.messageId);
    if (!s.duplicate || !p) {
      if (s.duplicate) return; // its original never went out (stopped early)
      p = this.prepare(c, s.copies ?? 0);
      if (p.copiesLeft > 0) this.prepared.set(c.messageId, p);
    } else if (--p.copiesLeft <= 0) {
      this.prepared.delete(c.messageId);
    }
    const record: PublishRecord = { i: this.index++, id: c.messageId, type: c.type, key: c.key, sequence: p.sequence, session: p.session, dup: s.duplicate, t: Date.now(), attempts: 0 };
    if (c.setup) record.setup = true;
    if (!s.duplicate) record.payload = p.payload;
    const http = !c.setup && this.deps.http?.takes(c.key, c.type) ? this.deps.http : undefined;
    if (http) record.via = 'http';
    this.deps.history.recordPublish(record);
    const callbacks = {
      onSent: (attempt: number) => {
        record.attempts = attempt;
        if (attempt === 1) record.t = Date.now();
      },
      onConfirmed: () => {
        record.confirmedAt = Date.now();
        this.deps.history.settled(record);
      },
      onFailed: () => this.deps.history.settled(record),
    };
    if (http) {
      http.send({ key: c.key, type: c.type, messageId: c.messageId, payload: p.payload, ...callbacks });
      return;
    }
    this.deps.ordered.push({
      i: record.i,
      exchange: p.exchange,
      routingKey: p.routingKey,
      body: p.body,
      properties: p.properties,
      ...callbacks,
    });
  }

  private prepare(c: PlannedCommand, copies: number): Prepared {
    const payload = c.payload ?? this.completeSetAdjustment(c);
    const sequence = (this.sequences.get(c.key) ?? 0) + 1;
    this.sequences.set(c.key, sequence);
    const session = this.session;
    const { envelope, route, body } = this.deps.publisher.prepare(c.type, payload, { messageId: c.messageId, sequence, sequenceSession: session });
    if (envelope.partitionKey !== c.key) throw new Error(`${c.messageId}: planned key ${c.key} but the contract says ${envelope.partitionKey}`);
    return { exchange: route.exchange, routingKey: route.routingKey, body, properties: { ...propertiesOf(envelope), mandatory: isMandatory(c.type) }, sequence, session, payload, copiesLeft: copies };
  }

  /** An operator's recount: the count they see, off by the seeded amount, against the version they saw. */
  private completeSetAdjustment(c: PlannedCommand): Payload<'AdjustStock'> {
    const s = c.setAdjustment!;
    const seen = this.deps.history.levels.get(c.key);
    const onHand = seen?.onHand ?? 0;
    return {
      mode: 'set',
      productId: s.productId,
      warehouseId: s.warehouseId,
      count: Math.max(seen?.reserved ?? 0, onHand + s.countOffset, 0),
      expectedVersion: seen?.version ?? 0,
      reason: s.reason,
    };
  }
}
