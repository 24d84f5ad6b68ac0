import { randomBytes } from 'node:crypto';
import type { Charge, Refund } from './types';

export function providerId(prefix: string): string {
  return `${prefix}_${randomBytes(8).toString('hex')}`;
}

/**
 * The provider's own books, keyed by idempotency key like a real PSP's: the first request
 * with a key decides, every later one gets the same object back. Tests read it as the
 * external witness of what money moved.
 */
export class ProviderLedger {
  private readonly charges = new Map<string, Charge>();
  private readonly refunds = new Map<string, Refund>();

  charge(key: string): Charge | undefined {
    return this.charges.get(key);
  }

  chargeById(id: string): Charge | undefined {
    return [...this.charges.values()].find((c) => c.id === id);
  }

  addCharge(c: Charge): Charge {
    this.charges.set(c.idempotencyKey, c);
    return c;
  }

  refund(key: string): Refund | undefined {
    return this.refunds.get(key);
  }

  addRefund(r: Refund): Refund {
    this.refunds.set(r.idempotencyKey, r);
    return r;
  }

  snapshot(): { charges: Charge[]; refunds: Refund[] } {
    return { charges: [...this.charges.values()].map((c) => ({ ...c })), refunds: [...this.refunds.values()].map((r) => ({ ...r })) };
  }

  clear(): void {
    this.charges.clear();
    this.refunds.clear();
  }
}

/** Money kept per order: captured charges minus their refunds. */
export function netCharged(snapshot: { charges: Charge[] }, orderId: string): number {
  return snapshot.charges.filter((c) => c.orderId === orderId && c.status === 'captured').reduce((s, c) => s + c.amount - c.refunded, 0);
}
