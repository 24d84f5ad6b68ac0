import { ExpirySchedule } from '@stockflow/inventory-worker';
import { eventually, startInventory, TestEnv } from '../support';
import { registerWarehouses } from '../foundation/fixtures';

/**
 * After-commit steps (the expiry schedule write) are not awaited by their partition; a worker
 * that stops waits for the ones still running before it closes Redis.
 */
describe('after-commit steps at stop', () => {
  let env: TestEnv;
  afterAll(async () => env?.cleanup());

  it('stop waits for a schedule write still running after its commit', async () => {
    env = await TestEnv.create('after-commit-stop');
    const worker = await startInventory(env, { HTTP_PORT: 0 });
    const add = Reflect.get<ExpirySchedule, 'add'>(ExpirySchedule.prototype, 'add');
    let open: () => void = () => undefined;
    const gate = new Promise<void>((r) => (open = r));
    let written = false;
    const slowAdd = jest.spyOn(ExpirySchedule.prototype, 'add').mockImplementation(async function (this: ExpirySchedule, id, at) {
      await gate;
      await add.call(this, id, at);
      written = true;
    });
    try {
      const pub = await env.publisher();
      const tap = await env.tap();
      await registerWarehouses(pub, ['wh-1']);
      await tap.waitForCount('WarehouseRegistered', 1);
      await pub.send('ReceiveStock', { productId: 'sku-stop', warehouseId: 'wh-1', quantity: 2 }, { messageId: 'stop-receive' });
      await pub.send('ReserveStock', { reservationId: 'stop-hold', lines: [{ productId: 'sku-stop', warehouseId: 'wh-1', quantity: 1 }], ttlMs: 60_000 }, { messageId: 'stop-reserve' });
      await tap.waitForCount('StockReserved', 1, 30_000);
      await eventually(async () => expect(slowAdd).toHaveBeenCalledTimes(1));

      let stopped = false;
      const stopping = worker.stop().then(() => (stopped = true));
      await new Promise((r) => setTimeout(r, 500));
      expect(stopped).toBe(false);
      open();
      await stopping;
      // Written before Redis closed.
      expect(written).toBe(true);
      expect(await env.redis.zscore(ExpirySchedule.KEY, 'stop-hold')).not.toBeNull();
    } finally {
      open();
      slowAdd.mockRestore();
    }
  });
});
