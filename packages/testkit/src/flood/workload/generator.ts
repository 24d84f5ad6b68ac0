import { partitionKeyOf, stockKey, type CommandType, type Payload } from '@stockflow/shared';
import { Rng } from '../rng';
import { Catalogue } from './catalogue';
import type { Mix, PlannedCommand, ProviderPlan } from './types';

export interface GeneratorOptions {
  tag: string;
  seed: string | number;
  mix: Mix;
  /** Stock each location receives in the setup phase. */
  initialStock: number;
  maxOrderLines: number;
  /** Share of orders whose charge the provider declines. */
  declineRate: number;
  /** Share of orders whose first charge request times out (half after charging, half before). */
  timeoutRate: number;
  /** Share of orders captured asynchronously: the outcome comes only by webhook. */
  asyncCaptureRate: number;
  /** Share of orders whose hold is short enough to race the payment (expiry paths). */
  shortHoldRate: number;
  /** Share of cancels sent before their order's PlaceOrder (the cancel-first tombstone path). */
  cancelFirstShare: number;
}

/** Long enough for a payment through a backlog on a loaded machine; short holds race on purpose. */
export const ORDER_TTL_MS = 120_000;
const SHORT_TTL_MS: [number, number] = [300, 2_500];
const RESERVATION_TTL_MS: [number, number] = [300, 2_000];
/** How far behind its reservation a direct release or commit comes, in generated commands. */
const FOLLOW_UP_DISTANCE: [number, number] = [3, 300];
const RECENT_ORDERS = 300;

interface FollowUp {
  dueAt: number;
  build(n: number): PlannedCommand;
}

/**
 * The seeded workload, as an endless stream: the caller decides when to stop (--commands or
 * --duration), so the same generator serves a bounded flood and a soak. Deterministic for a
 * seed: the same seed yields the same commands, ids and provider behaviour in the same order.
 */
export class WorkloadGenerator {
  readonly catalogue: Catalogue;
  private readonly rng: Rng;
  private nextOrder = 0;
  private nextReservation = 0;
  private readonly recentOrders: string[] = [];
  private readonly followUps: FollowUp[] = [];

  constructor(
    readonly opts: GeneratorOptions,
    catalogue?: Catalogue,
  ) {
    this.rng = Rng.derive(opts.seed, 'workload');
    this.catalogue = catalogue ?? new Catalogue({ tag: opts.tag, products: 1, warehouses: 2, hotKeys: 0, hotShare: 0 }, Rng.derive(opts.seed, 'catalogue'));
  }

  private id(n: number | string): string {
    return `c-${this.opts.tag}-${n}`;
  }

  private planned<T extends CommandType>(n: number, type: T, payload: Payload<T>, extra: Partial<PlannedCommand> = {}): PlannedCommand {
    return { n, messageId: this.id(n), type, key: partitionKeyOf(type, payload), payload, ...extra };
  }

  /** Warehouses first, then the initial stock of every location. */
  setup(): PlannedCommand[] {
    const out: PlannedCommand[] = [];
    this.catalogue.warehouses.forEach((warehouseId, i) => out.push({ ...this.planned(-1, 'RegisterWarehouse', { warehouseId, name: `flood warehouse ${i}` }), messageId: this.id(`w${i}`), setup: true }));
    this.catalogue.locations.forEach((l, i) => {
      if (this.opts.initialStock <= 0) return;
      out.push({ ...this.planned(-1, 'ReceiveStock', { productId: l.productId, warehouseId: l.warehouseId, quantity: this.opts.initialStock, reference: 'initial stock' }), messageId: this.id(`s${i}`), setup: true });
    });
    return out;
  }

  *commands(): Generator<PlannedCommand> {
    for (let n = 0; ; n++) {
      const due = this.followUps[0];
      if (due && due.dueAt <= n) {
        this.followUps.shift();
        yield due.build(n);
        continue;
      }
      yield this.next(n);
    }
  }

