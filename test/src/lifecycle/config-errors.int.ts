import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '../../..');

/**
 * A worker with a bad configuration refuses to start before it touches anything: exit 2, one
 * line per bad variable on stderr, no stack trace, and no secret or password in the text.
 */
describe('a worker started with a bad configuration', () => {
  function run(service: string, env: Record<string, string>) {
    const res = spawnSync(process.execPath, [join(ROOT, 'services', service, 'dist', 'main.js')], {
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });
    return { status: res.status, stderr: res.stderr, stdout: res.stdout };
  }

  it('payment-worker without WEBHOOK_SECRET outside development: exit 2, naming the variable', () => {
    const r = run('payment-worker', { DATABASE_URL: 'postgres://app:hunter2@127.0.0.1:1/nowhere' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^payment-worker: invalid configuration:\n {2}- WEBHOOK_SECRET is required/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe('');
  });

  it('never prints the secret or the password of a bad value', () => {
    const r = run('payment-worker', { WEBHOOK_SECRET: 'hunter2', AMQP_URL: 'http://guest:s3cr3t@127.0.0.1:1' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('WEBHOOK_SECRET: must be at least 16 characters');
    expect(r.stderr).toContain('AMQP_URL="http://guest:***@127.0.0.1:1');
    expect(r.stderr).not.toMatch(/hunter2|s3cr3t/);
  });
});
