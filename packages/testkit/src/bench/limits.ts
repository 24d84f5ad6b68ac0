import { cpus } from 'node:os';
import * as amqp from 'amqplib';
import { Pool } from 'pg';
import { coalesceFrameWrites } from '@stockflow/shared';
import { round, summarize } from './stats';
import { cpuBetween, cpuSnapshot, perUnitUs, type CpuByGroup } from './process-cpu';
import type { Teardown } from '../support/teardown';
import { firstBrokerUrl } from '../support/broker-urls';
import { hostCpuS } from './workers';

/**
 * Declares a measuring queue through the run's teardown (which removes it with the namespace):
 * a run being torn down declares none any more, and one being declared is waited for, so a
 * signal in between cannot leave the queue behind.
 */
function declared<T>(teardown: Teardown | undefined, queue: string, declare: () => Promise<T>): Promise<T> {
  return teardown ? teardown.create(`queue ${queue}`, declare, async () => undefined) : declare();
}

/**
 * The machine's own limits, measured in the same run as the scenarios:
 * (a) raw amqplib on a quorum queue (declared as the partition queues are): publish with confirms, then consume with acks (and the
 *     host's CPU per message for that, in bursts and paced);
 * (b) the per-message transaction of a worker (inbox claim, row lock, update, ledger, outbox)
 *     issued from Node with a pool, as fast as it goes.
 */
export async function amqpLimits(url: string, queue: string, messages: number, queueArguments: Record<string, unknown>, teardown?: Teardown): Promise<{ publish: number; consume: number; hostCpuUs: number; hostSplitUs: CpuByGroup }> {
  // One node's limits: of a cluster's list, the first node.
  const conn = await amqp.connect(firstBrokerUrl(url));
  const cpu0 = cpuSnapshot();
  try {
    const ch = await conn.createConfirmChannel();
    await declared(teardown, queue, () => ch.assertQueue(queue, { durable: true, arguments: queueArguments }));
    const body = Buffer.from(JSON.stringify({ productId: 'sku-00042', warehouseId: 'wh-1', quantity: 1 }));
    const t0 = performance.now();
    const window = 2000;
    for (let i = 0; i < messages; i += window) {
      for (let j = i; j < Math.min(messages, i + window); j++) {
        if (!ch.publish('', queue, body, { persistent: true, messageId: `m-${j}`, contentType: 'application/json' })) {
          await new Promise((r) => ch.once('drain', r));
        }
      }
      await ch.waitForConfirms();
    }
    const publish = messages / ((performance.now() - t0) / 1000);

    const cc = await conn.createChannel();
    await cc.prefetch(500);
    let got = 0;
    const t1 = performance.now();
    await new Promise<void>((resolve) => {
      void cc.consume(queue, (m) => {
        if (!m) return;
        cc.ack(m);
        if (++got === messages) resolve();
      });
    });
    const consume = messages / ((performance.now() - t1) / 1000);
    await cc.close();
    await ch.deleteQueue(queue);
    await ch.close();
    const cpu1 = cpuSnapshot();
    return { publish: round(publish, 0), consume: round(consume, 0), hostCpuUs: round(((cpu1.host - cpu0.host) * 1e6) / messages, 0), hostSplitUs: perUnitUs(cpuBetween(cpu0, cpu1), messages) };
  } finally {
    await conn.close();
  }
}

/**
 * What the same broker work costs the host per message when it arrives paced, one publish at a
 * time as upstream services send, instead of in windows of 2000: a confirmed publish every
 * 1/rate s to a quorum queue whose consumer acks each message. Every message then travels in
 * a write, a Raft log append and a flush of its own, so the half-load runs pay the broker
 * several times what the full-load runs do, whatever the workers do. Also the broker's own
 * publish → delivery latency at that rate: the floor of a stockflow message's way to its worker.
 */