  private next(n: number): PlannedCommand {
    const rng = this.rng;
    switch (rng.weighted(this.opts.mix)) {
      case 'receive': {
        const l = this.catalogue.location(rng);
        return this.planned(n, 'ReceiveStock', { productId: l.productId, warehouseId: l.warehouseId, quantity: rng.int(1, 25) });
      }
      case 'adjustDelta': {
        const l = this.catalogue.location(rng);
        let delta = rng.int(-6, 10);
        if (delta === 0) delta = 1;
        return this.planned(n, 'AdjustStock', { mode: 'delta', productId: l.productId, warehouseId: l.warehouseId, delta, reason: 'cycle count' });
      }
      case 'adjustSet': {
        const l = this.catalogue.location(rng);
        return {
          n,
          messageId: this.id(n),
          type: 'AdjustStock',
          key: stockKey(l.productId, l.warehouseId),
          payload: null,
          setAdjustment: { productId: l.productId, warehouseId: l.warehouseId, countOffset: rng.int(-5, 10), reason: 'recount' },
        };
      }
      case 'transfer': {
        const l = this.catalogue.location(rng);
        if (this.catalogue.warehouses.length < 2) return this.next(n);
        return this.planned(n, 'TransferStock', { productId: l.productId, fromWarehouseId: l.warehouseId, toWarehouseId: this.catalogue.otherWarehouse(rng, l.warehouseId), quantity: rng.int(1, 8) });
      }
      case 'ship': {
        const l = this.catalogue.location(rng);
        return this.planned(n, 'ShipStock', { productId: l.productId, warehouseId: l.warehouseId, quantity: rng.int(1, 8) });
      }
      case 'order':
        return this.order(n);
      case 'cancel':
        return this.cancel(n);
      case 'reserve':
        return this.reservation(n);
    }
  }

  private order(n: number): PlannedCommand {
    const rng = this.rng;
    const orderId = `o-${this.opts.tag}-${this.nextOrder++}`;
    const lines = this.catalogue.distinctLocations(rng, this.opts.maxOrderLines).map((l) => ({ productId: l.productId, warehouseId: l.warehouseId, quantity: rng.int(1, 3), unitPrice: rng.int(100, 5_000) }));
    const reservationTtlMs = rng.chance(this.opts.shortHoldRate) ? rng.int(...SHORT_TTL_MS) : ORDER_TTL_MS;
    const provider: ProviderPlan = { orderId };
    if (rng.chance(this.opts.declineRate)) provider.decline = true;
    if (rng.chance(this.opts.timeoutRate)) provider.timeout = rng.chance(0.5) ? 'after-charge' : 'before-charge';
    if (rng.chance(this.opts.asyncCaptureRate)) provider.asyncCapture = true;
    this.recentOrders.push(orderId);
    if (this.recentOrders.length > RECENT_ORDERS) this.recentOrders.shift();
    return this.planned(n, 'PlaceOrder', { orderId, customerId: `cust-${rng.int(1, 500)}`, currency: 'EUR', lines, reservationTtlMs }, provider.decline || provider.timeout || provider.asyncCapture ? { provider } : {});
  }

  private cancel(n: number): PlannedCommand {
    const rng = this.rng;
    if (this.recentOrders.length === 0 || rng.chance(this.opts.cancelFirstShare)) {
      // Names the order that will be placed next: its cancel travels first on its key.
      const orderId = `o-${this.opts.tag}-${this.nextOrder}`;
      return this.planned(n, 'CancelOrder', { orderId, reason: 'customer_request', note: 'cancelled before it was placed' });
    }
    return this.planned(n, 'CancelOrder', { orderId: rng.pick(this.recentOrders), reason: 'customer_request', note: 'customer changed their mind' });
  }

  /** A direct hold with a short TTL: most are left to expire, some released or committed later. */
  private reservation(n: number): PlannedCommand {
    const rng = this.rng;
    const reservationId = `r-${this.opts.tag}-${this.nextReservation++}`;
    const lines = this.catalogue.distinctLocations(rng, 2).map((l) => ({ productId: l.productId, warehouseId: l.warehouseId, quantity: rng.int(1, 3) }));
    const roll = rng.next();
    if (roll < 0.35) {
      const release = roll < 0.2;
      this.followUp(n + rng.int(...FOLLOW_UP_DISTANCE), (m) =>
        release ? this.planned(m, 'ReleaseReservation', { reservationId, reason: 'flood release' }) : this.planned(m, 'CommitReservation', { reservationId }),
      );
    }
    return this.planned(n, 'ReserveStock', { reservationId, lines, ttlMs: rng.int(...RESERVATION_TTL_MS) });
  }

  private followUp(dueAt: number, build: (n: number) => PlannedCommand): void {
    const i = this.followUps.findIndex((f) => f.dueAt > dueAt);
    this.followUps.splice(i === -1 ? this.followUps.length : i, 0, { dueAt, build });
  }
}
