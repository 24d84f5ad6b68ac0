import pino from 'pino';
import {
  deadLetterExchange,
  deliveryOf,
  deleteTopology,
  partitionOf,
  partitionQueue,
  propertiesOf,
  Publisher,
  readDeployment,
  stockKey,
  writeDeployment,
} from '@stockflow/shared';
import { eventually, startInventory, TestEnv } from '../support';
import { registerWarehouses } from '../foundation/fixtures';
import { ops } from './run-ops';

const KEYS = 12;
const PER_KEY = 8;

/**
 * Changing the partition count with the workers stopped: 4 → 6 → 3, each time with a backlog
 * of commands over several keys waiting in the queues, a dead letter in a queue that goes away
 * and an outbox row routed for the old count. Every command must be applied once, and each
 * key's commands in publish order.
 */
describe('ops repartition', () => {
  let env: TestEnv;
  const pubs: Publisher[] = [];
  afterAll(async () => {
    await Promise.allSettled(pubs.map((p) => p.close()));
    const conn = await env.connection('cleanup');
    for (const partitions of [3, 6]) await deleteTopology(() => conn.createChannel(), { ...env.topology, partitions }).catch(() => undefined);
    await env?.cleanup();
  });

  const keys = Array.from({ length: KEYS }, (_, k) => ({ productId: `sku-rp${k}`, warehouseId: 'wh-1' }));

  /** Publishes with `partitions` (as an upstream publisher configured for that count would). */
  async function backlog(partitions: number, wave: number): Promise<void> {
    const pub = await Publisher.connect({ url: env.amqpUrl, namespace: env.namespace, partitions, autoSequence: false, log: pino({ level: 'silent' }), name: `${env.namespace}-rp${partitions}` });
    pubs.push(pub);
    for (let i = 0; i < PER_KEY; i++) {
      const sequence = wave * PER_KEY + i + 1;
      await Promise.all(keys.map((key, k) => pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: `rp-${k}-${sequence}`, sequence })));
    }
  }

  async function expectAppliedInOrder(waves: number): Promise<void> {
    await eventually(async () => {
      const [row] = await env.query<{ n: string }>(`SELECT count(*) AS n FROM inventory.inbox WHERE message_id LIKE 'rp-%'`);
      expect(Number(row!.n)).toBe(KEYS * PER_KEY * waves);
    }, 60_000, 250);
    const rows = await env.query<{ key: string; seqs: string[] }>(
      `SELECT partition_key AS key, array_agg(sequence ORDER BY seq) AS seqs FROM inventory.inbox WHERE message_id LIKE 'rp-%' GROUP BY partition_key ORDER BY 1`,
    );
    const expected = Array.from({ length: PER_KEY * waves }, (_, i) => String(i + 1));
    expect(rows.map((r) => [r.key, r.seqs.map(String)])).toEqual(keys.map((k) => stockKey(k.productId, k.warehouseId)).sort().map((k) => [k, expected]));
    const [ledger] = await env.query<{ n: string }>(`SELECT count(*) AS n FROM inventory.ledger WHERE message_id LIKE 'rp-%'`);
    expect(Number(ledger!.n)).toBe(KEYS * PER_KEY * waves);
  }

  it('4 → 6 → 3 partitions: drain, reroute, resume; order per key and exactly once', async () => {
    env = await TestEnv.create('repart', { partitions: 4 });
    const first = await startInventory(env, { INSTANCE_ID: 'rp-a' });
    const pub = await env.publisher();
    pubs.push(pub);
    await registerWarehouses(pub, ['wh-1']);
    await eventually(async () => expect(await env.query(`SELECT 1 FROM inventory.warehouse`)).toHaveLength(1));
    expect(await readDeployment((sql, p) => env.query(sql, p), env.namespace)).toMatchObject({ partitions: 4, state: 'active' });

    // Refused while a worker consumes.
    const busy = await ops(env, ['repartition', '--to', '6']);
    expect(busy).toMatchObject({ code: 1, err: expect.stringContaining('workers are still running') });
    await first.stop();

    // Wave 1 waits in 4 queues; an outbox row waits with a route for 4 (as the relay delivers it).
    await backlog(4, 0);
    const { envelope, body } = pub.prepare('ReceiveStock', { ...keys[0]!, quantity: 1 }, { messageId: 'outbox-rp' });
    const route = deliveryOf(env.topology, 'ReceiveStock', envelope.partitionKey);
    await env.query(
      `INSERT INTO inventory.outbox (message_id, type, exchange, routing_key, mandatory, properties, payload) VALUES ($1, $2, $3, $4, true, $5, $6)`,
      [envelope.messageId, envelope.type, route.exchange, route.routingKey, JSON.stringify(propertiesOf(envelope)), body.toString()],
    );

    const up = await ops(env, ['repartition', '--to', '6', '--json']);
    expect(up.err).toBe('');
    expect(up.code).toBe(0);
    expect(up.out).toContain('done: 6 partitions recorded');
    expect(await readDeployment((sql, p) => env.query(sql, p), env.namespace)).toMatchObject({ partitions: 6, state: 'active', targetPartitions: null });
    const [outboxRow] = await env.query<{ routing_key: string }>(`SELECT routing_key FROM inventory.outbox WHERE message_id = 'outbox-rp'`);
    expect(outboxRow!.routing_key).toBe(partitionQueue(env.namespace, 'inventory', partitionOf(stockKey(keys[0]!.productId, 'wh-1'), 6), 6));

    // Workers with the old count refuse to start, and so they do while a repartition runs.
    await expect(startInventory(env, { INSTANCE_ID: 'rp-old' })).rejects.toThrow(/PARTITIONS=4 but deployment '.*' has 6 partitions/);
    await writeDeployment((sql, p) => env.query(sql, p), { namespace: env.namespace, partitions: 6, state: 'repartitioning', targetPartitions: 3 });
    await expect(startInventory(env, { INSTANCE_ID: 'rp-mid', PARTITIONS: 6 })).rejects.toThrow(/being repartitioned from 6 to 3/);
    expect((await ops(env, ['repartition', '--to', '5'])).err).toContain('unfinished: run `repartition --to 3`');
    await writeDeployment((sql, p) => env.query(sql, p), { namespace: env.namespace, partitions: 6, state: 'active', targetPartitions: null });

    const six = await startInventory(env, { INSTANCE_ID: 'rp-six', PARTITIONS: 6 });
    await expectAppliedInOrder(1);
    await eventually(async () => expect(await env.query(`SELECT 1 FROM inventory.outbox`)).toHaveLength(0), 20_000);
    await six.stop();

    // Wave 2 waits in 6 queues, plus a dead letter in p05.dead, which 3 partitions do not have.
    await backlog(6, 1);
    const dead = pub.prepare('ReceiveStock', { ...keys[1]!, quantity: 1 }, { messageId: 'dead-rp' });
    await pub.sendRaw(deadLetterExchange(env.namespace), partitionQueue(env.namespace, 'inventory', 5, 6), dead.body, propertiesOf(dead.envelope, { 'x-stockflow-reason': 'handler_error' }));

    const down = await ops(env, ['repartition', '--to', '3', '--json']);
    expect(down).toMatchObject({ code: 0, err: '' });
    const result = JSON.parse(down.out.slice(down.out.indexOf('{'))) as { deletedQueues: string[]; movedDead: number };
    expect(result.movedDead).toBe(1);
    expect(result.deletedQueues).toEqual(expect.arrayContaining([`${env.namespace}.inventory.p05`, `${env.namespace}.inventory.p05.dead`, `${env.namespace}.orders.p03`]));
    const letters = JSON.parse((await ops(env, ['dlq', 'list', 'inventory', '--json'], { PARTITIONS: 3 })).out) as { messageId: string; queue: string }[];
    expect(letters).toEqual([expect.objectContaining({ messageId: 'dead-rp', queue: `${partitionQueue(env.namespace, 'inventory', partitionOf(stockKey(keys[1]!.productId, 'wh-1'), 3), 3)}.dead` })]);

    const three = await startInventory(env, { INSTANCE_ID: 'rp-three', PARTITIONS: 3 });
    await expectAppliedInOrder(2);
    await three.stop();
    expect((await ops(env, ['repartition', '--to', '3'])).out).toContain('nothing to do');
  });
});
