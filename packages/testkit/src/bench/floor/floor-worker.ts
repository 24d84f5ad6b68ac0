import { createServer } from 'node:http';
import * as amqp from 'amqplib';
import { Client } from 'pg';
import { eventsExchange, HEADER, partitionQueue } from '@stockflow/client';
import { coalesceFrameWrites, declareTopology, quorumGroupSizeIn } from '@stockflow/shared';
import { causeOf, FLOOR_STATEMENT, floorParams, type OutcomeRow, type Receipt } from './floor-statement';

/**
 * Limit (c), the floor: the least code that gives stockflow's guarantees for a stock receipt,
 * run by the bench as a process on the same partition queues, database and tap as the workers.
 *
 * One connection to the broker, one to Postgres. Deliveries of the 16 single-active-consumer
 * partition queues are buffered; each group of up to GROUP_MAX goes to Postgres as ONE
 * statement (floor-statement.ts), is acked with one multiple-ack once it committed, and each
 * fresh receipt's outcome event is published with a publisher confirm. The outbox rows of
 * confirmed events are deleted by the next statement; a crash before a confirm leaves them in
 * the outbox for a relay, so nothing committed is lost.
 *
 * What it leaves out is what stockflow adds beyond those guarantees: schema checks, sequences,
 * the Redis lookup of duplicates, reservations and every other command, retries, dead
 * letters, tracing, metrics beyond the bench's counters. It serves the counters the bench
 * reads from a worker's /metrics under the workers' names, so the bench measures it the same way.
 */

const GROUP_MAX = 200;
/** The workers' default PREFETCH: the floor may hold as much unacked work as one of them. */
const PREFETCH = 100;
const CONSUMER = 'bench-floor';
/** The contract's most units per receipt. */
const MAX_QUANTITY = 1_000_000;

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};

async function main(): Promise<void> {
  const namespace = env('STOCKFLOW_NAMESPACE');
  const partitions = Number(env('PARTITIONS'));
  const exchange = eventsExchange(namespace);
  const db = new Client({ connectionString: env('DATABASE_URL') });
  await db.connect();
  // Connected as the workers connect (TCP_NODELAY, a group's publishes in one socket write).
  const conn = await amqp.connect(env('AMQP_URL'), { noDelay: true });
  coalesceFrameWrites(conn);
  await declareTopology(() => conn.createChannel(), { namespace, partitions, deliveryLimit: 20, quorumGroupSize: quorumGroupSizeIn(process.env) }, ['inventory']);
  const publish = await conn.createConfirmChannel();
  const consume = await conn.createChannel();
  await consume.prefetch(PREFETCH);

  const counters = { handled: 0, applied: 0, groups: 0, published: 0 };
  const buffer: amqp.ConsumeMessage[] = [];
  let wake: (() => void) | undefined;
  let confirmed: string[] = [];
  let stopping = false;

  for (let p = 0; p < partitions; p++) {
    await consume.consume(partitionQueue(namespace, 'inventory', p, partitions), (m) => {
      if (!m) return;
      buffer.push(m);
      wake?.();
    });
  }

  const receiptOf = (m: amqp.ConsumeMessage): Receipt | undefined => {
    try {
      const p = JSON.parse(m.content.toString('utf8')) as Partial<Receipt>;
      // What the statement's columns and the stock row's checks take; anything else would fail it.
      const quantity = p.quantity;
      if (typeof p.productId !== 'string' || typeof p.warehouseId !== 'string' || typeof quantity !== 'number' || !Number.isInteger(quantity) || quantity < 1 || quantity > MAX_QUANTITY) return undefined;
      // Upstream publishers route by partition label: the outcome keeps it.
      const routingKey = `StockReceived.${m.fields.routingKey}`;
      return { messageId: String(m.properties.messageId), productId: p.productId, warehouseId: p.warehouseId, quantity, routingKey };
    } catch {
      return undefined;
    }
  };

  const apply = async (group: amqp.ConsumeMessage[]): Promise<void> => {
    const receipts: Receipt[] = [];
    // The multiple-ack goes up to the last receipt: a tag already settled by a nack is unknown
    // to the broker, which closes the channel when it is acked.
    let last: amqp.ConsumeMessage | undefined;
    for (const m of group) {
      const r = receiptOf(m);
      // Not a receipt: dead-lettered, never applied.
      if (!r) consume.nack(m, false, false);
      else {
        receipts.push(r);
        last = m;
      }
    }
    const deleting = confirmed;
    confirmed = [];
    const { rows } = await db.query<OutcomeRow>({ name: 'floor', text: FLOOR_STATEMENT, values: floorParams(receipts, CONSUMER, exchange, deleting) });
    if (last) consume.ack(last, true);
    counters.handled += group.length;
    counters.applied += rows.length;
    counters.groups++;
    const at = new Date().toISOString();
    for (const row of rows) {
      const cause = causeOf(row.message_id);
      publish.publish(exchange, row.routing_key, Buffer.from(row.payload), {
        persistent: true,
        messageId: row.message_id,
        type: 'StockReceived',
        contentType: 'application/json',
        headers: { [HEADER.causationId]: cause, [HEADER.occurredAt]: at },
      }, (err) => {
        if (err) return;
        confirmed.push(row.id);
        counters.published++;
      });
    }
  };

  const server = createServer((_req, res) => {
    res.end([
      `stockflow_messages_total ${counters.handled}`,
      `stockflow_batch_messages_sum ${counters.applied}`,
      `stockflow_batch_messages_count ${counters.groups}`,
      `stockflow_outbox_published_total ${counters.published}`,
      '',
    ].join('\n'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  const stop = () => {
    stopping = true;
    wake?.();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const { port } = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ msg: 'floor ready', httpPort: port })}\n`);

  while (!stopping) {
    if (buffer.length === 0) {
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      continue;
    }
    await apply(buffer.splice(0, GROUP_MAX));
  }
  // The workers measured next share this outbox: rows left behind would be theirs to relay.
  await publish.waitForConfirms().catch(() => undefined);
  await db.query('DELETE FROM inventory.outbox WHERE id = ANY($1::bigint[])', [confirmed]);
  server.close();
  await conn.close();
  await db.end();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`[floor] failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
