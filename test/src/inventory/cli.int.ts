import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { command, InventoryRig } from './rig';

// Phases wait up to SETTLE_MS each; on a loaded two-core machine 120 s per test is too tight.
jest.setTimeout(300_000);

const ROOT = resolve(__dirname, '../../..');
const CLI = resolve(ROOT, 'services/inventory-worker/dist/cli.js');

/**
 * The read-model CLI as an operator runs it: a separate process (built by `npx tsc -b`) on the
 * test's database after real traffic, judged by its output and its exit status.
 */
describe('stock CLI', () => {
  let rig: InventoryRig;
  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} missing: run \`npx tsc -b\` before the tests`);
    rig = await InventoryRig.start('stock-cli', { instances: 1, partitions: 4 });
    await rig.warehouses(['wh-1', 'wh-2']);
    await rig.stockUp([
      { productId: 'sku-cli', warehouseId: 'wh-1', quantity: 10 },
      { productId: 'sku-cli', warehouseId: 'wh-2', quantity: 4 },
    ]);
    await rig.run([
      command('ReserveStock', { reservationId: 'r-cli', orderId: 'o-cli', lines: [{ productId: 'sku-cli', warehouseId: 'wh-1', quantity: 3 }] }, 'reserve-r-cli'),
      command('ShipStock', { productId: 'sku-cli', warehouseId: 'wh-2', quantity: 1 }, 'ship-cli'),
    ]);
  });
  afterAll(async () => rig?.cleanup());

  async function stock(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: rig.env.databaseUrl }, timeout: 60_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('shows a row, a product and a reservation, and says whether levels and ledger agree', async () => {
    const one = await stock('stock', 'sku-cli', 'wh-1', '--json');
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({
      productId: 'sku-cli',
      warehouseId: 'wh-1',
      onHand: 10,
      reserved: 3,
      available: 7,
      version: 2,
      ledger: { onHand: 10, reserved: 3, entries: 2 },
      held: 3,
      consistent: true,
    });

    const product = await stock('sku-cli');
    expect(product.code).toBe(0);
    const lines = product.stdout.trim().split('\n');
    expect(lines[0]).toBe('sku-cli');
    expect(lines.slice(2).map((l) => l.split(/\s+/))).toEqual([
      ['wh-1', '10', '3', '7', '2', '10', '3', '3', 'yes'],
      ['wh-2', '3', '0', '3', '2', '3', '0', '0', 'yes'],
      ['(total)', '13', '3', '10', '13', '3', '3', 'yes'],
    ]);

    const reservation = await stock('reservation', 'r-cli', '--json');
    expect(reservation.code).toBe(0);
    expect(JSON.parse(reservation.stdout)).toMatchObject({
      id: 'r-cli',
      orderId: 'o-cli',
      status: 'held',
      lines: [{ productId: 'sku-cli', warehouseId: 'wh-1', quantity: 3 }],
      ledger: [{ kind: 'reserve', productId: 'sku-cli', warehouseId: 'wh-1', deltaOnHand: 0, deltaReserved: 3, messageId: 'reserve-r-cli' }],
    });
    expect((await stock('reservation', 'r-cli')).stdout).toMatch(/^reservation r-cli \(order o-cli\): held\n/);
  });

  it('exits 1 for unknown rows and reservations, 2 for bad usage', async () => {
    expect(await stock('sku-none', 'wh-1')).toMatchObject({ code: 1, stderr: expect.stringContaining('no stock row for sku-none @ wh-1') });
    expect(await stock('reservation', 'r-none')).toMatchObject({ code: 1, stderr: expect.stringContaining('no reservation r-none') });
    expect(await stock()).toMatchObject({ code: 2, stderr: expect.stringContaining('Usage:') });
    expect(await stock('reservation')).toMatchObject({ code: 2, stderr: expect.stringContaining('Usage:') });
    expect(await stock('--help')).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Usage: npm run stock/) });
    const unknown = await stock('sku-cli', '--bogus');
    expect(unknown).toMatchObject({ code: 2, stdout: '', stderr: expect.stringMatching(/^Unknown option '--bogus'/) });
  });

  it('exits 3 when a row no longer agrees with its ledger (a write that bypassed the worker)', async () => {
    // Valid for the CHECK constraints, but no ledger entry explains it.
    await rig.env.query(`UPDATE inventory.stock SET on_hand = on_hand + 1 WHERE product_id = 'sku-cli' AND warehouse_id = 'wh-2'`);
    const one = await stock('sku-cli', 'wh-2', '--json');
    expect(one.code).toBe(3);
    expect(JSON.parse(one.stdout)).toMatchObject({ onHand: 4, ledger: { onHand: 3 }, consistent: false });
    expect((await stock('sku-cli')).code).toBe(3);
    expect((await stock('sku-cli', 'wh-1')).code).toBe(0);
  });

  it('runs as the root npm script', async () => {
    const { stdout } = await promisify(execFile)('npm', ['run', '--silent', 'stock', '--', 'sku-cli', 'wh-1'], { cwd: ROOT, env: { ...process.env, DATABASE_URL: rig.env.databaseUrl }, timeout: 60_000 });
    expect(stdout).toContain('sku-cli @ wh-1');
    expect(stdout).toMatch(/consistent yes/);
  });
});
