import { Gateway, loadGatewayConfig } from '@stockflow/gateway';
import { deadLetterExchange, HEADER, partitionQueue, routeOf, stockKey, type Publisher } from '@stockflow/shared';
import { eventually, startInventory, TestEnv } from '../support';
import { TcpProxy } from '../scaling/tcp-proxy';
import { warehouseReady } from '../scaling/traffic';

const SHOP = 'shop-token-0123456789abcdefghij';
const PARTNER = 'partner-token-0123456789abcdefgh';

interface Reply {
  status: number;
  type: string | null;
  headers: Headers;
  body: Record<string, unknown>;
}

/**
 * The HTTP door on the real path: a gateway process object with its own Postgres schema and
 * outcome queue, the client package's Publisher, a real inventory worker, and fetch as the
 * upstream. The seeds' own scenarios, concurrently: stock 3 and ten reservations at once, one
 * key five times at once, a key reused for another body, a key first used over AMQP.
 */
describe('HTTP ingress (gateway)', () => {
  let env: TestEnv;
  let gateway: Gateway;
  let pub: Publisher;
  let base: string;

  beforeAll(async () => {
    env = await TestEnv.create('gateway', { partitions: 4 });
    await startInventory(env, { INSTANCE_ID: 'gw-inv' });
    pub = await env.publisher();
    await warehouseReady(env, pub);
    gateway = env.track(new Gateway(loadGatewayConfig(env.env({ HTTP_PORT: 0, GATEWAY_TOKENS: `shop:${SHOP},partner:${PARTNER}`, INSTANCE_ID: 'gw-1' })), { log: env.log }));
    await gateway.start();
    base = `http://127.0.0.1:${gateway.httpPort}`;
  });
  afterAll(async () => env?.cleanup());

  async function call(method: 'GET' | 'POST', path: string, opts: { token?: string | null; key?: string; wait?: number; body?: unknown } = {}): Promise<Reply> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? SHOP}`;
    if (opts.key) headers['idempotency-key'] = opts.key;
    if (opts.wait) headers.prefer = `wait=${opts.wait}`;
    const res = await fetch(base + path, { method, headers, body: opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type'), headers: res.headers, body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : { text } };
  }
  const onHand = async (product: string) => (await env.query<{ on_hand: number }>(`SELECT on_hand FROM inventory.stock WHERE product_id = $1`, [product]))[0]?.on_hand ?? 0;
  const receive = (product: string, quantity: number) => ({ productId: product, warehouseId: 'wh-1', quantity });

  it('refuses without a valid bearer token, as problem details', async () => {
    for (const token of [null, 'wrong-token-0123456789abcdefghij']) {
      const r = await call('POST', '/v1/commands/ReceiveStock', { token, key: 'k-auth', body: receive('sku-auth', 1) });
      expect(r).toMatchObject({ status: 401, type: 'application/problem+json', body: { code: 'unauthorized', status: 401 } });
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    expect(await onHand('sku-auth')).toBe(0);
  });

  it('refuses what the workers would refuse, naming the field, before sending anything', async () => {
    expect(await call('POST', '/v1/commands/ReceiveStock', { body: receive('sku-bad', 1) })).toMatchObject({ status: 400, body: { code: 'idempotency_key_missing' } });
    expect(await call('POST', '/v1/commands/ReceiveStock', { key: 'bad key with spaces', body: receive('sku-bad', 1) })).toMatchObject({ status: 400, body: { code: 'idempotency_key_invalid' } });
    expect(await call('POST', '/v1/commands/ReceiveStock', { key: 'k-json', body: '{"productId":' })).toMatchObject({ status: 400, body: { code: 'invalid_json' } });
    const invalid = await call('POST', '/v1/reservations', { key: 'k-invalid', body: { reservationId: 'r-bad', lines: [{ productId: 'sku-bad', warehouseId: 'wh-1', quantity: 0 }] } });
    expect(invalid).toMatchObject({ status: 400, type: 'application/problem+json', body: { code: 'invalid_command', errors: [expect.objectContaining({ field: 'lines.0.quantity' })] } });
    expect(await call('POST', '/v1/commands/StockReceived', { key: 'k-event', body: {} })).toMatchObject({ status: 404, body: { code: 'unknown_command' } });
    // Commands only stockflow's own components send (a charge, an expiry) are not upstreams' to send.
    expect(await call('POST', '/v1/commands/RequestPayment', { key: 'k-internal', body: { orderId: 'o-1', amount: 100, currency: 'EUR' } })).toMatchObject({ status: 404, body: { code: 'unknown_command' } });
    expect(await call('GET', '/v1/commands/%E0%A4%A')).toMatchObject({ status: 404 });
    const big = await call('POST', '/v1/commands/ReceiveStock', { key: 'k-big', body: { ...receive('sku-bad', 1), pad: 'x'.repeat(300 * 1024) } });
    expect(big).toMatchObject({ status: 413, body: { code: 'too_large' } });
  });

  it('stock 3, ten reservations of one at once with Prefer: wait=5: exactly three 201 and seven 409', async () => {
    const received = await call('POST', '/v1/commands/ReceiveStock', { key: 'rcv-contended', wait: 5, body: receive('sku-contended', 3) });
    expect(received).toMatchObject({ status: 201, body: { state: 'applied', outcome: { type: 'StockReceived' } } });
    expect(received.headers.get('preference-applied')).toBe('wait=5');
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => call('POST', '/v1/reservations', { key: `res-contended-${i}`, wait: 5, body: { reservationId: `res-contended-${i}`, lines: [{ productId: 'sku-contended', warehouseId: 'wh-1', quantity: 1 }] } })));
    expect(replies.map((r) => r.status).sort()).toEqual([201, 201, 201, 409, 409, 409, 409, 409, 409, 409]);
    for (const r of replies.filter((x) => x.status === 409)) expect(r).toMatchObject({ type: 'application/problem+json', body: { code: 'rejected', detail: 'insufficient_stock', outcome: { type: 'StockReservationRejected' } } });
    for (const r of replies.filter((x) => x.status === 201)) expect(r.body).toMatchObject({ state: 'applied', outcome: { type: 'StockReserved' } });
    const [row] = await env.query<{ on_hand: number; reserved: number }>(`SELECT on_hand, reserved FROM inventory.stock WHERE product_id = 'sku-contended'`);
    expect(row).toEqual({ on_hand: 3, reserved: 3 });
  });

  it('one key five times at once: one effect, five identical answers', async () => {
    const replies = await Promise.all(Array.from({ length: 5 }, () => call('POST', '/v1/commands/ReceiveStock', { key: 'rcv-idem-1', wait: 5, body: receive('sku-idem', 2) })));
    expect(new Set(replies.map((r) => JSON.stringify([r.status, r.body]))).size).toBe(1);
    expect(replies[0]).toMatchObject({ status: 201, body: { messageId: 'rcv-idem-1', state: 'applied' } });
    expect(replies.filter((r) => r.headers.get('idempotent-replayed') === 'true')).toHaveLength(4);
    // Later, without waiting, still the same answer; the same fields in another order are the
    // same request; the effect once.
    expect(await call('POST', '/v1/commands/ReceiveStock', { key: 'rcv-idem-1', body: receive('sku-idem', 2) })).toMatchObject({ status: 201, body: replies[0]!.body });
    expect(await call('POST', '/v1/commands/ReceiveStock', { key: 'rcv-idem-1', body: '{"quantity":2,"warehouseId":"wh-1","productId":"sku-idem"}' })).toMatchObject({ status: 201, body: replies[0]!.body });
    expect(await onHand('sku-idem')).toBe(2);
    const inbox = await env.query(`SELECT 1 FROM inventory.inbox WHERE message_id = 'rcv-idem-1'`);
    expect(inbox).toHaveLength(1);
  });

  it('a key reused for another body, type or client: 422 idempotency_key_reused, nothing sent', async () => {
    expect(await call('POST', '/v1/commands/ReceiveStock', { key: 'rcv-idem-1', body: receive('sku-idem', 7) })).toMatchObject({ status: 422, body: { code: 'idempotency_key_reused' } });
    expect(await call('POST', '/v1/commands/ShipStock', { key: 'rcv-idem-1', body: receive('sku-idem', 2) })).toMatchObject({ status: 422, body: { code: 'idempotency_key_reused' } });
    expect(await call('POST', '/v1/commands/ReceiveStock', { token: PARTNER, key: 'rcv-idem-1', body: receive('sku-idem', 2) })).toMatchObject({ status: 422, body: { code: 'idempotency_key_reused' } });
    await new Promise((r) => setTimeout(r, 500));
    expect(await onHand('sku-idem')).toBe(2);
  });

  it('a key first used over AMQP is recognised from the worker\'s inbox', async () => {
    await pub.send('ReceiveStock', receive('sku-amqp', 4), { messageId: 'rcv-amqp-1' });
    await eventually(async () => expect(await onHand('sku-amqp')).toBe(4), 20_000);
    expect(await call('POST', '/v1/commands/ReceiveStock', { key: 'rcv-amqp-1', body: receive('sku-amqp', 5) })).toMatchObject({ status: 422, body: { code: 'idempotency_key_reused' } });
    // Its outcome went out before the gateway knew the key: it says so instead of waiting for one.
    const same = await call('POST', '/v1/commands/ReceiveStock', { key: 'rcv-amqp-1', wait: 5, body: receive('sku-amqp', 4) });
    expect(same).toMatchObject({ status: 200, body: { messageId: 'rcv-amqp-1', state: 'processed' } });
    await new Promise((r) => setTimeout(r, 500));
    expect(await onHand('sku-amqp')).toBe(4);
  });

  it('GET /v1/commands/{id} answers the outcome later, to the client that sent it only', async () => {
    const sent = await call('POST', '/v1/commands/ReceiveStock', { key: 'rcv-later', body: receive('sku-later', 1) });
    expect(sent).toMatchObject({ status: 202, body: { messageId: 'rcv-later', state: 'accepted', partition: expect.any(Number) } });
    expect(sent.headers.get('location')).toBe('/v1/commands/rcv-later');
    await eventually(async () => expect(await call('GET', '/v1/commands/rcv-later')).toMatchObject({ status: 201, body: { state: 'applied', outcome: { type: 'StockReceived', payload: expect.objectContaining({ productId: 'sku-later' }) } } }), 20_000, 200);
    expect(await call('GET', '/v1/commands/rcv-later', { token: PARTNER })).toMatchObject({ status: 404 });
    expect(await call('GET', '/v1/commands/never-sent')).toMatchObject({ status: 404, body: { code: 'unknown_command_id' } });
  });

  it('503 when the broker does not take the command; the same key later goes through once', async () => {
    // The partition's binding removed: the broker returns the mandatory publish unroutable.
    const key = { productId: 'sku-unroutable', warehouseId: 'wh-1' };
    const route = routeOf(env.topology, 'ReceiveStock', stockKey(key.productId, key.warehouseId));
    const queue = partitionQueue(env.namespace, 'inventory', route.partition, env.topology.partitions);
    const ch = await (await env.connection('gw-binding')).createChannel();
    await ch.unbindQueue(queue, route.exchange, route.routingKey);
    try {
      const refused = await call('POST', '/v1/commands/ReceiveStock', { key: 'rcv-unroutable', body: { ...key, quantity: 3 } });
      expect(refused).toMatchObject({ status: 503, type: 'application/problem+json', body: { code: 'unavailable' } });
      expect(refused.headers.get('retry-after')).toBe('1');
    } finally {
      await ch.bindQueue(queue, route.exchange, route.routingKey);
      await ch.close();
    }
    expect(await call('POST', '/v1/commands/ReceiveStock', { key: 'rcv-unroutable', wait: 5, body: { ...key, quantity: 3 } })).toMatchObject({ status: 201, body: { state: 'applied' } });
    expect(await onHand('sku-unroutable')).toBe(3);
  });

  it('a key left publishing by a request that died is taken over by the same request, not answered from', async () => {
    // What a gateway killed between its claim and its publish leaves behind.
    const sent = await call('POST', '/v1/commands/ReceiveStock', { key: 'rcv-orphan-probe', body: receive('sku-orphan', 1) });
    await env.query(`INSERT INTO gateway.command (message_id, client, type, fingerprint, partition, state, claimed_at)
      SELECT 'rcv-orphan', client, type, fingerprint, partition, 'publishing', now() - interval '1 hour' FROM gateway.command WHERE message_id = 'rcv-orphan-probe'`);
    expect(sent.status).toBe(202);
    expect(await call('POST', '/v1/commands/ReceiveStock', { key: 'rcv-orphan', body: receive('sku-orphan', 9) })).toMatchObject({ status: 422 });
    expect(await call('POST', '/v1/commands/ReceiveStock', { key: 'rcv-orphan', wait: 5, body: receive('sku-orphan', 1) })).toMatchObject({ status: 201, body: { messageId: 'rcv-orphan', state: 'applied' } });
    await eventually(async () => expect(await onHand('sku-orphan')).toBe(2), 20_000);
  });

  it('a command its worker dead-letters is answered 422 dead_lettered with the reason', async () => {
    // No order worker runs here: the PlaceOrder waits in its queue, and what its worker would do
    // with a message it cannot apply (a copy to the dead-letter exchange, with the reason) is
    // done by hand.
    const order = { orderId: 'o-dead-1', customerId: 'c-1', currency: 'EUR', lines: [{ productId: 'sku-x', warehouseId: 'wh-1', quantity: 1, unitPrice: 100 }] };
    const sent = await call('POST', '/v1/orders', { key: 'place-o-dead-1', body: order });
    expect(sent).toMatchObject({ status: 202, body: { type: 'PlaceOrder', state: 'accepted' } });
    const queue = partitionQueue(env.namespace, 'orders', sent.body.partition as number, env.topology.partitions);
    const ch = await (await env.connection('gw-dead')).createChannel();
    ch.publish(deadLetterExchange(env.namespace), queue, Buffer.from(JSON.stringify(order)), { messageId: 'place-o-dead-1', type: 'PlaceOrder', headers: { [HEADER.reason]: 'handler_error' } });
    await ch.close();
    await eventually(async () => expect(await call('GET', '/v1/commands/place-o-dead-1')).toMatchObject({ status: 422, type: 'application/problem+json', body: { code: 'dead_lettered', detail: 'handler_error', state: 'dead_lettered' } }), 20_000, 200);
  });

  it('an outcome another instance records while the confirm is on its way is in the answer', async () => {
    // A second instance whose broker connection holds the confirm back, so that the outcome is
    // recorded (here by hand, as the instance consuming it would) while this request still
    // waits to mark its command accepted, and commits only once that mark waits on its row.
    const proxy = await TcpProxy.start(Number(new URL(env.amqpUrl).port || 5672));
    try {
      const second = env.track(new Gateway(loadGatewayConfig(env.env({ HTTP_PORT: 0, GATEWAY_TOKENS: `shop:${SHOP}`, INSTANCE_ID: 'gw-2', AMQP_URL: proxy.url(env.amqpUrl) })), { log: env.log }));
      await second.start();
      proxy.holdReplies();
      const answer = fetch(`http://127.0.0.1:${second.httpPort}/v1/commands/ReceiveStock`, {
        method: 'POST',
        headers: { authorization: `Bearer ${SHOP}`, 'idempotency-key': 'rcv-race', prefer: 'wait=5', 'content-type': 'application/json' },
        body: JSON.stringify(receive('sku-race', 1)),
      });
      await eventually(async () => expect(await env.query(`SELECT state FROM gateway.command WHERE message_id = 'rcv-race'`)).toEqual([{ state: 'publishing' }]), 10_000, 5);
      const recorder = await env.pg.connect();
      try {
        await recorder.query('BEGIN');
        await recorder.query(`SELECT 1 FROM gateway.command WHERE message_id = 'rcv-race' FOR UPDATE`);
        proxy.releaseReplies();
        await eventually(async () => expect(await env.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%AND state = ''publishing''%'`)).toEqual([{ n: 1 }]), 10_000, 5);
        await recorder.query(`UPDATE gateway.command SET state = 'applied', outcome_type = 'StockReceived', outcome = '{"productId":"sku-race"}', settled_at = now() WHERE message_id = 'rcv-race'`);
        await recorder.query('COMMIT');
      } finally {
        recorder.release();
      }
      const res = await answer;
      expect({ status: res.status, body: await res.json() }).toMatchObject({ status: 201, body: { messageId: 'rcv-race', state: 'applied', outcome: { type: 'StockReceived' } } });
    } finally {
      proxy.releaseReplies();
      await proxy.stop();
    }
  });

  it('serves its OpenAPI 3.1 document, generated from the same schemas', async () => {
    const doc = await call('GET', '/openapi.json', { token: null });
    expect(doc).toMatchObject({ status: 200, body: { openapi: '3.1.0' } });
    const paths = doc.body.paths as Record<string, unknown>;
    expect(Object.keys(paths)).toEqual(expect.arrayContaining(['/v1/commands/ReserveStock', '/v1/reservations', '/v1/orders', '/v1/commands/{messageId}']));
    expect(Object.keys(paths)).not.toContain('/v1/commands/ProviderWebhook');
  });
});
