import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { declareTopology } from '@stockflow/shared';
import { eventually, startInventory, TestEnv } from '../support';

const ROOT = resolve(__dirname, '../../..');

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** `npm run -s send -- …` as the README shows it, with the test's deployment in the environment. */
function send(args: string[], env: Record<string, string>): Promise<Outcome> {
  return new Promise((done) => {
    execFile('npm', ['run', '-s', 'send', '--', ...args], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

describe('npm run send', () => {
  let env: TestEnv;
  let deployment: Record<string, string>;
  beforeAll(async () => {
    env = await TestEnv.create('send-cli');
    deployment = env.env();
    // The queues exist before any worker runs, so a refused message would be seen there.
    const conn = await env.connection('topology');
    await declareTopology(() => conn.createChannel(), env.topology, ['inventory']);
  });
  afterAll(async () => env?.cleanup());

  it('--help prints the usage and the command types, and exits 0', async () => {
    const r = await send(['--help'], deployment);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^usage: npm run send -- <Type>/);
    expect(r.stdout).toContain('PlaceOrder');
  });

  it('refuses an unknown type, an unknown flag and a payload that is not JSON with one line and exit 2', async () => {
    const unknown = await send(['Nope', '{}'], deployment);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^send: unknown type Nope \(known: RegisterWarehouse, ReceiveStock, .*PlaceOrder.*\)\n/);
    const flag = await send(['--force', 'ReceiveStock', '{}'], deployment);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/^send: Unknown option '--force'/);
    const webhook = await send(['ProviderWebhook', '{}'], deployment);
    expect(webhook.code).toBe(2);
    expect(webhook.stderr).toMatch(/^send: ProviderWebhook is the payment provider's signed webhook/);
    expect((await send(['toString', '{}'], deployment)).stderr).toMatch(/^send: unknown type toString/);
    const json = await send(['ReceiveStock', '{nope'], deployment);
    expect(json.code).toBe(2);
    expect(json.stderr).toMatch(/^send: the payload is not JSON/);
    expect(unknown.stdout + flag.stdout + json.stdout + webhook.stdout).toBe('');
  });

  it('refuses what the worker would dead-letter (an invalid id, a bad field) and publishes nothing', async () => {
    const badId = await send(['ReceiveStock', '{"productId":"sku-1","warehouseId":"wh-1","quantity":1}', 'review bad id'], deployment);
    expect(badId.code).toBe(2);
    expect(badId.stderr).toMatch(/^send: not sent, ReceiveStock is invalid: invalid_envelope: messageId/);
    const badField = await send(['ReceiveStock', '{"productId":"sku-1","warehouseId":"wh-1","quantity":0,"reservationTTLms":5}', 'rcv-1'], deployment);
    expect(badField.code).toBe(2);
    expect(badField.stderr).toContain('quantity: ');
    expect(badField.stderr).toContain('reservationTTLms');
    expect(badId.stdout + badField.stdout).toBe('');
    expect(Object.values(await env.queueDepths(['inventory'])).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('fails within its connect timeout with one human line when the broker is unreachable or refuses the login', async () => {
    for (const url of ['amqp://guest:guest@127.0.0.1:1', env.amqpUrl.replace(/\/\/[^@]*@/, '//guest:wrong-password@')]) {
      const r = await send(['RegisterWarehouse', '{"warehouseId":"wh-1","name":"Main"}', 'wh-1'], { ...deployment, AMQP_URL: url });
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^send failed: cannot connect to the broker at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:\d+.*\n$/);
      expect(r.stderr).not.toContain('wrong-password');
    }
    const slash = await send(['RegisterWarehouse', '{"warehouseId":"wh-1","name":"Main"}', 'wh-1'], { ...deployment, AMQP_URL: 'amqp://svc:hunter/2@127.0.0.1:5672' });
    expect(slash.code).toBe(2);
    expect(slash.stderr).toContain('amqp://svc:***@127.0.0.1:5672');
    expect(slash.stderr).not.toContain('hunter');
  });

  it('publishes a command the worker applies, once however often it is sent', async () => {
    await startInventory(env);
    const first = await send(['RegisterWarehouse', '{"warehouseId":"wh-1","name":"Main"}', 'wh-1'], deployment);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toMatch(/^RegisterWarehouse wh-1 -> \S+\.commands\.inventory partition \d+ \(confirmed\)\n$/);
    await eventually(async () => expect(await env.query(`SELECT 1 FROM inventory.warehouse WHERE id = 'wh-1'`)).toHaveLength(1));
    for (let i = 0; i < 2; i++) expect((await send(['ReceiveStock', '{"productId":"sku-1","warehouseId":"wh-1","quantity":4}', 'rcv-sku-1'], deployment)).code).toBe(0);
    await eventually(async () => expect(await env.query(`SELECT on_hand FROM inventory.stock WHERE product_id = 'sku-1'`)).toEqual([{ on_hand: 4 }]));
    await env.waitIdle(20_000, ['inventory']);
    expect(await env.query(`SELECT on_hand FROM inventory.stock WHERE product_id = 'sku-1'`)).toEqual([{ on_hand: 4 }]);
  });
});
