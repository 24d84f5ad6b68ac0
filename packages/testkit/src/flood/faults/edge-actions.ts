import type { Pool } from 'pg';
import { commandExchange, contracts, HEADER, partitionLabel, partitionOf, partitionQueue, propertiesOf, relayLeaseHolders, routeOf, type AmqpConnection, type MessageType, type Publisher, type TopologyOptions } from '@stockflow/shared';
import { WebhookSender, type SignatureMode } from '../../provider-simulator/webhook-sender';
import type { WebhookEvent } from '../../provider-simulator/types';
import type { History } from '../history/history';
import { forgedWebhookPrefix } from '../checker/types';
import { Catalogue } from '../workload/catalogue';
import { FaultSkipped, type FaultContext, type FaultOutcome } from './actions';
import { onFloodChannel } from './flood-channel';

/**
 * What the faults at the edges need besides the infrastructure ones: the flood's own publisher
 * and history, its control connection, the run's database, and (owned runs) where webhooks go.
 */
export interface EdgeContext {
  tag: string;
  topology: TopologyOptions;
  amqp: AmqpConnection;
  pool: Pool;
  history: History;
  publisher: Publisher;
  /** The flood's numbering of per-key sequences: a restart starts a new session. */
  sequences: { restartSession(): string };
  /**
   * The live payment gateways of an owned run, addressed directly (the webhook relay shares the
   * busy flood process and would measure that), and the provider's real secret.
   */
  gateway: { urls: () => string[]; secret: string } | undefined;
  /** The workers' LEASE_TTL_MS: how long a paused relay leader may keep the lead. */
  leaseTtlMs: number;
}

const UNROUTABLE_MS = 5_000;
const FORGED_PER_STORM = 100;
/**
 * Forged webhooks in flight at once, each given FORGED_ANSWER_MS: on a saturated 2-core host
 * the gateway answers a few dozen a second, and a whole storm at once would time out unread.
 */
const FORGED_CONCURRENCY = 25;
const FORGED_ANSWER_MS = 30_000;
const REUSES = 20;
const BIG_HEADER_MESSAGES = 5;
/** Just under amqplib's 64 KiB header-table buffer: the worker's own headers on a dead-letter copy would not fit. */
const BIG_HEADER_COUNT = 64;
const BIG_HEADER_BYTES = 1000;

async function publisherRestart(ctx: FaultContext): Promise<FaultOutcome> {
  const session = edge(ctx).sequences.restartSession();
  return { target: 'flood publisher', detail: `new sequence session ${session}: every key numbered from 1 again` };
}

/**
 * SIGSTOP the instance that relays most of one service's outbox (the holder of most of its
 * relay shards, relay_lease), watch every shard it held move to other instances, SIGCONT after
 * --stop-ms. How long the move took is the fault's measure (relay-failover checks it against
 * LEASE_TTL_MS).
 */
