import { eventually, startInventory, TestEnv, workerMetric } from '../support';
import { keysOverAllPartitions, registerWarehouses, totals } from './fixtures';

/**
 * The Redis fast path: a re-published copy of a committed command is acked from Redis, without
 * a Postgres round trip (the inbox would also absorb it: foundation/duplicates.int.ts).
 */
describe('duplicate fast path (Redis)', () => {
  let env: TestEnv;
  afterAll(async () => env?.cleanup());

  it('acks copies of committed commands from Redis and applies nothing twice', async () => {
    env = await TestEnv.create('dedup-fast');
    const worker = await startInventory(env, { HTTP_PORT: 0 });
    const pub = await env.publisher();
    const tap = await env.tap();
    await registerWarehouses(pub, ['wh-1']);
    await tap.waitForCount('WarehouseRegistered', 1);
    const keys = keysOverAllPartitions(24, env.topology.partitions);
    const send = () => Promise.all(keys.map((k, i) => pub.send('ReceiveStock', { ...k, quantity: 1 }, { messageId: `rcv-${i}` })));
    await send();
    await tap.waitForCount('StockReceived', keys.length, 30_000);

    await send();
    await eventually(async () => expect(await workerMetric(worker, 'stockflow_duplicates_total', { type: 'ReceiveStock', via: 'redis' })).toBe(keys.length), 30_000);
    expect(await workerMetric(worker, 'stockflow_duplicates_total', { type: 'ReceiveStock', via: 'inbox' })).toBe(0);
    const t = await totals(env);
    expect(t.onHand).toBe(keys.length);
    expect(t.ledgerRows).toBe(keys.length);
  });
});
