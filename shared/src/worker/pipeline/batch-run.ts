import type { Span } from '@opentelemetry/api';
import type { BatchControl, Delivery } from '../../amqp/partition-consumer';
import type { DeadLetterReason } from '../../errors';
import type { DeadLetterPublisher } from '../dead-letter';
import type { Runtime, WorkItem } from '../types';

/** A delivery and the message it decoded to. */
export interface Entry {
  d: Delivery;
  item: WorkItem;
}

/**
 * One partition's batch on its way through the stages: where it came from, which of its
 * deliveries are settled already (dead-lettered, and so acked on their own), and the ways to
 * give it up. Every stage takes this one object; none keeps state about a batch.
 */
export class BatchRun {
  readonly startedAt = Date.now();
  readonly started = performance.now();
  /** The batch's message spans, ended when the run is over. */
  readonly spans: Span[] = [];
  private readonly settled = new Set<Delivery>();

  constructor(
    readonly deliveries: Delivery[],
    readonly ctl: BatchControl,
    readonly partition: number,
    readonly queue: string,
    private readonly rt: Runtime,
    private readonly dead: Pick<DeadLetterPublisher, 'publish'>,
  ) {}

  get signal(): AbortSignal {
    return this.ctl.signal;
  }

  /** Nothing of `entries` is worth more work: the consumer is forced down, or their channel is gone (their redelivery is on the way). */
  abandoned(entries: Entry[]): boolean {
    return this.ctl.signal.aborted || entries.every((e) => this.ctl.isStale(e.d));
  }

  isSettled(e: Entry): boolean {
    return this.settled.has(e.d);
  }

  unsettled(entries: Entry[]): Entry[] {
    return entries.filter((e) => !this.settled.has(e.d));
  }

  /** Dead-letters one delivery with a reason. False: it was not (the batch was given back or went stale), and the run stops. */
  async deadLetter(d: Delivery, reason: DeadLetterReason, error: string, headers?: Record<string, string>): Promise<boolean> {
    if (!(await this.dead.publish(d, this.ctl, { reason, error, queue: this.queue, partition: this.partition, headers }))) return false;
    this.settled.add(d);
    return true;
  }

  /** Past a budget with nothing wrong with any one message: every delivery goes back to the broker (x-delivery-limit counts). */
  giveBack(step: string, err: unknown): void {
    this.rt.log.error({ err: (err as Error).message, partition: this.partition, step }, "retries exhausted; giving the partition's deliveries back to the broker");
    this.rt.metrics.givenBack.inc({ step });
    this.ctl.giveBack();
  }

  /** Acks, in one multiple ack, every delivery not settled on its own. */
  ackTheRest(): void {
    const last = [...this.deliveries].reverse().find((d) => !this.settled.has(d));
    if (last) this.ctl.ack(last, true);
  }

  end(): void {
    for (const span of this.spans) span.end();
  }
}
