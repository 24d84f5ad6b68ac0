import { backoffDelay } from '@stockflow/client/internal';
import { isConstraintViolation, isTransientDbError } from '../db/errors';
import { PermanentMessageError, PublishError, TransientError, ValidationError } from '../errors';

/**
 * The one retry policy: how a failure is classified, how long to wait before the next attempt,
 * and how many attempts each kind of work gets before something visible happens instead.
 *
 *   classify(err)  permanent  the message is wrong (schema, signature, constraint, an answer
 *                             that cannot be recorded): never retried
 *                  transient  something outside the message failed (deadlock, killed session,
 *                             broker nack or return, provider down): retried after backoff()
 *                  unknown    anything else (a bug, most likely): retried a few times, then
 *                             taken as the message's fault
 *
 *   budget         attempts (the first included) per kind of failure, per kind of work:
 *
 *   work           transient  unknown  past the budget
 *   transaction    20 (~75 s) 3        transient: the partition gives its deliveries back to
 *                                      the broker, whose x-delivery-limit (DELIVERY_LIMIT) counts
 *                                      each time; unknown: the message is isolated (one per
 *                                      transaction) and dead-lettered (handler_error)
 *   prepare        5          3        the handler's exhausted() decides (payments: an unknown
 *                                      charge outcome is recorded pending for the sweep), else
 *                                      dead letter dependency_unavailable
 *   deadLetter     5          5        given back to the broker (x-delivery-limit applies)
 *   compensation   5          5        dead-lettered anyway, marked "compensation failed"
 *   relayPublish   5          5        the outbox row is parked (outbox_parked), with the rows
 *                                      of its key behind it
 *
 * Not bounded, on purpose: reconnecting to the broker (AmqpConnection) and to Postgres (the
 * outbox relay's session). They hold no message; a worker without them is not ready (/readyz)
 * and has nothing else to do. The provider client makes PROVIDER_MAX_ATTEMPTS calls per
 * prepare attempt (look-ups by idempotency key between them) with the same backoff.
 */
export type FailureKind = 'transient' | 'permanent' | 'unknown';

export interface Budget {
  readonly transient: number;
  readonly unknown: number;
}

export const BUDGETS = {
  transaction: { transient: 20, unknown: 3 },
  prepare: { transient: 5, unknown: 3 },
  deadLetter: { transient: 5, unknown: 5 },
  compensation: { transient: 5, unknown: 5 },
  relayPublish: { transient: 5, unknown: 5 },
} as const satisfies Record<string, Budget>;

export function classify(err: unknown): FailureKind {
  if (err instanceof PermanentMessageError || err instanceof ValidationError) return 'permanent';
  if (err instanceof PublishError) return err.kind === 'unencodable' ? 'permanent' : 'transient';
  if (err instanceof TransientError) return 'transient';
  if (isTransientDbError(err)) return 'transient';
  if (isConstraintViolation(err)) return 'permanent';
  return 'unknown';
}

/** What to do after a failure: try again after `delayMs`, or stop (the budget is spent, or retrying cannot help). */
export type Decision = { retry: true; kind: FailureKind; delayMs: number } | { retry: false; kind: FailureKind };

/** The backoff formula lives with the client, whose connection retries with it too. */
export { backoffDelay };

export class RetryPolicy {
  constructor(
    readonly baseMs: number,
    readonly maxMs: number,
  ) {}

  backoff(attempt: number): number {
    return backoffDelay(attempt, this.baseMs, this.maxMs);
  }

  /** After failure number `attempt` (0-based) of a piece of work with this budget. */
  next(err: unknown, attempt: number, budget: Budget): Decision {
    const kind = classify(err);
    if (kind === 'permanent' || attempt + 1 >= budget[kind]) return { retry: false, kind };
    return { retry: true, kind, delayMs: this.backoff(attempt) };
  }
}
