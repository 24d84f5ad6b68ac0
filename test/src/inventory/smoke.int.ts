import { TestEnv, startInventory, eventually } from '../support';

describe('inventory smoke', () => {
  let env: TestEnv;
  afterAll(async () => env?.cleanup());

  it('receives stock through the partition consumer and publishes events via the outbox', async () => {
    env = await TestEnv.create('smoke');
    const worker = await startInventory(env);
    const tap = await env.tap();
    const pub = await env.publisher();
    await pub.send('RegisterWarehouse', { warehouseId: 'wh-1', name: 'Main' }, { messageId: 'wh-1' });
    await tap.waitForCount('WarehouseRegistered', 1);
    await pub.send('ReceiveStock', { productId: 'sku-1', warehouseId: 'wh-1', quantity: 5 }, { messageId: 'r-1' });
    const received = await tap.waitForCount('StockReceived', 1);
    expect(received[0]!.payload).toEqual({
      productId: 'sku-1',
      warehouseId: 'wh-1',
      quantity: 5,
      onHand: 5,
      reserved: 0,
      version: 1,
      levels: [{ productId: 'sku-1', warehouseId: 'wh-1', onHand: 5, reserved: 0, available: 5, version: 1 }],
    });
    const rows = await eventually(async () => {
      const r = await env.query<{ on_hand: number }>('SELECT on_hand FROM inventory.stock');
      expect(r).toHaveLength(1);
      return r;
    });
    expect(rows[0]!.on_hand).toBe(5);
    await worker.stop();
  });
});
