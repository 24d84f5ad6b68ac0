export type ChargeStatus = 'pending' | 'captured' | 'failed';

export interface Charge {
  id: string;
  idempotencyKey: string;
  orderId: string;
  amount: number;
  currency: string;
  status: ChargeStatus;
  failureReason?: string;
  /** Σ of refunds against this charge. */
  refunded: number;
  createdAt: string;
  /** POSTs that named this key (the first created the charge, the rest got it back). */
  requests: number;
}

export interface Refund {
  id: string;
  idempotencyKey: string;
  chargeId: string;
  orderId: string;
  amount: number;
  currency: string;
  status: 'succeeded';
  createdAt: string;
  requests: number;
}

export type WebhookType = 'payment.captured' | 'payment.failed' | 'refund.succeeded';

/** Exactly what the provider POSTs: the body is signed as serialised here. */
export interface WebhookEvent {
  id: string;
  type: WebhookType;
  createdAt: string;
  data: {
    idempotencyKey: string;
    orderId: string;
    chargeId: string;
    amount: number;
    currency: string;
    reason?: string;
    refundId?: string;
  };
}

/** How a timed-out charge request behaves: the real PSP's two kinds of "no answer". */
export type TimeoutMode =
  /** The charge is made, then the answer never comes (the unknown outcome). */
  | 'after-charge'
  /** The request is lost before anything happens (a retry must charge). */
  | 'before-charge';

export interface WebhookBehaviour {
  /** Send webhooks for every charge outcome and refund (async captures always send one). */
  enabled: boolean;
  /** Copies of each webhook, sent in parallel (same event id, same bytes). */
  duplicates: number;
  /** Delay before a webhook is sent: late webhooks. */
  delayMs: number;
}

export interface Behaviour {
  /** Orders whose charges are declined. */
  declineOrders: string[];
  /** Share (0..1) of other charges declined at random. */
  declineRate: number;
  /** Per order: how many more charge POSTs time out, and how. */
  timeouts: Record<string, { count: number; mode: TimeoutMode }>;
  /** How long a timed-out request hangs before its socket is dropped (longer than any client timeout). */
  hangMs: number;
  /** Every answer is delayed by this much (slow, but within a client's timeout). */
  slowMs: number;
  /** Orders (or '*') whose charges answer `pending` and are captured later, with a webhook. */
  asyncCaptureOrders: string[];
  asyncCaptureDelayMs: number;
  webhooks: WebhookBehaviour;
  /**
   * Per order: the provider charges (and answers, and looks up) another amount or currency than
   * it was asked for, e.g. { amountDelta: -1 } or { currency: 'usd' }: a buggy or hostile PSP.
   */
  chargeOverrides: Record<string, { amountDelta?: number; currency?: string }>;
  /** Orders whose charge requests all fail with 503 before anything is charged (an outage that only they meet). */
  unavailableOrders: string[];
  /** Where webhooks are POSTed. */
  webhookUrl: string | undefined;
}

export function defaultBehaviour(): Behaviour {
  return {
    declineOrders: [],
    declineRate: 0,
    timeouts: {},
    hangMs: 30_000,
    slowMs: 0,
    asyncCaptureOrders: [],
    asyncCaptureDelayMs: 50,
    webhooks: { enabled: false, duplicates: 1, delayMs: 0 },
    chargeOverrides: {},
    unavailableOrders: [],
    webhookUrl: undefined,
  };
}
