import pino from 'pino';
import type { ConsumeMessage } from 'amqplib';
import type { BatchControl, Delivery } from '../amqp/partition-consumer';
import type { CommonConfig } from '../config';
import type { DeadLetterReason } from '../errors';
import { WorkerMetrics } from '../http/metrics';
import { RetryPolicy } from '../retry/policy';
import type { Runtime, WorkItem } from '../worker/types';
import { BatchRun, type Entry } from '../worker/pipeline/batch-run';

/**
 * Stand-ins for the pipeline stages' unit specs: a Runtime with real metrics and retry policy
 * (1–2 ms backoff) and nothing behind it, a batch whose control and dead-letter publisher
 * record what the stages did to it. No broker, no database.
 */
export function fakeRuntime(config: Partial<CommonConfig> = {}, db: { query?: (sql: string, params?: unknown[]) => Promise<unknown[]> } = {}): Runtime {
  return {
    config: { txConcurrency: 0, maxMessageBytes: 256 * 1024, dedupFastPath: false, ...config } as CommonConfig,
    log: pino({ level: 'silent' }),
    metrics: new WorkerMetrics({ service: 'spec', instanceId: 'spec' }),
    policy: new RetryPolicy(1, 2),
    db: { schema: 'spec', query: db.query ?? (() => Promise.resolve([])) },
  } as unknown as Runtime;
}

export interface DeadLettered {
  messageId: string;
  reason: DeadLetterReason;
  error: string;
  headers?: Record<string, string>;
}

/** A batch of deliveries with a recording BatchControl and dead-letter publisher. */
export class FakeBatch {
  readonly acked: { messageId: string; upTo: boolean }[] = [];
  readonly dead: DeadLettered[] = [];
  givenBack = 0;
  readonly stale = new Set<Delivery>();
  readonly abort = new AbortController();
  readonly entries: Entry[];
  readonly run: BatchRun;

  constructor(ids: string[], rt: Runtime, opts: { partition?: number; type?: string } = {}) {
    this.entries = ids.map((id, i) => entryOf(id, i + 1, opts.type ?? 'StockReceived'));
    const ctl: BatchControl = {
      ack: (d, upTo = false) => this.acked.push({ messageId: idOf(d), upTo }),
      isStale: (d) => this.stale.has(d),
      giveBack: () => void this.givenBack++,
      signal: this.abort.signal,
    };
    const publisher = {
      publish: (d: Delivery, _ctl: BatchControl, dead: { reason: DeadLetterReason; error: string; headers?: Record<string, string> }) => {
        this.dead.push({ messageId: idOf(d), reason: dead.reason, error: dead.error, headers: dead.headers });
        return Promise.resolve(true);
      },
    };
    this.run = new BatchRun(
      this.entries.map((e) => e.d),
      ctl,
      opts.partition ?? 0,
      'spec.q.0',
      rt,
      publisher,
    );
  }
}

function idOf(d: Delivery): string {
  return String(d.msg.properties.messageId);
}

function entryOf(messageId: string, tag: number, type: string): Entry {
  const msg = { content: Buffer.from('{}'), fields: { deliveryTag: tag, redelivered: false }, properties: { messageId, type, headers: {} } } as unknown as ConsumeMessage;
  const item = {
    envelope: { messageId, type, version: 1, occurredAt: new Date(0).toISOString(), correlationId: messageId, causationId: null, partitionKey: 'k' },
    payload: {},
    raw: msg.content,
    headers: {},
    fingerprint: `fp-${messageId}`,
    earlierFingerprints: [],
  } as unknown as WorkItem;
  return { d: { msg, generation: 1, receivedAt: Date.now() }, item };
}