async function leaderStop(ctx: FaultContext): Promise<FaultOutcome> {
  const e = edge(ctx);
  const processes = ctx.fleet.processes();
  if (ctx.fleet.mode !== 'owned') throw new FaultSkipped('leader-stop: needs worker processes the flood started (not available with --attach)');
  // A service whose main relay runs and has a running peer to hand over to. Right after a kill
  // the leases still name the dead instance until they expire, so this looks for a while.
  const schemas = ['inventory', 'orders', 'payments'];
  const start = ctx.rng.int(0, schemas.length - 1);
  let found: { schema: string; leader: (typeof processes)[number]; shards: number[] } | undefined;
  const seen: string[] = [];
  for (const deadline = Date.now() + 3 * e.leaseTtlMs; !found && Date.now() < deadline; await new Promise((r) => setTimeout(r, 250))) {
    seen.length = 0;
    for (let k = 0; k < schemas.length && !found; k++) {
      const schema = schemas[(start + k) % schemas.length]!;
      const [holder, shards] = [...(await shardHolders(e.pool, schema))].sort((a, b) => b[1].length - a[1].length)[0] ?? [];
      const leader = processes.find((p) => p.instanceId === holder?.split(':')[0] && p.state === 'running');
      const peers = leader ? processes.filter((p) => p.kind === leader.kind && p !== leader && p.state === 'running').length : 0;
      if (leader && peers > 0) found = { schema, leader, shards: shards! };
      else seen.push(`${schema}: ${!holder ? 'nobody relays' : !leader ? `${holder} is not running` : 'no running peer'}`);
    }
  }
  if (!found) throw new FaultSkipped(`leader-stop: no relay with a running peer (${seen.join('; ')})`);
  const { schema, leader, shards } = found;
  const instance = leader.instanceId;
  leader.signal('SIGSTOP');
  const stoppedAt = Date.now();
  const incarnation = leader.incarnation;
  let failoverMs: number | undefined;
  try {
    while (Date.now() - stoppedAt < ctx.stopMs) {
      const now = await shardHolders(e.pool, schema).catch(() => undefined);
      const movedAll = now && shards.every((s) => [...now].some(([holder, held]) => holder.split(':')[0] !== instance && held.includes(s)));
      if (movedAll) {
        failoverMs = Date.now() - stoppedAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    setTimeout(() => {
      if (leader.state === 'paused' && leader.incarnation === incarnation) leader.signal('SIGCONT');
    }, Math.max(0, stoppedAt + ctx.stopMs - Date.now())).unref();
  }
  return {
    target: `${schema} relay ${leader.instanceId} (pid ${leader.pid}, ${shards.length} shards)`,
    detail: failoverMs === undefined ? `SIGSTOP for ${ctx.stopMs} ms; its shards were not all taken over meanwhile` : `SIGSTOP for ${ctx.stopMs} ms; other instances relayed all its shards after ${failoverMs} ms`,
    measure: { failoverMs: failoverMs ?? -1, leaseTtlMs: e.leaseTtlMs },
  };
}

/**
 * Unbinds one partition's command-exchange binding for UNROUTABLE_MS, then binds it again: the
 * flood's publishes to it come back unroutable and are sent again later (as a careful upstream
 * would). Events and the workers' own commands travel straight to partition queues and are not
 * touched by it (what makes them unroutable, a deleted queue, destroys data and is tested in
 * outbox-refused.int.ts).
 */
async function unroutable(ctx: FaultContext): Promise<FaultOutcome> {
  const e = edge(ctx);
  // The partition that carries the most traffic now: the busiest key of the last commands.
  const recent = e.history.publishes.slice(-500).filter((p) => !p.setup && contracts[p.type as MessageType]?.kind === 'command');
  if (recent.length === 0) throw new FaultSkipped('unroutable: nothing published yet');
  const perKey = new Map<string, number>();
  for (const p of recent) perKey.set(p.key, (perKey.get(p.key) ?? 0) + 1);
  const busiest = Math.max(...perKey.values());
  const hit = recent.find((p) => perKey.get(p.key) === busiest)!;
  const contract = contracts[hit.type as MessageType];
  if (contract.kind !== 'command') throw new FaultSkipped(`unroutable: ${hit.type} is not a command`);
  const kind = contract.worker;
  const partition = partitionOf(hit.key, e.topology.partitions);
  const queue = partitionQueue(e.topology.namespace, kind, partition, e.topology.partitions);
  const exchange = commandExchange(e.topology.namespace, kind);
  const key = partitionLabel(partition, e.topology.partitions);
  await onFloodChannel(e.amqp, (ch) => ch.unbindQueue(queue, exchange, key));
  try {
    await new Promise((r) => setTimeout(r, UNROUTABLE_MS));
  } finally {
    await onFloodChannel(e.amqp, (ch) => ch.bindQueue(queue, exchange, key));
  }
  return { target: `${exchange} → ${queue}`, detail: `unbound for ${UNROUTABLE_MS} ms (publishes to partition ${key}, key ${hit.key} among them, came back unroutable), then bound again` };
}

/**
 * FORGED_PER_STORM webhooks about the run's orders to the payment gateway: unsigned, signed
 * with another secret, tampered after signing, and genuinely signed an hour ago (a replay).
 * A 2xx answer is an accepted forgery; the checker also looks for the storm's event ids in the
 * payment worker, which catches one accepted whose answer was lost.
 */
async function forgedWebhooks(ctx: FaultContext): Promise<FaultOutcome> {
  const e = edge(ctx);
  if (!e.gateway) throw new FaultSkipped('forged-webhooks: no payment gateway of this run to send to (not available with --attach)');
  const orders = e.history.commands().filter((c) => c.type === 'PlaceOrder').map((c) => (c.payload as { orderId: string }).orderId);
  if (orders.length === 0) throw new FaultSkipped('forged-webhooks: no order placed yet');
  const sender = new WebhookSender(() => e.gateway!.secret);
  const modes: SignatureMode[] = ['unsigned', 'forged', 'tampered', 'stale'];
  const send = async (i: number): Promise<string> => {
    const urls = e.gateway!.urls();
    if (urls.length === 0) return 'no gateway running';
    const orderId = ctx.rng.pick(orders);
    const event: WebhookEvent = {
      id: `${forgedWebhookPrefix(e.tag)}${Date.now()}-${i}`,
      type: 'payment.captured',
      createdAt: new Date().toISOString(),
      data: { idempotencyKey: `order-${orderId}-payment`, orderId, chargeId: `ch_forged_${i}`, amount: 1, currency: 'EUR' },
    };
    const { body, signature } = sender.signature(sender.body(event), modes[i % modes.length]!);
    try {
      const res = await fetch(urls[i % urls.length]!, { method: 'POST', headers: { 'content-type': 'application/json', ...(signature ? { 'x-signature': signature } : {}) }, body, signal: AbortSignal.timeout(FORGED_ANSWER_MS) });
      await res.arrayBuffer();
      return String(res.status);
    } catch (err) {
      return (err as Error).name;
    }
  };
  const statuses: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: FORGED_CONCURRENCY }, async () => {
      while (next < FORGED_PER_STORM) statuses.push(await send(next++));
    }),
  );
  const answers = new Map<string, number>();
  for (const s of statuses) answers.set(s, (answers.get(s) ?? 0) + 1);
  const accepted = statuses.filter((s) => /^2\d\d$/.test(s)).length;
  const refused = answers.get('401') ?? 0;
  const breakdown = [...answers].map(([s, n]) => `${n} × ${s}`).join(', ');
  return { target: `payment gateways ${e.gateway.urls().join(' ')}`, detail: `${FORGED_PER_STORM} forged webhooks: ${refused} refused (401), ${accepted} accepted (answers: ${breakdown})`, measure: { sent: FORGED_PER_STORM, accepted, refused } };
}

