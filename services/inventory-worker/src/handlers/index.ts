import type { HandlerMap } from '@stockflow/shared';
import type { ExpirySchedule } from '../expiry/expiry-schedule';
import type { InventoryUnitOfWork } from '../unit-of-work';
import { adjustStock } from './adjust-stock';
import { commitReservation } from './commit-reservation';
import { expireReservation } from './expire-reservation';
import { receiveStock } from './receive-stock';
import { registerWarehouse } from './register-warehouse';
import { releaseReservation } from './release-reservation';
import { reserveStock } from './reserve-stock';
import { shipStock } from './ship-stock';
import { transferStock } from './transfer-stock';

export function inventoryHandlers(opts: { defaultTtlMs: number; schedule: ExpirySchedule }): HandlerMap<InventoryUnitOfWork> {
  return {
    RegisterWarehouse: registerWarehouse,
    ReceiveStock: receiveStock,
    AdjustStock: adjustStock,
    TransferStock: transferStock,
    ShipStock: shipStock,
    ReserveStock: reserveStock(opts),
    ReleaseReservation: releaseReservation(opts),
    CommitReservation: commitReservation(opts),
    ExpireReservation: expireReservation(opts),
  };
}
