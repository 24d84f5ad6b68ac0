import { spawn } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as amqp from 'amqplib';
import { AmqpConnection, ConfirmPublisher, declareTopology, partitionQueue, type TopologyOptions } from '@stockflow/shared';
import { clusterProcesses, down, findRabbitMq, type ClusterStatus } from '@stockflow/testkit/cluster/local-cluster';
import { runFlood } from '@stockflow/testkit/flood/flood';
import { parseFaults } from '@stockflow/testkit/flood/faults/plan';
import { defaultOptions, type FloodOptions } from '@stockflow/testkit/flood/options';
import { summaryText } from '@stockflow/testkit/flood/report/summary';
import { LOCAL_DEFAULTS, TEST_LOG_DIR } from '../support';

const ROOT = join(__dirname, '../../..');
const CLI = join(ROOT, 'packages/testkit/dist/cluster/cli.js');
/** Away from the script's defaults (5701…), so a developer's own cluster is left alone. */
const BASE_PORT = 5741;
const PREFIX = 'sf-test';

/** Runs the CLI as a user would (it needs `npx tsc -b`, which npm test runs first). */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

async function members(managementPort: number, queue: string): Promise<string[]> {
  const res = await fetch(`http://127.0.0.1:${managementPort}/api/queues/%2F/${encodeURIComponent(queue)}`, { headers: { authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64') } });
  if (!res.ok) return [];
  return ((await res.json()) as { members?: string[] }).members ?? [];
}

async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Publishes one message with a confirm through `publishUrl` and consumes it through
 * `consumeUrl` (a consumer: quorum queues with single active consumer refuse basic.get).
 */
async function roundTrip(publishUrl: string, consumeUrl: string, queue: string, body: string): Promise<string | undefined> {
  const pub = await amqp.connect(publishUrl);
  const con = await amqp.connect(consumeUrl);
  try {
    const ch = await pub.createConfirmChannel();
    ch.sendToQueue(queue, Buffer.from(body), { persistent: true });
    await ch.waitForConfirms();
    const cch = await con.createChannel();
    return await new Promise<string | undefined>((resolve, reject) => {
      const timer = setTimeout(() => resolve(undefined), 15_000);
      cch.consume(queue, (msg) => {
        if (!msg) return;
        clearTimeout(timer);
        cch.ack(msg);
        resolve(msg.content.toString());
      }).catch(reject);
    });
  } finally {
    await pub.close();
    await con.close();
  }
}

const rabbitInstalled = (() => {
  try {
    findRabbitMq();
    return true;
  } catch {
    return false;
  }
})();

/**
 * A publisher connected to the node that leads its queue, and that node killed: the publisher
 * reconnects to another node at once, while the queue is still electing its new leader. A
 * channel that first publishes to the queue in that moment is nacked until the dead node
 * returns (RabbitMQ 3.10); the publisher must replace it and be confirmed again long before.
 */
async function publisherOutlivesItsNode(dir: string, urls: string[]): Promise<void> {
  const queue = `t-failover-${randomBytes(3).toString('hex')}`;
  const admin = await amqp.connect(urls[1]!);
  const ch = await admin.createChannel();
  await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-quorum-initial-group-size': 3 } });
  await admin.close();
  const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
  const conn = new AmqpConnection({ url: [urls[1]!, urls[2]!], firstAddress: 0, name: 't-failover', heartbeatS: 5, retryBaseMs: 50, retryMaxMs: 1000, log });
  const publisher = new ConfirmPublisher(conn, log);
  await conn.start();
  await publisher.start();
  let killedAt = 0;
  let firstConfirmAfterKill = 0;
  let publishing = true;
  const loop = (async () => {
    for (let i = 0; publishing; i++) {
      const sentAt = Date.now();
      await publisher.publish('', queue, Buffer.from('{}'), { messageId: `m-${i}` }).then(
        () => {
          if (killedAt > 0 && sentAt > killedAt && firstConfirmAfterKill === 0) firstConfirmAfterKill = Date.now();
        },
        () => undefined,
      );
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  try {
    await new Promise((r) => setTimeout(r, 1000));
    killedAt = Date.now();
    expect((await cli(['stop-node', '2', '--kill', '--dir', dir])).code).toBe(0);
    await eventually(async () => firstConfirmAfterKill, (t) => t > 0, 15_000);
    // Node 2 is still down here: the confirms came from the other two.
    expect({ confirmedAgain: firstConfirmAfterKill > 0, withinMs: firstConfirmAfterKill - killedAt < 10_000 }).toEqual({ confirmedAgain: true, withinMs: true });
  } finally {
    publishing = false;
    await loop;
    await publisher.stop();
    await conn.close();
    expect((await cli(['start-node', '2', '--dir', dir])).code).toBe(0);
  }
}

/**
 * A flood on the cluster (`npm run flood -- --cluster DIR`): its workers on all three nodes,
 * the node leading the most partition queues down for a while (stopped or crashed), then every
 * node restarted in turn; every invariant holds, including node-failover (each partition a
 * downed node led moves on again). Small and slow (a rate, not the flood's full speed) so that
 * both node faults fire while it publishes.
 */
async function floodOnTheCluster(dir: string, progressLog: string): Promise<void> {
  const opts: FloodOptions = {
    ...defaultOptions(),
    seed: process.env.FLOOD_SEED ?? '23',
    cluster: dir,
    commands: 4000,
    rate: 30,
    instances: { inventory: 2, orders: 1, payments: 1 },
    faults: parseFaults('node=1,rolling-restart=1,kill=1,conn=1'),
    nodeDownMs: 15_000,
    quiet: true,
    quiesceTimeoutMs: 90_000,
    drainMaxMs: 240_000,
  };
  const { report } = await runFlood(opts, { say: (line) => appendFileSync(progressLog, `${new Date().toISOString()} ${line}\n`) });
  writeFileSync(join(TEST_LOG_DIR, `cluster-flood-${report.tag}.json`), JSON.stringify(report, null, 2));
  appendFileSync(progressLog, summaryText(report));
  expect({ quiescence: report.quiescence.reached, failed: report.invariants.filter((i) => !i.ok) }).toEqual({ quiescence: true, failed: [] });
  expect(report.faults).toMatchObject({ node: 1, 'rolling-restart': 1 });
  // One outage for the node fault, one per node for the rolling restart, each measured.
  expect(report.nodeOutages).toHaveLength(4);
  const failover = report.invariants.find((i) => i.name === 'node-failover')!;
  expect(failover.checked).toBeGreaterThan(0);
  for (const o of report.nodeOutages) expect(o.stalled).toEqual([]);
  expect(report.ok).toBe(true);
}

/**
 * The local cluster script for real: three RabbitMQ nodes on this machine (beside its own
 * broker), a quorum queue replicated on all three, a node stopped and the queue still served,
 * a flood on it with node faults, and nothing left after `down`. Needs RabbitMQ installed
 * locally (npm run bootstrap does).
 */
(rabbitInstalled ? describe : describe.skip)('npm run cluster', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-cluster-test-'));
  mkdirSync(TEST_LOG_DIR, { recursive: true });
  const progressLog = join(TEST_LOG_DIR, `cluster-${process.pid}-${Date.now()}.txt`);
  // Each step's start, so that a run out of time shows where the time went.
  const began = Date.now();
  const steps: string[] = [];
  let finished = false;
  const step = (name: string): void => {
    const line = `+${((Date.now() - began) / 1000).toFixed(1)} s ${name}`;
    steps.push(line);
    appendFileSync(progressLog, `${new Date().toISOString()} ${line}\n`);
  };
  afterAll(async () => {
    if (!finished) {
      // The nodes' own logs go with the directory: a failed run keeps them to read why.
      const kept = join(TEST_LOG_DIR, `cluster-nodes-${process.pid}-${Date.now()}`);
      if (existsSync(dir)) cpSync(dir, kept, { recursive: true, filter: (src) => !src.includes('/mnesia/') });
      console.error(`cluster test steps (progress in ${progressLog}, node logs in ${kept}):\n${steps.join('\n')}`);
    }
    // Whatever failed above: no node of this test outlives it.
    await down({ dir });
  }, 60_000);

  it('brings up three clustered nodes, replicates a quorum queue on all three, keeps serving with one stopped, keeps a publisher confirmed through a killed node, floods through node faults, and leaves nothing after down', async () => {
    step('up');
    const up = await cli(['up', '--dir', dir, '--base-port', String(BASE_PORT), '--prefix', PREFIX, '--json']);
    expect({ code: up.code, stderr: up.code === 0 ? '' : up.stderr }).toEqual({ code: 0, stderr: '' });
    const info = JSON.parse(up.stdout) as { amqpUrl: string; managementUrls: string[]; started: string[] };
    const urls = info.amqpUrl.split(',');
    expect(urls).toEqual([0, 1, 2].map((i) => `amqp://guest:guest@127.0.0.1:${BASE_PORT + i}`));
    expect(info.started).toHaveLength(3);

    step('up again, status');
    const again = await cli(['up', '--dir', dir, '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ started: [], joined: [] });

    const st = await cli(['status', '--dir', dir, '--json']);
    expect(st.code).toBe(0);
    const status = JSON.parse(st.stdout) as ClusterStatus;
    expect(status.healthy).toBe(true);
    const names = status.nodes.map((n) => n.name);
    expect(names).toEqual([1, 2, 3].map((i) => `${PREFIX}-${i}@localhost`));
    for (const n of status.nodes) expect(n.members.filter((m) => m.running).map((m) => m.name).sort()).toEqual(names);

    // The topology through node 1, with a group size of 3: every queue on all three nodes.
    step('topology, round trip');
    const topology: TopologyOptions = { namespace: `t-cluster-${randomBytes(3).toString('hex')}`, partitions: 1, deliveryLimit: 20, quorumGroupSize: 3 };
    const queue = partitionQueue(topology.namespace, 'inventory', 0, 1);
    const conn = await amqp.connect(urls[0]!);
    await declareTopology(() => conn.createChannel(), topology, ['inventory']);
    await conn.close();
    const placed = await eventually(() => members(BASE_PORT + 10_000, queue), (m) => m.length === 3, 15_000);
    expect(placed.sort()).toEqual(names);

    expect(await roundTrip(urls[1]!, urls[1]!, queue, 'through node 2')).toBe('through node 2');

    // Node 1 down: two of three members remain, a majority; the queue still takes and gives.
    step('node 1 down, round trip');
    const stop = await cli(['stop-node', '1', '--dir', dir]);
    expect(stop.code).toBe(0);
    expect((await cli(['status', '--dir', dir])).code).toBe(1);
    expect(await roundTrip(urls[1]!, urls[2]!, queue, 'with node 1 down')).toBe('with node 1 down');

    // Back in the cluster; then a publisher whose node dies under it, and a flood with a node down and a rolling restart.
    step('node 1 started');
    expect((await cli(['start-node', '1', '--dir', dir])).code).toBe(0);
    step('publisher through a killed node');
    await publisherOutlivesItsNode(dir, urls);
    step('flood');
    await floodOnTheCluster(dir, progressLog);
    step('down');

    const gone = await cli(['down', '--dir', dir]);
    expect(gone.code).toBe(0);
    expect(clusterProcesses(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
    for (const port of [0, 1, 2].flatMap((i) => [BASE_PORT + i, BASE_PORT + i + 10_000, BASE_PORT + i + 20_000])) expect({ port, open: await answers(port) }).toEqual({ port, open: false });
    expect((await cli(['down', '--dir', dir])).code).toBe(0);
    // The broker every other test uses was left alone.
    const main = await amqp.connect((process.env.AMQP_URL ?? LOCAL_DEFAULTS.AMQP_URL).split(',')[0]!);
    await main.close();
    finished = true;
    // About 4 minutes alone or beside the rest of the suite on this machine (three boots, six
    // node restarts, a flood publishing for about three); in a slow hour one run passed 10.
  }, 900_000);
});
