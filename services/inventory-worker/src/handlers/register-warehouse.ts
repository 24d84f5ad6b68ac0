import type { Handler } from '@stockflow/shared';
import type { InventoryUnitOfWork } from '../unit-of-work';

export const registerWarehouse: Handler<InventoryUnitOfWork, 'RegisterWarehouse'> = {
  type: 'RegisterWarehouse',
  declare: (uow, p) => uow.needWarehouse(p.warehouseId),
  async handle(ctx, p) {
    ctx.uow.addWarehouse(p.warehouseId, p.name);
    ctx.emit('WarehouseRegistered', { warehouseId: p.warehouseId, name: p.name });
  },
};
