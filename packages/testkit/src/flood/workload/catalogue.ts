import { stockKey } from '@stockflow/shared';
import type { Rng } from '../rng';

export interface StockLocation {
  productId: string;
  warehouseId: string;
  key: string;
}

export interface CatalogueOptions {
  /** Short run tag inside every id, so runs sharing a database (attach mode) never mix. */
  tag: string;
  products: number;
  warehouses: number;
  hotKeys: number;
  /** Share (0..1) of stock traffic that goes to the hot keys. */
  hotShare: number;
}

/**
 * Products × warehouses of one run. Every id carries the run tag: the checker scopes each
 * query by it (product ids `p-<tag>-<i>`, warehouses `w-<tag>-<j>`).
 */
export class Catalogue {
  readonly warehouses: string[];
  readonly products: string[];
  readonly locations: StockLocation[];
  readonly hot: StockLocation[];

  constructor(
    readonly opts: CatalogueOptions,
    rng: Rng,
  ) {
    this.warehouses = Array.from({ length: opts.warehouses }, (_, j) => `w-${opts.tag}-${j}`);
    this.products = Array.from({ length: opts.products }, (_, i) => `p-${opts.tag}-${i}`);
    this.locations = this.products.flatMap((productId) => this.warehouses.map((warehouseId) => ({ productId, warehouseId, key: stockKey(productId, warehouseId) })));
    this.hot = rng.shuffle([...this.locations]).slice(0, Math.min(opts.hotKeys, this.locations.length));
  }

  /** A location, skewed towards the hot keys when there are any. */
  location(rng: Rng): StockLocation {
    if (this.hot.length > 0 && rng.chance(this.opts.hotShare)) return rng.pick(this.hot);
    return rng.pick(this.locations);
  }

  /** A warehouse other than `from` (for transfers). */
  otherWarehouse(rng: Rng, from: string): string {
    const others = this.warehouses.filter((w) => w !== from);
    return rng.pick(others);
  }

  /** Up to `max` distinct locations (an order or reservation names each product+warehouse once). */
  distinctLocations(rng: Rng, max: number): StockLocation[] {
    const n = rng.int(1, Math.max(1, max));
    const picked = new Map<string, StockLocation>();
    for (let tries = 0; picked.size < n && tries < n * 4; tries++) {
      const l = this.location(rng);
      picked.set(l.key, l);
    }
    return [...picked.values()];
  }

  /** The run's id prefixes, for scoping queries: LIKE '<prefix>%'. */
  static prefixes(tag: string) {
    return { product: `p-${tag}-`, warehouse: `w-${tag}-`, order: `o-${tag}-`, reservation: `r-${tag}-`, command: `c-${tag}-` };
  }
}
