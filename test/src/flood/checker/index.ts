import { Catalogue } from '../workload/catalogue';
import { checkConservation } from './conservation';
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
 * Proves ARCHITECTURE.md's six invariants for one run from its history, the database and
 * the provider's ledger. Pure reads: it can run against a live flood's database or one a
 * test prepared (and corrupted) by hand.
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
  ];
  return { ok: invariants.every((i) => i.ok), invariants };
}