export async function amqpPacedCost(url: string, queue: string, rate: number, seconds: number, queueArguments: Record<string, unknown>, teardown?: Teardown): Promise<{ rate: number; hostCpuUs: number; deliveryP50Ms: number; deliveryP99Ms: number }> {
  // Connected as stockflow's AmqpConnection does (TCP_NODELAY, a muxer pass per write).
  const conn = await amqp.connect(firstBrokerUrl(url), { noDelay: true });
  coalesceFrameWrites(conn);
  try {
    const ch = await conn.createConfirmChannel();
    await declared(teardown, queue, () => ch.assertQueue(queue, { durable: true, arguments: queueArguments }));
    const cc = await conn.createChannel();
    await cc.prefetch(500);
    const messages = Math.round(rate * seconds);
    let got = 0;
    const sentAt: number[] = [];
    const delivery: number[] = [];
    const consumed = new Promise<void>((resolve) => {
      void cc.consume(queue, (m) => {
        if (!m) return;
        delivery.push(performance.now() - sentAt[Number(String(m.properties.messageId).slice(2))]!);
        cc.ack(m);
        if (++got === messages) resolve();
      });
    });
    const body = Buffer.from(JSON.stringify({ productId: 'sku-00042', warehouseId: 'wh-1', quantity: 1 }));
    const cpu0 = hostCpuS();
    const t0 = performance.now();
    const confirms: Promise<void>[] = [];
    for (let i = 0; i < messages; i++) {
      const wait = t0 + (i / rate) * 1000 - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      sentAt[i] = performance.now();
      confirms.push(new Promise<void>((resolve, reject) => {
        ch.publish('', queue, body, { persistent: true, messageId: `p-${i}`, contentType: 'application/json' }, (err) => (err ? reject(err as Error) : resolve()));
      }));
    }
    await Promise.all(confirms);
    await consumed;
    const hostCpuUs = round(((hostCpuS() - cpu0) * 1e6) / messages, 0);
    await cc.close();
    await ch.deleteQueue(queue);
    await ch.close();
    const lat = summarize(delivery);
    return { rate, hostCpuUs, deliveryP50Ms: lat.p50, deliveryP99Ms: lat.p99 };
  } finally {
    await conn.close();
  }
}

/**
 * Limit (b): the per-message design's transaction, as fast as a pool of `concurrency` issues it.
 * Also what it costs the whole host (Node, Postgres, the kernel), so a stockflow message's host
 * CPU can be set beside it: that ratio, not the machine's speed that hour, is what the
 * "× limit (b)" targets ask of the code.
 */
export async function pgTxLimit(databaseUrl: string, seconds: number, concurrency = 8): Promise<{ txPerS: number; hostCpuUs: number; hostBusy: number; hostSplitUs: CpuByGroup }> {
  const pool = new Pool({ connectionString: databaseUrl, max: concurrency });
  const keys = 1000;
  await pool.query(`INSERT INTO inventory.warehouse (id, name) VALUES ('wh-limit', 'limit') ON CONFLICT DO NOTHING`);
  await pool.query(
    `INSERT INTO inventory.stock (product_id, warehouse_id, on_hand) SELECT 'lim-' || g, 'wh-limit', 1000000 FROM generate_series(1, $1) g ON CONFLICT DO NOTHING`,
    [keys],
  );
  let done = 0;
  let seq = 0;
  const deadline = performance.now() + seconds * 1000;
  const loop = async () => {
    const client = await pool.connect();
    try {
      while (performance.now() < deadline) {
        const id = `lim-msg-${seq++}`;
        const product = `lim-${1 + Math.floor(Math.random() * keys)}`;
        await client.query('BEGIN');
        await client.query(`INSERT INTO inventory.inbox (consumer, message_id, type, partition_key) VALUES ('bench-limit', $1, 'ReceiveStock', $2) ON CONFLICT DO NOTHING`, [id, product]);
        const { rows } = await client.query<{ on_hand: number; version: number }>(`SELECT on_hand, version FROM inventory.stock WHERE product_id = $1 AND warehouse_id = 'wh-limit' FOR UPDATE`, [product]);
        await client.query(`UPDATE inventory.stock SET on_hand = $2, version = $3, updated_at = now() WHERE product_id = $1 AND warehouse_id = 'wh-limit'`, [product, rows[0]!.on_hand + 1, rows[0]!.version + 1]);
        await client.query(`INSERT INTO inventory.ledger (product_id, warehouse_id, delta_on_hand, delta_reserved, kind, message_id) VALUES ($1, 'wh-limit', 1, 0, 'receipt', $2)`, [product, id]);
        await client.query(`INSERT INTO inventory.outbox (message_id, type, exchange, routing_key, properties, payload) VALUES ($1, 'StockReceived', 'x', 'y', '{}', '{}')`, [`${id}-evt`]);
        await client.query('COMMIT');
        done++;
      }
    } finally {
      client.release();
    }
  };
  const t0 = performance.now();
  const cpu0 = cpuSnapshot();
  await Promise.all(Array.from({ length: concurrency }, loop));
  const cpu1 = cpuSnapshot();
  const cpuS = cpu1.host - cpu0.host;
  const split = cpuBetween(cpu0, cpu1);
  const elapsedS = (performance.now() - t0) / 1000;
  const rate = done / elapsedS;
  await pool.query(`DELETE FROM inventory.outbox WHERE exchange = 'x'`);
  await pool.end();
  return { txPerS: round(rate, 0), hostCpuUs: round((cpuS * 1e6) / done, 0), hostBusy: round(cpuS / elapsedS / cpus().length, 2), hostSplitUs: perUnitUs(split, done) };
}
