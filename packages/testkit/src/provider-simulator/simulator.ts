import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { netCharged, ProviderLedger, providerId } from './ledger';
import { defaultBehaviour, type Behaviour, type Charge, type Refund, type TimeoutMode, type WebhookEvent, type WebhookType } from './types';
import { WebhookSender, type SignatureMode } from './webhook-sender';

export interface SimulatorOptions {
  /** 0 = any free port. */
  port?: number;
  host?: string;
  webhookSecret: string;
  behaviour?: Partial<Behaviour>;
  log?: (line: string) => void;
}

interface Reply {
  status: number;
  body: unknown;
}

/** Sentinel: the request was made to hang (no answer is written). */
const HANG = Symbol('hang');

/**
 * A payment provider on localhost, shaped like a real PSP's API:
 *   POST /v1/charges  (Idempotency-Key)      GET /v1/charges?idempotency_key=…
 *   POST /v1/refunds  (Idempotency-Key)      GET /v1/refunds?idempotency_key=…
 * The first request with a key decides; every later one gets the same object back, so no
 * key is ever charged (or refunded) twice. It can be told, programmatically or through
 * /admin/*, to decline, time out (with or without having charged), answer slowly, hold a
 * charge until released, capture asynchronously, and send signed webhooks, duplicated and
 * late. GET /admin/ledger is its own record of what money moved: the tests' witness.
 */
export class ProviderSimulator {
  readonly ledger = new ProviderLedger();
  readonly stats = { chargePosts: 0, chargeLookups: 0, refundPosts: 0, refundLookups: 0 };
  private behaviour: Behaviour;
  private server: Server | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly holds = new Map<string, { released: Promise<void>; release: () => void }>();
  private readonly sender: WebhookSender;

  constructor(private readonly opts: SimulatorOptions) {
    this.behaviour = { ...defaultBehaviour(), ...opts.behaviour };
    this.sender = new WebhookSender(() => this.opts.webhookSecret);
  }

