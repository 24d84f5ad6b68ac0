import { Redis } from 'ioredis';
import { Client } from 'pg';
import { startInventory, TestEnv } from '../support';
import { ManagementApi, managementUrlOf } from '@stockflow/ops';
import { ops } from './run-ops';

/**
 * `ops namespace drop` removes a second deployment from a shared broker, Redis and Postgres:
 * refused while its workers run, a dry run that only says what it would remove, then nothing of
 * it left; the live default namespace is refused without --yes.
 */
describe('ops namespace drop', () => {
  let env: TestEnv;
  afterAll(async () => env?.cleanup());

  it('refuses while workers run, shows the plan dry, then removes queues, exchanges, Redis keys and the database', async () => {
    env = await TestEnv.create('nsdrop');
    const worker = await startInventory(env);
    const management = new ManagementApi(managementUrlOf(env.amqpUrl), env.amqpUrl);
    const queues = async () => (await management.queues(`${env.namespace}.`)).length;
    const databases = async () => {
      const admin = new URL(env.databaseUrl);
      admin.pathname = '/postgres';
      const c = new Client({ connectionString: admin.toString() });
      await c.connect();
      try {
        return (await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = $1', [new URL(env.databaseUrl).pathname.slice(1)])).rows.length;
      } finally {
        await c.end();
      }
    };
    expect(await queues()).toBeGreaterThan(0);

    const running = await ops(env, ['namespace', 'drop', '--database']);
    expect(running.code).toBe(1);
    expect(running.err).toMatch(/1 worker instance\(s\) still run in namespace '.*' \(inv-[a-z0-9]+\): stop them first/);
    await worker.stop();

    const dry = await ops(env, ['namespace', 'drop', '--database', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(new RegExp(`namespace '${env.namespace}':\\n  \\d+ queue\\(s\\) holding \\d+ message\\(s\\), 5 exchange\\(s\\)\\n  \\d+ Redis key\\(s\\)`));
    expect(dry.out).toContain('dry run: nothing removed');
    expect(await queues()).toBeGreaterThan(0);
    expect(await databases()).toBe(1);

    const done = await ops(env, ['namespace', 'drop', '--database']);
    expect(done).toMatchObject({ code: 0, out: expect.stringContaining(`dropped namespace '${env.namespace}' and database`) });
    expect(await queues()).toBe(0);
    expect((await management.exchanges(`${env.namespace}.`)).length).toBe(0);
    const redis = new Redis(env.redisUrl);
    try {
      expect(await redis.keys(`${env.namespace}:*`)).toEqual([]);
    } finally {
      redis.disconnect();
    }
    expect(await databases()).toBe(0);
  });

  it('refuses the default namespace without --yes, touching nothing', async () => {
    const r = await ops(env, ['namespace', 'drop', '--namespace', 'stockflow']);
    expect(r).toMatchObject({ code: 2, err: expect.stringContaining("refusing to drop the default namespace 'stockflow'") });
  });
});