/**
 * REUSES messages under ids already applied: half reuse ids of the run's commands (a receipt's
 * id for another quantity), half the ids of events the order worker applied (a CancelOrder
 * under a StockReserved's id: the workers' own child ids). Each must be dead-lettered
 * id_reused; the history records them, apart from the run's commands.
 */
async function idReuse(ctx: FaultContext): Promise<FaultOutcome> {
  const e = edge(ctx);
  const receipts = e.history.commands().filter((c) => c.type === 'ReceiveStock' && !c.setup && e.history.firstEffectAt.has(c.id));
  const orderEvents = [...e.history.events.values()].filter((ev) => ev.orderId !== undefined && (contracts[ev.type as MessageType] as { consumers?: readonly string[] } | undefined)?.consumers?.includes('orders'));
  const applied = new Set(
    (await e.pool.query<{ message_id: string }>(`SELECT message_id FROM orders.inbox WHERE message_id = ANY($1::text[])`, [orderEvents.map((ev) => ev.id)])).rows.map((r) => r.message_id),
  );
  const events = orderEvents.filter((ev) => applied.has(ev.id));
  let sent = 0;
  for (let i = 0; i < REUSES; i++) {
    if (i % 2 === 0 && receipts.length > 0) {
      const c = ctx.rng.pick(receipts);
      const p = c.payload as { productId: string; warehouseId: string; quantity: number };
      await e.publisher.send('ReceiveStock', { ...p, quantity: p.quantity + 1 }, { messageId: c.id });
      e.history.recordAdversarial({ id: c.id, type: 'ReceiveStock', kind: 'reuse', expect: 'id_reused', t: Date.now() });
      sent++;
    } else if (events.length > 0) {
      const ev = ctx.rng.pick(events);
      await e.publisher.send('CancelOrder', { orderId: ev.orderId!, reason: 'other', note: 'reused id' }, { messageId: ev.id });
      e.history.recordAdversarial({ id: ev.id, type: 'CancelOrder', kind: 'reuse', expect: 'id_reused', t: Date.now() });
      sent++;
    }
  }
  if (sent === 0) throw new FaultSkipped('id-reuse: nothing applied yet to reuse the id of');
  return { target: 'upstream publisher', detail: `${sent} messages under ids already applied (commands' and the workers' own)`, measure: { sent } };
}

