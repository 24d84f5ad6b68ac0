import type { ReservationView, StockView } from './read-model';

const yes = (ok: boolean) => (ok ? 'yes' : 'NO');

/** One row in detail: the levels, each beside the witness it must agree with. */
export function formatStock(v: StockView): string {
  return [
    `${v.productId} @ ${v.warehouseId}`,
    `  on hand    ${v.onHand}   (ledger ${v.ledger.onHand})`,
    `  reserved   ${v.reserved}   (ledger ${v.ledger.reserved}, held reservations ${v.held})`,
    `  available  ${v.available}`,
    `  version    ${v.version}   updated ${v.updatedAt}, ${v.ledger.entries} ledger entries`,
    `  consistent ${yes(v.consistent)}`,
  ].join('\n');
}

/** All warehouses of a product as a table, with a total line. */
export function formatProduct(productId: string, views: StockView[]): string {
  const head = ['warehouse', 'on_hand', 'reserved', 'available', 'version', 'ledger_on_hand', 'ledger_reserved', 'held', 'consistent'];
  const rows = views.map((v) => [v.warehouseId, v.onHand, v.reserved, v.available, v.version, v.ledger.onHand, v.ledger.reserved, v.held, yes(v.consistent)].map(String));
  const sum = (f: (v: StockView) => number) => String(views.reduce((s, v) => s + f(v), 0));
  rows.push(['(total)', sum((v) => v.onHand), sum((v) => v.reserved), sum((v) => v.available), '', sum((v) => v.ledger.onHand), sum((v) => v.ledger.reserved), sum((v) => v.held), yes(views.every((v) => v.consistent))]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [productId, line(head), ...rows.map(line)].join('\n');
}

export function formatReservation(r: ReservationView): string {
  return [
    `reservation ${r.id}${r.orderId ? ` (order ${r.orderId})` : ''}: ${r.status}`,
    `  created ${r.createdAt}, expires ${r.expiresAt}, closed ${r.closedAt ?? '-'}`,
    ...r.lines.map((l) => `  line  ${l.productId} @ ${l.warehouseId} × ${l.quantity}`),
    ...r.ledger.map((l) => `  ledger ${l.at} ${l.kind.padEnd(7)} ${l.productId} @ ${l.warehouseId}  on_hand ${signed(l.deltaOnHand)}  reserved ${signed(l.deltaReserved)}  (${l.messageId})`),
  ].join('\n');
}

function signed(n: number): string {
  return n > 0 ? `+${n}` : String(n);
}
