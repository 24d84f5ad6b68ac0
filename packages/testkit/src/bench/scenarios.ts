import type { Command } from './e2e';

export const WAREHOUSES = 10;
export const PRODUCTS = 100;

function key(i: number): { productId: string; warehouseId: string } {
  return { productId: `p-${String(i % PRODUCTS).padStart(3, '0')}`, warehouseId: `wh-${Math.floor(i / PRODUCTS) % WAREHOUSES}` };
}

/** Deterministic pseudo-random (mulberry32) so runs are comparable. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Scenario {
  name: string;
  /** Outcome event types that end a command's latency. */
  outcomes: string[];
  /** `history`: commands of earlier runs, all committed; duplicates are exact re-publishes of them. */
  build(prefix: string, n: number, rand: () => number, history: Command[]): Command[];
}

const KEYS = WAREHOUSES * PRODUCTS;

export const scenarios: Scenario[] = [
  {
    name: 'uniform',
    outcomes: ['StockReceived'],
    build: (prefix, n, rand) =>
      Array.from({ length: n }, (_, i) => ({ type: 'ReceiveStock' as const, payload: { ...key(Math.floor(rand() * KEYS)), quantity: 1 }, messageId: `${prefix}-${i}` })),
  },
  {
    name: 'hot-key',
    outcomes: ['StockReceived'],
    build: (prefix, n) =>
      Array.from({ length: n }, (_, i) => ({ type: 'ReceiveStock' as const, payload: { productId: 'p-hot', warehouseId: 'wh-0', quantity: 1 }, messageId: `${prefix}-${i}` })),
  },
  {
    name: 'duplicates-50',
    outcomes: ['StockReceived'],
    build: (prefix, n, rand, history) =>
      Array.from({ length: n }, (_, i) =>
        i % 2 === 1 && history.length > 0
          ? { ...history[Math.floor(rand() * history.length)]!, duplicate: true }
          : { type: 'ReceiveStock' as const, payload: { ...key(Math.floor(rand() * KEYS)), quantity: 1 }, messageId: `${prefix}-${i}` },
      ),
  },
  {
    name: 'duplicates-only',
    outcomes: ['StockReceived'],
    build: (_prefix, n, rand, history) =>
      Array.from({ length: n }, () => ({ ...history[Math.floor(rand() * history.length)]!, duplicate: true })),
  },
  {
    name: 'reservations-3-lines',
    outcomes: ['StockReserved', 'StockReservationRejected'],
    build: (prefix, n, rand) =>
      Array.from({ length: n }, (_, i) => {
        const picked = new Set<number>();
        while (picked.size < 3) picked.add(Math.floor(rand() * KEYS));
        return {
          type: 'ReserveStock' as const,
          payload: { reservationId: `${prefix}-${i}`, lines: [...picked].map((k) => ({ ...key(k), quantity: 1 })), ttlMs: 3_600_000 },
          messageId: `${prefix}-${i}`,
        };
      }),
  },
];

/** Every key gets plenty of stock before the reservation scenario. */
export function seedCommands(prefix: string): Command[] {
  return Array.from({ length: KEYS }, (_, i) => ({ type: 'ReceiveStock' as const, payload: { ...key(i), quantity: 1_000_000 }, messageId: `${prefix}-seed-${i}` }));
}

export function warehouseCommands(prefix: string): Command[] {
  return Array.from({ length: WAREHOUSES }, (_, i) => ({ type: 'RegisterWarehouse' as const, payload: { warehouseId: `wh-${i}`, name: `Warehouse ${i}` }, messageId: `${prefix}-wh-${i}` }));
}