/**
 * BIG_HEADER_MESSAGES invalid receipts (negative quantity) whose header tables nearly fill
 * amqplib's 64 KiB buffer, to random inventory partitions, published with plain amqplib as any
 * client could: a dead-letter copy with the worker's headers added would not fit.
 */
async function bigHeaders(ctx: FaultContext): Promise<FaultOutcome> {
  const e = edge(ctx);
  const keys = e.history.commands().filter((c) => c.type === 'ReceiveStock').map((c) => c.payload as { productId: string; warehouseId: string });
  if (keys.length === 0) throw new FaultSkipped('big-headers: no stock key yet');
  const ch = await e.amqp.createConfirmChannel();
  try {
    for (let i = 0; i < BIG_HEADER_MESSAGES; i++) {
      const k = ctx.rng.pick(keys);
      const id = `${Catalogue.prefixes(e.tag).command}bad-${Date.now()}-${i}`;
      const partitionKey = `${k.productId}:${k.warehouseId}`;
      const route = routeOf(e.topology, 'ReceiveStock', partitionKey);
      const props = propertiesOf({ messageId: id, type: 'ReceiveStock', version: 1, occurredAt: new Date().toISOString(), correlationId: id, partitionKey });
      const headers: Record<string, unknown> = { ...props.headers, [HEADER.partitionKey]: partitionKey };
      for (let h = 0; h < BIG_HEADER_COUNT; h++) headers[`x-upstream-${h}`] = 'h'.repeat(BIG_HEADER_BYTES);
      await new Promise<void>((resolve, reject) =>
        ch.publish(route.exchange, route.routingKey, Buffer.from(JSON.stringify({ ...k, quantity: -1 })), { ...props, headers, mandatory: true }, (err) => (err ? reject(err as Error) : resolve())),
      );
      e.history.recordAdversarial({ id, type: 'ReceiveStock', kind: 'bad', expect: 'invalid_schema', t: Date.now() });
    }
  } finally {
    await ch.close().catch(() => undefined);
  }
  return { target: 'inventory partitions', detail: `${BIG_HEADER_MESSAGES} invalid receipts with ${BIG_HEADER_COUNT} KB of headers each`, measure: { sent: BIG_HEADER_MESSAGES } };
}

function shardHolders(pool: Pool, schema: string): Promise<Map<string, number[]>> {
  return relayLeaseHolders(async (sql, params) => (await pool.query<{ name: string; holder: string }>(sql, params)).rows, schema);
}

export function edge(ctx: FaultContext): EdgeContext {
  if (!ctx.edge) throw new FaultSkipped('this fault needs the flood\'s publisher, history and database');
  return ctx.edge;
}

export const EDGE_ACTIONS = {
  'publisher-restart': publisherRestart,
  'leader-stop': leaderStop,
  unroutable,
  'forged-webhooks': forgedWebhooks,
  'id-reuse': idReuse,
  'big-headers': bigHeaders,
} as const;
