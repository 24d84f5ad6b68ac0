import { backoffDelay, orders, payments, PermanentMessageError, sleep, TransientError, type Logger } from '@stockflow/shared';

const { paymentKey: paymentKeyOf, refundKey: refundKeyOf } = payments;

export interface ChargeRequest {
  orderId: string;
  amount: number;
  currency: string;
}

/** A definite answer about the charge of one idempotency key, as the provider stated it. */
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

/** A refund as far as its ids go: made (which refund, of which charge), or nothing to refund. */
export type RefundIds = { status: 'succeeded'; refundId: string; chargeId: string } | { status: 'nothing_to_refund'; reason: string };

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
 * The provider answered, but with something that cannot be recorded (an amount that is not
 * money in minor units, a lowercase or missing currency, an unknown status, no charge id).
 * Asking again gets the same answer, and guessing the missing part would be assuming money:
 * the charge behind it must be given back or looked at by a person, never recorded as is.
 */
export class ProviderAnswerError extends PermanentMessageError {
  constructor(
    readonly what: string,
    readonly detail: string,
  ) {
    super('invalid_provider_answer', `${what}: the provider's answer cannot be recorded (${detail})`);
  }
}

/**
 * HTTP client of the payment provider. Every call carries a deterministic Idempotency-Key
 * (order-{id}-payment, order-{id}-refund), so repeating it can never move money twice.
 *
 * A timeout, a dropped connection, a 5xx or a 409 (same key in flight) leaves the outcome
 * unknown: the provider may have acted. The next attempt therefore first asks the provider
 * (GET by idempotency key); only if it never saw the key is the POST repeated, with the same
 * key. After maxAttempts the caller gets a TransientError and the pipeline's retry policy
 * decides. Every answer is checked field by field before it is believed: nothing the provider
 * leaves out is filled in from the request.
 */
export class ProviderClient {
  constructor(private readonly opts: ProviderClientOptions) {}

