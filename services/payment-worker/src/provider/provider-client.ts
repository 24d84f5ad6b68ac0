import { backoffDelay, payments, sleep, TransientError, type Logger } from '@stockflow/shared';

const { paymentKey: paymentKeyOf, refundKey: refundKeyOf } = payments;

export interface ChargeRequest {
  orderId: string;
  amount: number;
  currency: string;
}

/** A definite answer about the charge of one idempotency key. */
export interface ChargeResult {
  /** Null only when the provider refused the request itself (no charge exists). */
  chargeId: string | null;
  status: 'captured' | 'pending' | 'failed';
  amount: number;
  currency: string;
  reason?: string;
}

export type RefundResult =
  | { status: 'succeeded'; refundId: string; chargeId: string; amount: number; currency: string }
  | { status: 'nothing_to_refund'; reason: string };

export interface ProviderClientOptions {
  baseUrl: string;
  timeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  maxAttempts: number;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** What one answer means: a result, "look it up / try again", or (lookups) "never happened". */
type Verdict<T> = { done: T } | 'retry' | 'absent';

/**
 * HTTP client of the payment provider. Every call carries a deterministic Idempotency-Key
 * (order-{id}-payment, order-{id}-refund), so repeating it can never move money twice.
 *
 * A timeout, a dropped connection, a 5xx or a 409 (same key in flight) leaves the outcome
 * unknown: the provider may have acted. The next attempt therefore first asks the provider
 * (GET by idempotency key); only if it never saw the key is the POST repeated, with the same
 * key. After maxAttempts the caller gets a TransientError and the pipeline retries the
 * message in place, so a provider outage blocks only the partitions that need it.
 */
export class ProviderClient {
  constructor(private readonly opts: ProviderClientOptions) {}

  charge(req: ChargeRequest, signal: AbortSignal, log: Logger): Promise<ChargeResult> {
    const key = paymentKeyOf(req.orderId);
    return this.idempotent('charge', key, signal, log, {
      post: () => this.call('POST', '/v1/charges', signal, key, { orderId: req.orderId, amount: req.amount, currency: req.currency }),
      lookup: () => this.chargeByKey(key, signal),
      onPost: (a) => chargeVerdict(a, req),
      onLookup: (a) => (a.status === 404 ? 'absent' : chargeVerdict(a, req)),
    });
  }

  /**
   * The order's charge as the provider has it now (one GET by idempotency key), or undefined
   * if the provider never saw the key. Anything else than a definite answer is transient.
   */
  async lookupCharge(orderId: string, signal: AbortSignal): Promise<ChargeResult | undefined> {
    const key = paymentKeyOf(orderId);
    const answer = await this.chargeByKey(key, signal);
    if (answer.status === 404) return undefined;
    const verdict = answer.status === 200 ? chargeVerdict(answer, { orderId, amount: 0, currency: '' }) : 'retry';
    if (typeof verdict === 'object') return verdict.done;
    throw new TransientError(`charge lookup ${key}: no definite answer (HTTP ${answer.status})`);
  }

  refund(req: ChargeRequest, signal: AbortSignal, log: Logger): Promise<RefundResult> {
    const key = refundKeyOf(req.orderId);
    return this.idempotent('refund', key, signal, log, {
      post: () => this.call('POST', '/v1/refunds', signal, key, { orderId: req.orderId, paymentKey: paymentKeyOf(req.orderId), amount: req.amount, currency: req.currency }),
      lookup: () => this.call('GET', `/v1/refunds?idempotency_key=${encodeURIComponent(key)}`, signal),
      onPost: refundVerdict,
      onLookup: (a) => (a.status === 404 ? 'absent' : refundVerdict(a)),
    });
  }

  private async idempotent<T>(
    what: string,
    key: string,
    signal: AbortSignal,
    log: Logger,
    ops: { post: () => Promise<Answer>; lookup: () => Promise<Answer>; onPost: (a: Answer) => Verdict<T>; onLookup: (a: Answer) => Verdict<T> },
  ): Promise<T> {
    let unknown = false;
    let last = 'no attempt';
    for (let attempt = 0; attempt < this.opts.maxAttempts; attempt++) {
      if (attempt > 0) await sleep(backoffDelay(attempt - 1, this.opts.retryBaseMs, this.opts.retryMaxMs), signal);
      if (signal.aborted) break;
      try {
        if (unknown) {
          const found = ops.onLookup(await ops.lookup());
          if (typeof found === 'object') return found.done;
          if (found === 'retry') {
            last = 'lookup inconclusive';
            continue;
          }
          log.info({ key, attempt }, `${what}: the provider never saw the key; repeating the request with it`);
        }
        const answer = await ops.post();
        const verdict = ops.onPost(answer);
        if (typeof verdict === 'object') return verdict.done;
        unknown = true;
        last = `HTTP ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`;
      } catch (err) {
        if (signal.aborted) break;
        unknown = true;
        last = (err as Error).message;
      }
      log.warn({ key, attempt, last }, `${what}: outcome unknown; will look it up by idempotency key before retrying`);
    }
    throw new TransientError(`${what} ${key}: no definite answer from the provider after ${this.opts.maxAttempts} attempts (${last})`);
  }

  private chargeByKey(key: string, signal: AbortSignal): Promise<Answer> {
    return this.call('GET', `/v1/charges?idempotency_key=${encodeURIComponent(key)}`, signal);
  }

  private async call(method: 'GET' | 'POST', path: string, signal: AbortSignal, key?: string, body?: unknown): Promise<Answer> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (key !== undefined) headers['idempotency-key'] = key;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(new URL(path, this.opts.baseUrl), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.any([signal, AbortSignal.timeout(this.opts.timeoutMs)]),
    });
    const text = await res.text();
    let parsed: unknown = {};
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = { raw: text.slice(0, 200) };
    }
    return { status: res.status, body: (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown> };
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function chargeVerdict(a: Answer, req: ChargeRequest): Verdict<ChargeResult> {
  const b = a.body;
  const chargeId = str(b.id) ?? null;
  const amount = typeof b.amount === 'number' ? b.amount : req.amount;
  const currency = str(b.currency) ?? req.currency;
  if (a.status === 200 || a.status === 201 || a.status === 402) {
    const status = b.status === 'captured' || b.status === 'pending' ? b.status : 'failed';
    if (status !== 'failed' && !chargeId) return 'retry';
    return { done: { chargeId, status, amount, currency, reason: status === 'failed' ? (str(b.failureReason) ?? 'declined') : undefined } };
  }
  // The provider refused the request itself: retrying the same request cannot change that.
  if (a.status === 400 || a.status === 422) return { done: { chargeId: null, status: 'failed', amount, currency, reason: `provider refused the request (HTTP ${a.status}: ${str(b.error) ?? 'no detail'})` } };
  return 'retry';
}

function refundVerdict(a: Answer): Verdict<RefundResult> {
  const b = a.body;
  if (a.status === 200 || a.status === 201) {
    const refundId = str(b.id);
    const chargeId = str(b.chargeId);
    if (!refundId || !chargeId || typeof b.amount !== 'number') return 'retry';
    return { done: { status: 'succeeded', refundId, chargeId, amount: b.amount, currency: str(b.currency) ?? '' } };
  }
  // No such charge, or nothing left to refund (failed charge): a definite "no".
  if (a.status === 404 || a.status === 422) return { done: { status: 'nothing_to_refund', reason: str(b.error) ?? `HTTP ${a.status}` } };
  // 409: the charge is still pending at the provider; try again later.
  return 'retry';
}
