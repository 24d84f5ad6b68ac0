import { Catalogue } from '../workload/catalogue';
import { checkConservation } from './conservation';
import { checkDeadLetters } from './dead-letters';
import { checkForgedWebhooks, checkNodeFailover, checkPauseHeld, checkRelayFailover } from './fault-measures';
import { checkIdReuse } from './id-reuse';
import { checkExactlyOnce } from './exactly-once';
import { checkNothingLost } from './nothing-lost';
import { checkOrders } from './orders';
import { checkPerKeyOrder } from './per-key-order';
import { checkStockLevels } from './stock-levels';
import type { CheckInput, InvariantResult } from './types';

export * from './types';

export interface CheckReport {
  ok: boolean;
  invariants: InvariantResult[];
}

/**
 * Proves the invariants of docs/concurrent-testing.md (What the checker proves) for one run: six
 * from its history, the database and the provider's ledger, six about the edges (reused ids,
 * dead letters and parked rows, forged webhooks, relay failover, pauses, RabbitMQ node outages)
 * from the same and the faults' own measures. Pure reads: it can run against a live flood's database or one a test prepared (and corrupted) by hand.
 */
export async function check(input: CheckInput): Promise<CheckReport> {
  const ctx = { ...input, prefix: Catalogue.prefixes(input.tag) };
  const invariants = [
    await checkStockLevels(ctx),
    await checkConservation(ctx),
    await checkExactlyOnce(ctx),
    await checkNothingLost(ctx),
    await checkOrders(ctx),
    await checkPerKeyOrder(ctx),
    await checkIdReuse(ctx),
    await checkDeadLetters(ctx),
    await checkForgedWebhooks(ctx),
    checkRelayFailover(ctx),
    checkPauseHeld(ctx),
    checkNodeFailover(ctx),
  ];
  return { ok: invariants.every((i) => i.ok), invariants };
}
