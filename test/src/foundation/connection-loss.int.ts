import { closeBrokerConnections, eventually, startInventory, TestEnv } from '../support';
import { keysOverAllPartitions, registerWarehouses, totals } from './fixtures';

/**
 * The worker's AMQP connection dies mid-stream, twice by a cut socket (the client notices an
 * error) and once closed by the broker (`rabbitmqctl close_connection`). It must reconnect,
 * redeclare, resume every partition, lose nothing, apply nothing twice, and never ack an old
 * delivery tag on a new channel (which the broker would answer with 406 PRECONDITION_FAILED).
 */
describe('connection loss mid-stream', () => {
  let env: TestEnv;
  afterAll(async () => env?.cleanup());

  it('reconnects and applies every message exactly once, with no 406', async () => {
    env = await TestEnv.create('connloss');
    const { log, lines } = env.captureLog();
    const worker = await startInventory(env, { BATCH_SIZE: 10, PREFETCH: 50 }, { log });
    const pub = await env.publisher();
    const tap = await env.tap();
    await registerWarehouses(pub, ['wh-1']);
    await tap.waitForCount('WarehouseRegistered', 1);

    const keys = keysOverAllPartitions(20, env.topology.partitions);
    const publishWave = async (from: number, to: number) => {
      const sends: Promise<unknown>[] = [];
      for (let i = from; i < to; i++) sends.push(pub.send('ReceiveStock', { ...keys[i % keys.length]!, quantity: 1 }, { messageId: `rcv-${i}` }));
      await Promise.all(sends);
    };
    await publishWave(0, 2000);

    const waitApplied = (n: number) => eventually(async () => expect((await totals(env)).onHand).toBeGreaterThanOrEqual(n), 60_000, 20);
    await waitApplied(200);
    worker.amqpConnection!.destroySocket();
    await waitApplied(700);
    worker.amqpConnection!.destroySocket();
    await waitApplied(1200);
    expect(await closeBrokerConnections(`inventory-worker:${worker.config.instanceId}`)).toBeGreaterThan(0);
    // The broker-side close may land after the first wave is done: a second wave proves the
    // worker came back from it.
    await eventually(() => expect(lines.filter((l) => l.includes('"amqp connected"')).length).toBeGreaterThanOrEqual(4), 30_000);
    await publishWave(2000, 2400);
    const total = 2400;

    const final = await eventually(async () => {
      const t = await totals(env);
      expect(t.onHand).toBe(total);
      return t;
    }, 90_000);
    expect(final.ledgerRows).toBe(total);
    expect(final.inboxRows).toBe(total + 1);
    const perKey = await env.query<{ on_hand: number }>(`SELECT on_hand FROM inventory.stock ORDER BY product_id`);
    expect(perKey.map((r) => r.on_hand)).toEqual(keys.map(() => total / keys.length));
    expect(lines.filter((l) => /PRECONDITION|unknown delivery tag|\b406 \(/i.test(l))).toEqual([]);
    await worker.stop();
  });
});