  charge(req: ChargeRequest, signal: AbortSignal, log: Logger): Promise<ChargeResult> {
    const key = paymentKeyOf(req.orderId);
    return this.idempotent('charge', key, signal, log, {
      post: () => this.call('POST', '/v1/charges', signal, key, { orderId: req.orderId, amount: req.amount, currency: req.currency }),
      lookup: () => this.chargeByKey(key, signal),
      onPost: (a) => chargeVerdict(a, key, req),
      onLookup: (a) => (a.status === 404 ? 'absent' : chargeVerdict(a, key, req)),
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
    const verdict = answer.status === 200 ? chargeVerdict(answer, key) : 'retry';
    if (typeof verdict === 'object' && verdict.done.chargeId !== null) return verdict.done;
    throw new TransientError(`charge lookup ${key}: no definite answer (HTTP ${answer.status})`);
  }

  /** Gives back `amount` of the order's charge, in `currency` (the charge's). */
  refund(req: ChargeRequest, signal: AbortSignal, log: Logger): Promise<RefundResult> {
    return this.refundWith(req, signal, log, refundVerdict);
  }

  /**
   * Gives back all that is left of the order's charge, for a charge whose answers cannot be
   * recorded: only the refund's ids are read back (its amount and currency are the charge's,
   * as unusable as they were there).
   */
  refundAll(orderId: string, signal: AbortSignal, log: Logger): Promise<RefundIds> {
    return this.refundWith({ orderId }, signal, log, refundIdsVerdict);
  }

  private refundWith<T>(req: { orderId: string; amount?: number; currency?: string }, signal: AbortSignal, log: Logger, verdict: (a: Answer, key: string) => Verdict<T>): Promise<T> {
    const key = refundKeyOf(req.orderId);
    return this.idempotent('refund', key, signal, log, {
      post: () => this.call('POST', '/v1/refunds', signal, key, { orderId: req.orderId, paymentKey: paymentKeyOf(req.orderId), amount: req.amount, currency: req.currency }),
      lookup: () => this.refundByKey(key, signal),
      onPost: (a) => verdict(a, key),
      onLookup: (a) => (a.status === 404 ? 'absent' : verdict(a, key)),
    });
  }

  /** The order's refund as the provider has it now, or undefined if it never made one. */
  async lookupRefund(orderId: string, signal: AbortSignal): Promise<Extract<RefundResult, { status: 'succeeded' }> | undefined> {
    const key = refundKeyOf(orderId);
    const answer = await this.refundByKey(key, signal);
    if (answer.status === 404) return undefined;
    const verdict = answer.status === 200 ? refundVerdict(answer, key) : 'retry';
    if (typeof verdict === 'object' && verdict.done.status === 'succeeded') return verdict.done;
    throw new TransientError(`refund lookup ${key}: no definite answer (HTTP ${answer.status})`);
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
        if (err instanceof ProviderAnswerError) throw err;
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

  private refundByKey(key: string, signal: AbortSignal): Promise<Answer> {
    return this.call('GET', `/v1/refunds?idempotency_key=${encodeURIComponent(key)}`, signal);
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

/** The provider's id of a charge or refund: what we store and compare, so nothing odd in it. */
function providerId(v: unknown): string | undefined {
  return typeof v === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(v) ? v : undefined;
}

/** Amount and currency exactly as money is recorded (minor units, ISO 4217), or what is wrong with them. */
function money(b: Record<string, unknown>): { amount: number; currency: string } | string {
  if (!orders.Money.safeParse(b.amount).success) return `amount ${JSON.stringify(b.amount)} is not an amount in minor units`;
  if (!orders.Currency.safeParse(b.currency).success) return `currency ${JSON.stringify(b.currency)} is not an ISO 4217 code`;
  return { amount: b.amount as number, currency: b.currency as string };
}

/** `req`: what was asked, recorded as such when the provider refuses the request (no charge, no money moved). */
function chargeVerdict(a: Answer, key: string, req?: ChargeRequest): Verdict<ChargeResult> {
  const b = a.body;
  if (a.status === 200 || a.status === 201 || a.status === 402) {
    const invalid = (detail: string) => new ProviderAnswerError(`charge ${key}`, `HTTP ${a.status}: ${detail}`);
    if (b.status !== 'captured' && b.status !== 'pending' && b.status !== 'failed') throw invalid(`status ${JSON.stringify(b.status)}`);
    const chargeId = providerId(b.id);
    if (!chargeId) throw invalid(`charge id ${JSON.stringify(b.id)}`);
    const m = money(b);
    if (typeof m === 'string') throw invalid(m);
    return { done: { chargeId, status: b.status, amount: m.amount, currency: m.currency, reason: b.status === 'failed' ? (str(b.failureReason)?.slice(0, 200) ?? 'declined') : undefined } };
  }
  // The provider refused the request itself: retrying the same request cannot change that,
  // and no money moved (there is no charge to describe).
  if (req && (a.status === 400 || a.status === 422)) return { done: { chargeId: null, status: 'failed', amount: req.amount, currency: req.currency, reason: `provider refused the request (HTTP ${a.status}: ${str(b.error)?.slice(0, 100) ?? 'no detail'})` } };
  return 'retry';
}

function refundIdsVerdict(a: Answer, key: string): Verdict<RefundIds> {
  const b = a.body;
  if (a.status === 200 || a.status === 201) {
    const refundId = providerId(b.id);
    const chargeId = providerId(b.chargeId);
    if (!refundId || !chargeId) throw new ProviderAnswerError(`refund ${key}`, `HTTP ${a.status}: refund id ${JSON.stringify(b.id)}, charge id ${JSON.stringify(b.chargeId)}`);
    if (b.status !== undefined && b.status !== 'succeeded') throw new ProviderAnswerError(`refund ${key}`, `HTTP ${a.status}: status ${JSON.stringify(b.status)}`);
    return { done: { status: 'succeeded', refundId, chargeId } };
  }
  // No such charge, or nothing left to refund (failed charge): a definite "no".
  if (a.status === 404 || a.status === 422) return { done: { status: 'nothing_to_refund', reason: str(b.error)?.slice(0, 100) ?? `HTTP ${a.status}` } };
  // 409: the charge is still pending at the provider; try again later.
  return 'retry';
}

function refundVerdict(a: Answer, key: string): Verdict<RefundResult> {
  const ids = refundIdsVerdict(a, key);
  if (typeof ids !== 'object') return ids;
  if (ids.done.status !== 'succeeded') return { done: ids.done };
  const m = money(a.body);
  if (typeof m === 'string') throw new ProviderAnswerError(`refund ${key}`, `HTTP ${a.status}: ${m}`);
  return { done: { ...ids.done, amount: m.amount, currency: m.currency } };
}
