import * as amqp from 'amqplib';
import { eventsExchange, type MessageType, type Payload, type Publisher } from '@stockflow/shared';
import type { BenchEnv } from './bench-env';
import { round, summarize } from './stats';
import { handledCount, sampleRss, type BenchWorker } from './workers';

export interface Command<T extends MessageType = MessageType> {
  type: T;
  payload: Payload<T>;
  messageId: string;
  /** Re-publish of an id already processed: no event will come. */
  duplicate?: boolean;
}

export interface RunResult {
  msgsPerS: number;
  p50: number;
  p99: number;
}

/**
 * Watches the primary outcome events (not StockChanged) and remembers, per causing command id,
 * when its event was published: the end of "publish → processed → outbox event published".
 */
export class OutcomeTap {
  readonly seenAt = new Map<string, number>();
  private constructor(private readonly conn: amqp.ChannelModel) {}

  static async open(env: BenchEnv, types: string[]): Promise<OutcomeTap> {
    const conn = await amqp.connect(env.amqpUrl);
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true });
    for (const t of types) await ch.bindQueue(queue, eventsExchange(env.namespace), `${t}.*`);
    const tap = new OutcomeTap(conn);
    await ch.consume(queue, (m) => {
      if (!m) return;
      const cause = (m.properties.headers)?.['x-causation-id'];
      if (typeof cause === 'string' && !tap.seenAt.has(cause)) tap.seenAt.set(cause, performance.now());
    }, { noAck: true });
    return tap;
  }

  async close(): Promise<void> {
    await this.conn.close().catch(() => undefined);
  }
}

/**
 * Publishes the commands (as fast as confirms allow, or paced at `rate` per second) and waits
 * until every fresh one has its outcome event and the workers have handled every delivery.
 */
export async function runLoad(
  pub: Publisher,
  tap: OutcomeTap,
  workers: BenchWorker[],
  commands: Command[],
  opts: { rate?: number; timeoutMs?: number } = {},
): Promise<RunResult> {
  const sentAt = new Map<string, number>();
  const before = await handledCount(workers);
  const rss = setInterval(() => sampleRss(workers), 200);
  const t0 = performance.now();
  const inflight = new Set<Promise<unknown>>();
  for (let i = 0; i < commands.length; i++) {
    const c = commands[i]!;
    if (opts.rate) {
      const due = t0 + (i / opts.rate) * 1000;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    }
    if (!c.duplicate) sentAt.set(c.messageId, performance.now());
    const p = pub.send(c.type, c.payload, { messageId: c.messageId }).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= 2000) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  const fresh = [...sentAt.keys()];
  const deadline = performance.now() + (opts.timeoutMs ?? 300_000);
  for (;;) {
    const pending = fresh.filter((id) => !tap.seenAt.has(id)).length;
    const handled = (await handledCount(workers)) - before;
    if (pending === 0 && handled >= commands.length) break;
    if (performance.now() > deadline) throw new Error(`bench run timed out: ${pending} outcome events missing, ${handled}/${commands.length} handled`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const end = Math.max(performance.now() - 20, ...fresh.map((id) => tap.seenAt.get(id)!));
  clearInterval(rss);
  sampleRss(workers);
  const lat = summarize(fresh.map((id) => tap.seenAt.get(id)! - sentAt.get(id)!));
  return { msgsPerS: round(commands.length / ((end - t0) / 1000), 0), p50: lat.p50, p99: lat.p99 };
}