  get port(): number {
    const addr = this.server?.address() as AddressInfo | null | undefined;
    if (!addr) throw new Error('provider simulator not started');
    return addr.port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => void this.dispatch(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.sender.close();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const h of this.holds.values()) h.release();
    this.holds.clear();
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // ---- programmatic control -------------------------------------------------------------

  configure(change: Partial<Behaviour>): Behaviour {
    this.behaviour = { ...this.behaviour, ...change, webhooks: { ...this.behaviour.webhooks, ...change.webhooks } };
    return this.behaviour;
  }

  reset(): void {
    this.behaviour = { ...defaultBehaviour(), webhookUrl: this.behaviour.webhookUrl };
    this.ledger.clear();
    Object.assign(this.stats, { chargePosts: 0, chargeLookups: 0, refundPosts: 0, refundLookups: 0 });
  }

  decline(...orderIds: string[]): void {
    this.configure({ declineOrders: [...this.behaviour.declineOrders, ...orderIds] });
  }

  /** The next `count` charge POSTs for the order hang (and are dropped after hangMs). */
  timeOut(orderId: string, count = 1, mode: TimeoutMode = 'after-charge'): void {
    this.configure({ timeouts: { ...this.behaviour.timeouts, [orderId]: { count, mode } } });
  }

  /** Refunds the order's charge on the provider's own initiative (a dispute, a support agent), with its webhook. */
  refundOnItsOwn(orderId: string): Refund {
    const reply = this.postRefund(`order-${orderId}-refund`, { paymentKey: `order-${orderId}-payment` });
    if (reply.status !== 200) throw new Error(`refund of ${orderId} refused: ${JSON.stringify(reply.body)}`);
    return reply.body as Refund;
  }

  /** Charges of this order wait, unrecorded, until release(orderId). */
  hold(orderId: string): void {
    if (this.holds.has(orderId)) return;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    this.holds.set(orderId, { released, release });
  }

  release(orderId: string): void {
    this.holds.get(orderId)?.release();
    this.holds.delete(orderId);
  }

  snapshot(): { charges: Charge[]; refunds: Refund[] } {
    return this.ledger.snapshot();
  }

  netCharged(orderId: string): number {
    return netCharged(this.ledger.snapshot(), orderId);
  }

  chargeOf(orderId: string): Charge | undefined {
    return this.ledger.charge(`order-${orderId}-payment`);
  }

  /**
   * Sends a webhook about the order's charge (or its refund): `copies` identical deliveries
   * in parallel, after `delayMs`, signed correctly unless mode says forged or tampered.
   */
  async sendWebhook(orderId: string, opts: { type?: WebhookType; copies?: number; delayMs?: number; mode?: SignatureMode; eventId?: string } = {}): Promise<{ event: WebhookEvent; statuses: number[] }> {
    const charge = this.chargeOf(orderId);
    if (!charge) throw new Error(`no charge for order ${orderId}`);
    const type = opts.type ?? (charge.status === 'failed' ? 'payment.failed' : 'payment.captured');
    const refund = type === 'refund.succeeded' ? this.ledger.refund(`order-${orderId}-refund`) : undefined;
    if (type === 'refund.succeeded' && !refund) throw new Error(`no refund for order ${orderId}`);
    const event = refund ? this.refundEvent(refund) : this.chargeEvent(charge, type);
    if (opts.eventId) event.id = opts.eventId;
    const url = this.behaviour.webhookUrl;
    if (!url) throw new Error('no webhookUrl configured');
    const statuses = await this.sender.send(url, event, { copies: opts.copies, delayMs: opts.delayMs, mode: opts.mode });
    return { event, statuses };
  }

  /** Decides a pending (asynchronous) charge now, without sending its webhook. */
  completeCharge(orderId: string, status: 'captured' | 'failed' = 'captured'): Charge {
    const charge = this.chargeOf(orderId);
    if (!charge || charge.status !== 'pending') throw new Error(`no pending charge for order ${orderId}`);
    charge.status = status;
    if (status === 'failed') charge.failureReason = 'card_declined';
    return charge;
  }

  /** Sends a hand-made webhook event (e.g. about a charge that never happened), signed per `mode`. */
  deliver(event: WebhookEvent, opts: { copies?: number; delayMs?: number; mode?: SignatureMode } = {}): Promise<number[]> {
    const url = this.behaviour.webhookUrl;
    if (!url) throw new Error('no webhookUrl configured');
    return this.sender.send(url, event, opts);
  }

  /** Any JSON signed as the provider signs a webhook now (for bodies no event would have). */
  signedBody(json: unknown): { body: string; signature: string } {
    const { body, signature } = this.sender.signature(Buffer.from(JSON.stringify(json)), 'valid');
    return { body: body.toString('utf8'), signature: signature! };
  }

  /** Resolves when no automatic webhook is still on its way. */
  webhooksIdle(): Promise<void> {
    return this.sender.idle();
  }

  // ---- HTTP -----------------------------------------------------------------------------------

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const body = await readBody(req);
      const url = new URL(req.url ?? '/', 'http://provider');
      const key = header(req, 'idempotency-key');
      const reply = await this.route(req.method ?? 'GET', url, key, body, res);
      if (reply === HANG) return;
      if (this.behaviour.slowMs > 0 && !url.pathname.startsWith('/admin')) await this.sleep(this.behaviour.slowMs);
      if (res.destroyed) return;
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reply.body) + '\n');
    } catch (err) {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: String(err) }) + '\n');
      }
    }
  }

  private async route(method: string, url: URL, key: string | undefined, body: unknown, res: ServerResponse): Promise<Reply | typeof HANG> {
    const path = url.pathname;
    if (method === 'POST' && path === '/v1/charges') return this.postCharge(key, body, res);
    if (method === 'GET' && path === '/v1/charges') {
      this.stats.chargeLookups++;
      const c = this.ledger.charge(url.searchParams.get('idempotency_key') ?? '');
      return c ? { status: 200, body: c } : { status: 404, body: { error: 'no_such_charge' } };
    }
    if (method === 'POST' && path === '/v1/refunds') return this.postRefund(key, body);
    if (method === 'GET' && path === '/v1/refunds') {
      this.stats.refundLookups++;
      const r = this.ledger.refund(url.searchParams.get('idempotency_key') ?? '');
      return r ? { status: 200, body: r } : { status: 404, body: { error: 'no_such_refund' } };
    }
    if (method === 'GET' && path === '/admin/ledger') return { status: 200, body: { ...this.snapshot(), stats: this.stats } };
    if (method === 'GET' && path === '/admin/behaviour') return { status: 200, body: this.behaviour };
    if (method === 'POST' && path === '/admin/behaviour') return { status: 200, body: this.configure(obj(body)) };
    if (method === 'POST' && path === '/admin/reset') {
      this.reset();
      return { status: 200, body: { ok: true } };
    }
    if (method === 'POST' && (path === '/admin/hold' || path === '/admin/release')) {
      const orderId = typeof obj(body).orderId === 'string' ? (obj(body).orderId as string) : '';
      if (path === '/admin/hold') this.hold(orderId);
      else this.release(orderId);
      return { status: 200, body: { ok: true } };
    }
    if (method === 'POST' && path === '/admin/webhooks') {
      const b = obj(body) as { orderId?: string; type?: WebhookType; copies?: number; delayMs?: number; mode?: SignatureMode };
      if (!b.orderId) return { status: 400, body: { error: 'orderId required' } };
      const sent = await this.sendWebhook(b.orderId, b);
      return { status: 200, body: sent };
    }
    return { status: 404, body: { error: 'not_found' } };
  }

  private async postCharge(key: string | undefined, body: unknown, res: ServerResponse): Promise<Reply | typeof HANG> {
    this.stats.chargePosts++;
    if (!key) return { status: 400, body: { error: 'idempotency_key_required' } };
    const b = obj(body);
    const orderId = typeof b.orderId === 'string' ? b.orderId : '';
    const amount = b.amount;
    const currency = b.currency;
    if (!orderId || typeof amount !== 'number' || !Number.isInteger(amount) || amount < 0 || typeof currency !== 'string' || !/^[A-Z]{3}$/.test(currency)) {
      return { status: 400, body: { error: 'invalid_request' } };
    }
    if (this.behaviour.unavailableOrders.includes(orderId)) return { status: 503, body: { error: 'service_unavailable' } };
    await this.holds.get(orderId)?.released;
    const timeout = this.takeTimeout(orderId);
    if (timeout === 'before-charge') return this.hang(res);
    let charge = this.ledger.charge(key);
    const override = this.behaviour.chargeOverrides[orderId];
    if (charge) {
      charge.requests++;
      if (!override && (charge.amount !== amount || charge.currency !== currency)) return { status: 422, body: { error: 'idempotency_key_reused_with_other_parameters' } };
    } else {
      charge = this.createCharge(key, orderId, amount + (override?.amountDelta ?? 0), override?.currency ?? currency);
    }
    if (timeout === 'after-charge') return this.hang(res);
    return { status: charge.status === 'failed' ? 402 : 200, body: charge };
  }

  private createCharge(key: string, orderId: string, amount: number, currency: string): Charge {
    const b = this.behaviour;
    const declined = b.declineOrders.includes(orderId) || (b.declineRate > 0 && Math.random() < b.declineRate);
    const async = b.asyncCaptureOrders.includes(orderId) || b.asyncCaptureOrders.includes('*');
    const charge = this.ledger.addCharge({
      id: providerId('ch'),
      idempotencyKey: key,
      orderId,
      amount,
      currency,
      status: async ? 'pending' : declined ? 'failed' : 'captured',
      failureReason: !async && declined ? 'card_declined' : undefined,
      refunded: 0,
      createdAt: new Date().toISOString(),
      requests: 1,
    });
    this.opts.log?.(`charge ${charge.id} ${key} ${amount} ${currency} → ${charge.status}`);
    if (async) {
      this.later(b.asyncCaptureDelayMs, () => {
        charge.status = declined ? 'failed' : 'captured';
        if (declined) charge.failureReason = 'card_declined';
        // An asynchronous outcome is only ever told by webhook.
        this.autoWebhook(this.chargeEvent(charge, declined ? 'payment.failed' : 'payment.captured'), true);
      });
    } else {
      this.autoWebhook(this.chargeEvent(charge, declined ? 'payment.failed' : 'payment.captured'), false);
    }
    return charge;
  }

  private postRefund(key: string | undefined, body: unknown): Reply {
    this.stats.refundPosts++;
    if (!key) return { status: 400, body: { error: 'idempotency_key_required' } };
    const existing = this.ledger.refund(key);
    if (existing) {
      existing.requests++;
      return { status: 200, body: existing };
    }
    const b = obj(body);
    const charge = typeof b.paymentKey === 'string' ? this.ledger.charge(b.paymentKey) : undefined;
    if (!charge) return { status: 404, body: { error: 'charge_not_found' } };
    if (charge.status === 'pending') return { status: 409, body: { error: 'charge_pending' } };
    if (charge.status !== 'captured') return { status: 422, body: { error: 'charge_not_captured' } };
    const amount = typeof b.amount === 'number' ? b.amount : charge.amount - charge.refunded;
    if (!Number.isInteger(amount) || amount <= 0 || amount > charge.amount - charge.refunded) return { status: 422, body: { error: 'amount_exceeds_refundable' } };
    charge.refunded += amount;
    const refund = this.ledger.addRefund({
      id: providerId('re'),
      idempotencyKey: key,
      chargeId: charge.id,
      orderId: charge.orderId,
      amount,
      currency: charge.currency,
      status: 'succeeded',
      createdAt: new Date().toISOString(),
      requests: 1,
    });
    this.opts.log?.(`refund ${refund.id} ${key} ${amount} of ${charge.id}`);
    this.autoWebhook(this.refundEvent(refund), false);
    return { status: 200, body: refund };
  }

  private takeTimeout(orderId: string): TimeoutMode | undefined {
    const t = this.behaviour.timeouts[orderId];
    if (!t || t.count <= 0) return undefined;
    t.count--;
    return t.mode;
  }

  /** Keeps the connection open without an answer, then drops it: the client sees a timeout. */
  private hang(res: ServerResponse): typeof HANG {
    this.later(this.behaviour.hangMs, () => res.destroy());
    return HANG;
  }

  private chargeEvent(c: Charge, type: WebhookType): WebhookEvent {
    return {
      id: providerId('evt'),
      type,
      createdAt: new Date().toISOString(),
      data: { idempotencyKey: c.idempotencyKey, orderId: c.orderId, chargeId: c.id, amount: c.amount, currency: c.currency, reason: c.failureReason },
    };
  }

  private refundEvent(r: Refund): WebhookEvent {
    return {
      id: providerId('evt'),
      type: 'refund.succeeded',
      createdAt: new Date().toISOString(),
      data: { idempotencyKey: r.idempotencyKey, orderId: r.orderId, chargeId: r.chargeId, amount: r.amount, currency: r.currency, refundId: r.id },
    };
  }

  private autoWebhook(event: WebhookEvent, always: boolean): void {
    const { webhookUrl, webhooks } = this.behaviour;
    if (!webhookUrl || (!always && !webhooks.enabled)) return;
    void this.sender.send(webhookUrl, event, { copies: webhooks.duplicates, delayMs: webhooks.delayMs }).catch(() => undefined);
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.later(ms, resolve));
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function obj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
