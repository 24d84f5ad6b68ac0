import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { eventually, TestEnv } from '../support';

const ROOT = join(__dirname, '../../..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** A shell command line as a user types it, with its exit code and output. */
function sh(line: string, env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn('bash', ['-c', line], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('exit', (code) => resolve({ code: code ?? -1, out, err }));
  });
}

/** The commands a banner shows: its indented lines, without their `# comment`. */
function commandsOf(banner: string): string[] {
  return banner
    .split('\n')
    .filter((l) => /^ {4}(npm run|curl|open) /.test(l))
    .map((l) => l.replace(/\s+#.*$/, '').trim());
}

/**
 * `npm start`'s supervisor (scripts/start.js, after the bootstrap) against the test's own
 * namespace and database, on ports of its own: the banner it prints once the workers are ready,
 * and every command that banner (and the README's copy of it) tells a user to type, run as
 * typed. Ctrl-C then stops everything cleanly.
 */
describe('npm start and the commands its banner shows', () => {
  let env: TestEnv;
  let supervisor: ChildProcess | undefined;
  afterAll(async () => {
    // On a failure midway: SIGTERM lets the supervisor stop its workers (each its own process
    // group); SIGKILL only if it does not exit.
    const s = supervisor;
    if (s?.pid && s.exitCode === null && s.signalCode === null) {
      const exited = new Promise((resolve) => s.once('exit', resolve));
      process.kill(-s.pid, 'SIGTERM');
      const timer = new Promise((resolve) => setTimeout(resolve, 30_000).unref());
      if ((await Promise.race([exited.then(() => 'exited'), timer])) !== 'exited') process.kill(-s.pid, 'SIGKILL');
    }
    await env?.cleanup();
  });

  it('starts the workers on the ports asked for, and each banner command works', async () => {
    env = await TestEnv.create('npm-start', { partitions: 16 });
    const ports = { INVENTORY_HTTP_PORT: await freePort(), ORDER_HTTP_PORT: await freePort(), PAYMENT_HTTP_PORT: await freePort(), GATEWAY_HTTP_PORT: await freePort() };
    const shellEnv: NodeJS.ProcessEnv = { ...process.env, ...env.env(), ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])) };
    supervisor = spawn(process.execPath, [join(ROOT, 'scripts/start.js')], { cwd: ROOT, env: shellEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    supervisor.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    supervisor.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    await eventually(() => expect(output).toContain('stockflow is running'), 90_000, 200);
    // env.env() sets HTTP_PORT, which would give the three workers one port.
    expect(output).toContain('HTTP_PORT would give every service one port: ignored');

    const banner = output.slice(output.indexOf('stockflow is running'));
    const commands = commandsOf(banner);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const readmeBanner = readme.slice(readme.indexOf('stockflow is running: inventory-worker'));
    for (const c of commandsOf(readmeBanner.slice(0, readmeBanner.indexOf('```'))).filter((c) => c.startsWith('npm run') || c.includes('/v1/commands/'))) expect(commands).toContain(c.replace(':8084/', `:${ports.GATEWAY_HTTP_PORT}/`));

    for (const [name, port] of Object.entries(ports)) {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect([name, res.status]).toEqual([name, 200]);
    }

    for (const command of commands) {
      if (command.startsWith('open ')) continue; // a browser
      const r = await sh(command, shellEnv);
      if (command.startsWith('npm run flood')) expect([command, r.code, r.out.slice(-2000)]).toEqual([command, 0, expect.stringContaining('PASSED')]);
      // npm prints its own `> stockflow@… ops` lines first: the verdict is the first line of ours.
      else if (command.startsWith('npm run ops -- status')) expect([command, r.out.split('\n').find((l) => /^(healthy|degraded)/.test(l))]).toEqual([command, expect.stringMatching(/^(healthy|degraded: (?!.*unreachable))/)]);
      else if (command.startsWith('npm run stock')) expect([command, r.code, r.out]).toEqual([command, 0, expect.stringContaining('sku-1')]);
      else expect([command, r.code, r.err]).toEqual([command, 0, expect.any(String)]);
      if (command.includes('RegisterWarehouse')) await eventually(async () => expect(await env.query(`SELECT 1 FROM inventory.warehouse WHERE id = 'wh-1'`)).toHaveLength(1));
      if (command.startsWith('curl') && command.includes('/v1/commands/')) {
        // Over HTTP, with Prefer: wait: the answer is the outcome, applied before it came.
        expect(JSON.parse(r.out)).toMatchObject({ state: 'applied', outcome: { type: 'StockReceived' } });
        expect(await env.query(`SELECT on_hand FROM inventory.stock WHERE product_id = 'sku-1'`)).toEqual([{ on_hand: 7 }]);
      } else if (command.includes('ReceiveStock')) await eventually(async () => expect(await env.query(`SELECT on_hand FROM inventory.stock WHERE product_id = 'sku-1'`)).toEqual([{ on_hand: 5 }]));
      else if (command.startsWith('curl')) expect(r.out).toContain('stockflow_messages_total');
    }

    const exited = new Promise<number | null>((resolve) => supervisor!.on('exit', (code) => resolve(code)));
    process.kill(-supervisor.pid!, 'SIGINT');
    expect(await exited).toBe(0);
  }, 300_000);
});
