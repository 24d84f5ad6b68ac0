import type { History } from '../history/history';
import type { FloodPublisher } from '../publish/flood-publisher';
import type { PlannedCommand } from '../workload/types';

/**
 * The setup phase, before any fault: warehouses first (a receipt for a warehouse inventory
 * does not know yet is refused), then the initial stock, each step until its events arrived.
 * Warehouses and stock keys are different partition keys, so only waiting orders them.
 */
export async function runSetup(commands: PlannedCommand[], flood: FloodPublisher, history: History, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const warehouses = commands.filter((c) => c.type === 'RegisterWarehouse');
  const rest = commands.filter((c) => c.type !== 'RegisterWarehouse');
  for (const step of [warehouses, rest]) {
    await flood.publishAll(step.map((command) => ({ command, duplicate: false as const, copies: 0 })));
    await flood.confirmed();
    for (;;) {
      const missing = step.filter((c) => !history.firstEffectAt.has(c.messageId));
      if (missing.length === 0) break;
      if (Date.now() > deadline) throw new Error(`setup: no event for ${missing.length} commands (first: ${missing[0]!.messageId} ${missing[0]!.type}) after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
