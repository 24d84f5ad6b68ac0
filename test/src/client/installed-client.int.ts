import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Saga } from '../orders/harness';

const run = promisify(execFile);
const INSTALL_AND_RUN_MS = 300_000;
const CLIENT_DIR = resolve(__dirname, '../../../packages/client');
const README = join(CLIENT_DIR, 'README.md');
const ROOT = resolve(__dirname, '../../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

/** The README's example: its one ```js block, run as written. */
function readmeExample(): string {
  const blocks = [...readFileSync(README, 'utf8').matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
  expect(blocks).toHaveLength(1);
  return blocks[0]!;
}

/**
 * The client as an outside team gets it: `npm pack`, installed into an empty folder outside the
 * workspace (so nothing of the monorepo can be resolved), and the README's example run there
 * against real workers.
 */
describe('@stockflow/client installed from its tarball', () => {
  let dir: string;
  let saga: Saga | undefined;
  afterAll(async () => {
    await saga?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // npm pack builds the client, npm install fetches amqplib and zod, then three workers start:
  // minutes on a busy host, none of it this test's subject.
  it('installs with amqplib and zod only, and its README example places an order the workers confirm', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sf-client-'));
    const { stdout: packed } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: CLIENT_DIR });
    const tarball = join(dir, (JSON.parse(packed) as { filename: string }[])[0]!.filename);
    const app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'upstream-app', version: '1.0.0', private: true }));
    await run('npm', ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: app, timeout: 120_000 });

    const installed = JSON.parse(readFileSync(join(app, 'node_modules/@stockflow/client/package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(installed.dependencies).sort()).toEqual(['amqplib', 'zod']);
    const { stdout: tree } = await run('npm', ['ls', '--all', '--parseable'], { cwd: app });
    expect(tree).not.toMatch(/node_modules\/(typeorm|pg|ioredis|pino|@stockflow\/shared)(\n|$)/);

    // TypeScript users get the payload types: a correct order compiles, a misspelt field does not.
    const typed = (field: string) => `import { Publisher, type Payload } from '@stockflow/client';
const order: Payload<'PlaceOrder'> = { orderId: 'o-1', customerId: 'c-1', currency: 'EUR', lines: [{ productId: 'p', warehouseId: 'w', quantity: 1, unitPrice: 100 }], ${field}: 60000 };
export async function place(publisher: Publisher): Promise<number> {
  return (await publisher.send('PlaceOrder', order, { messageId: 'place-o-1' })).partition;
}
`;
    const tsc = (file: string) => run(process.execPath, [TSC, '--noEmit', '--strict', '--target', 'es2022', '--module', 'node16', '--moduleResolution', 'node16', '--typeRoots', join(ROOT, 'node_modules/@types'), '--types', 'node', file], { cwd: app });
    writeFileSync(join(app, 'typed.ts'), typed('reservationTtlMs'));
    await tsc('typed.ts');
    writeFileSync(join(app, 'misspelt.ts'), typed('reservationTTLms'));
    await expect(tsc('misspelt.ts')).rejects.toMatchObject({ stdout: expect.stringContaining("'reservationTTLms' does not exist in type") });

    saga = await Saga.start('client-pack');
    await saga.pub.send('RegisterWarehouse', { warehouseId: 'wh-main', name: 'Main' }, { messageId: 'wh-main' });
    await saga.tap.waitFor((events) => events.some((e) => e.type === 'WarehouseRegistered'));
    await saga.pub.send('ReceiveStock', { productId: 'sku-42', warehouseId: 'wh-main', quantity: 5 }, { messageId: 'receive-sku-42' });
    await saga.tap.waitFor((events) => events.some((e) => e.type === 'StockReceived'));

    writeFileSync(join(app, 'example.js'), readmeExample());
    const env = { ...process.env, AMQP_URL: saga.env.amqpUrl, STOCKFLOW_NAMESPACE: saga.env.namespace, PARTITIONS: String(saga.env.topology.partitions) };
    const { stdout } = await run(process.execPath, ['example.js'], { cwd: app, env, timeout: 30_000 });
    expect(stdout).toMatch(/^PlaceOrder place-o-1001 confirmed on partition \d+\n$/);
    const order = await saga.waitForStatus('o-1001', 'CONFIRMED');
    expect(order).toMatchObject({ id: 'o-1001', status: 'CONFIRMED' });
  }, INSTALL_AND_RUN_MS);
});
