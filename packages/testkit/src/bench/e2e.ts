import * as amqp from 'amqplib';
import { eventsExchange, HEADER, type MessageType, type Payload, type Publisher } from '@stockflow/shared';
import type { BenchEnv } from './bench-env';
import { connectAnyBroker } from '../support/broker-urls';
import { round, summarize } from './stats';
import { cpuBetween, cpuSnapshot, perUnitUs, type CpuByGroup } from './process-cpu';
import { readMetrics, sampleRss, workerCpuS, workerWriteCalls, type BenchWorker } from './workers';

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
  /**
   * The latency cut where the outcome event was built (its occurredAt, wall clock, ms): publish →
   * handler (broker, the worker's queueing, its transaction up to the handler) and handler →
   * event at the tap (the rest of the transaction, COMMIT, the relay, the broker).
   */
  split: { toHandler: { p50: number; p99: number }; toEvent: { p50: number; p99: number } };
  /** CPU time per message, in µs: the worker processes', and the whole host's (all processes). */
  workerCpuUs: number;
  hostCpuUs: number;
  /** The host's CPU per message by process (worker, broker, Postgres, Redis, bench, other), µs. */
  hostSplitUs: CpuByGroup;
  /** WAL flushes (fsyncs) per message, the whole Postgres cluster's, when the caller can count them. */
  walFlushesPerMsg?: number;
  /** Write system calls of the worker processes per message. */
  workerWritesPerMsg: number;
}

/**
 * Watches the outcome events of the given types and remembers, per causing command id,
 * when its event was published: the end of "publish → processed → outbox event published".
 */
export class OutcomeTap {
  readonly seenAt = new Map<string, number>();
  /** Per causing command id: when its outcome event was built (occurredAt, wall clock, ms). */
  readonly builtAt = new Map<string, number>();
  private constructor(private readonly conn: amqp.ChannelModel) {}

  static async open(env: BenchEnv, types: string[]): Promise<OutcomeTap> {
    const conn = await connectAnyBroker(env.amqpUrl, { noDelay: true });
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true });
    for (const t of types) await ch.bindQueue(queue, eventsExchange(env.namespace), `${t}.*`);
    const tap = new OutcomeTap(conn);
    await ch.consume(queue, (m) => {
      if (!m) return;
      const cause = (m.properties.headers)?.['x-causation-id'];
      if (typeof cause === 'string' && !tap.seenAt.has(cause)) {
        tap.seenAt.set(cause, performance.now());
        const built: unknown = (m.properties.headers)?.[HEADER.occurredAt];
        const text = Buffer.isBuffer(built) ? built.toString('utf8') : built;
        if (typeof text === 'string') tap.builtAt.set(cause, Date.parse(text));
      }
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
  opts: { rate?: number; timeoutMs?: number; walFlushes?: () => Promise<number> } = {},
): Promise<RunResult> {
  const sentAt = new Map<string, number>();
  const before = (await readMetrics(workers)).handled;
  const wal0 = await opts.walFlushes?.();
  const rss = setInterval(() => sampleRss(workers), 200);
  const workerPids = workers.map((w) => w.proc.pid!);
  const cpu0 = { worker: workerCpuS(workers), writes: workerWriteCalls(workers), split: cpuSnapshot(workerPids) };
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
    // Awaited below (Promise.race, Promise.all); while a paced run sleeps, a send failing (the
    // publisher closed by a signal's cleanup) must not be an unhandled rejection that kills the
    // process half-way through that cleanup.
    p.catch(() => undefined);
    inflight.add(p);
    if (inflight.size >= 2000) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  const fresh = [...sentAt.keys()];
  const deadline = performance.now() + (opts.timeoutMs ?? 300_000);
  // The tap is watched every 20 ms, the workers' /metrics only once the tap has everything
  // (and then every 100 ms): a scrape costs the worker CPU and an outbox count query, and
  // scraping at 50 Hz during the run measurably slowed what it measures.
  // Outcomes arrive roughly in publish order: a cursor over the first unseen keeps each look cheap.
  let cursor = 0;
  // A worker that died mid-run (the floor exits on an error) would leave the waits below to time out.
  const exited = () => {
    const gone = workers.find((w) => w.proc.exitCode !== null || w.proc.signalCode !== null);
    if (gone) throw new Error(`bench run: worker process ${gone.proc.pid} exited (${gone.proc.exitCode ?? gone.proc.signalCode}) mid-run`);
  };
  for (;;) {
    while (cursor < fresh.length && tap.seenAt.has(fresh[cursor]!)) cursor++;
    if (cursor === fresh.length) break;
    exited();
    if (performance.now() > deadline) throw new Error(`bench run timed out: ${fresh.filter((id) => !tap.seenAt.has(id)).length} outcome events missing`);
    await new Promise((r) => setTimeout(r, 20));
  }
  for (;;) {
    exited();
    const handled = (await readMetrics(workers)).handled - before;
    if (handled >= commands.length) break;
    if (performance.now() > deadline) throw new Error(`bench run timed out: ${handled}/${commands.length} handled`);
    // Only duplicates (no outcome event to watch): the scrape is the clock, so keep it fine.
    await new Promise((r) => setTimeout(r, fresh.length > 0 ? 100 : 20));
  }
  const end = fresh.length > 0 ? Math.max(...fresh.map((id) => tap.seenAt.get(id)!)) : performance.now() - 10;
  clearInterval(rss);
  sampleRss(workers);
  const lat = summarize(fresh.map((id) => tap.seenAt.get(id)! - sentAt.get(id)!));
  // occurredAt is wall clock; timeOrigin + performance.now() puts our instants on the same clock.
  const wall = (at: number) => performance.timeOrigin + at;
  const built = fresh.filter((id) => tap.builtAt.has(id));
  const toHandler = summarize(built.map((id) => tap.builtAt.get(id)! - wall(sentAt.get(id)!)));
  const toEvent = summarize(built.map((id) => wall(tap.seenAt.get(id)!) - tap.builtAt.get(id)!));
  const perMsgUs = (s: number) => round((s * 1e6) / commands.length, 0);
  const wal1 = wal0 === undefined ? undefined : await opts.walFlushes!();
  const cpu1 = cpuSnapshot(workerPids);
  return {
    msgsPerS: round(commands.length / ((end - t0) / 1000), 0),
    p50: lat.p50,
    p99: lat.p99,
    split: { toHandler: { p50: toHandler.p50, p99: toHandler.p99 }, toEvent: { p50: toEvent.p50, p99: toEvent.p99 } },
    workerCpuUs: perMsgUs(workerCpuS(workers) - cpu0.worker),
    hostCpuUs: perMsgUs(cpu1.host - cpu0.split.host),
    hostSplitUs: perUnitUs(cpuBetween(cpu0.split, cpu1), commands.length),
    workerWritesPerMsg: round((workerWriteCalls(workers) - cpu0.writes) / commands.length, 3),
    // A cluster that never counts a flush (fsync off, an open_* sync method) shows none, as does a lost counter session (NaN).
    ...(wal0 !== undefined && wal1 !== undefined && wal1 > 0 && Number.isFinite(wal0) ? { walFlushesPerMsg: round((wal1 - wal0) / commands.length, 3) } : {}),
  };
}
