import { join } from 'node:path';
import { Publisher, WORKER_KINDS } from '@stockflow/shared';
import { check, dbOf, type CheckReport } from './checker';
import { FaultInjector } from './faults/injector';
import { formatFaults, planFaults } from './faults/plan';
import { brokerAdmin } from './faults/broker-admin';
import { rabbitmqctlAvailable } from './faults/rabbitmqctl';
import { FloodEventTap } from './history/event-tap';
import { History } from './history/history';
import { HistoryWriter } from './history/history-file';
import { UsageError, type FloodOptions } from './options';
import { ProviderProcess, RemoteProvider, type ProviderHandle } from './provider/provider-handle';
import { WebhookRelay } from './provider/webhook-relay';
import { FloodPublisher } from './publish/flood-publisher';
import { OrderedPublisher } from './publish/ordered-publisher';
import { BAR_REDRAW_MS, ProgressBar } from './report/progress-bar';
import { HttpDoor } from './publish/http-door';
import { buildReport } from './report/build';
import type { FloodReport, ReportSeries } from './report/types';
import { Rng } from './rng';
import { peekDeadLetters } from './run/dead-letters';
import { trackFlood } from './run/active-runs';
import { LocalClusterControl } from './run/cluster-control';
import { RunEnvironment } from './run/environment';
import { waitForQuiescence } from './run/quiescence';
import { runSetup } from './run/setup';
import { fleetProbe, historyProbe, postgresProbe, queueProbe } from './sampling/probes';
import { activityProbe, lagProbe, rssProbe, tableProbe } from './sampling/soak-probes';
import { Sampler } from './sampling/sampler';
import { ReadLoad } from './soak/reads';
import { AttachedFleet, ProcessFleet, type Fleet } from './supervisor/fleet';
import { startInProcessGateway } from '../support/in-process-gateway';
import { Teardown } from '../support/teardown';
import { Catalogue } from './workload/catalogue';
import { WorkloadGenerator } from './workload/generator';
import { schedule } from './workload/schedule';
import type { PlannedCommand } from './workload/types';

export interface FloodHooks {
  /** Progress lines (default: stderr unless --quiet). */
  say?(line: string): void;
  /** Runs after quiescence, before the checker: sabotage tests corrupt state or history here. */
  beforeCheck?(run: { env: RunEnvironment; history: History }): Promise<void>;
  /** Aborting stops publishing and waiting; the run still heals, checks and cleans up. */
  signal?: AbortSignal;
  /**
   * Aborting abandons the run where it is: no healing, no check, no report. Everything it
   * created is removed at once (workers killed rather than drained), then runFlood rejects
   * with FloodCancelled.
   */
  cancel?: AbortSignal;
}

export interface FloodRun {
  report: FloodReport;
  series: ReportSeries;
  check: CheckReport;
}

/** runFlood's rejection when its `cancel` signal (or cancelRunningFloods) abandoned it. */
export class FloodCancelled extends Error {
  constructor() {
    super('flood cancelled: stopped without a check; what it had created is removed');
  }
}

const HEAL_TIMEOUT_MS = 120_000;
/** The workers' LEASE_TTL_MS unless --worker-env sets it (relay-failover's bound). */
const DEFAULT_LEASE_TTL_MS = 5_000;

/**
 * One flood, start to finish: environment → provider → workers → tap → setup → publish under
 * faults → heal → quiescence → check → report. Each step is a module of its own (workload,
 * publish, supervisor, faults, sampling, checker, report), so a soak composes the
 * same parts with a different stop condition and more probes.
 *
 * Whatever the steps create registers its undo with the run's Teardown as it is created, and
 * the teardown runs however the run ends: a report (passing or failing), an exception in any
 * step, `hooks.cancel`, or cancelRunningFloods() for a run a timed-out test abandoned. Only
 * --keep keeps the state (database, queues, Redis keys); a failed run keeps its logs.
 */
export async function runFlood(opts: FloodOptions, hooks: FloodHooks = {}): Promise<FloodRun> {
  const cancel = new AbortController();
  const onCancel = () => cancel.abort();
  if (hooks.cancel?.aborted) cancel.abort();
  hooks.cancel?.addEventListener('abort', onCancel, { once: true });
  const teardown = new Teardown();
  const state: FloodState = { ok: false, env: undefined };
  // On a terminal the publishing phase shows a bar with percentage and ETA; elsewhere (and with
  // hooks.say) the progress comes as plain lines every --progress-ms.
  const bar = !hooks.say && !opts.quiet ? new ProgressBar(process.stderr) : undefined;
  const say = (line: string) => {
    state.env?.log.info(line);
    if (hooks.say) hooks.say(line);
    else if (!opts.quiet) bar!.line(`[flood${state.env ? ` ${state.env.tag}` : ''}] ${line}`);
  };
  const work = floodSteps(opts, hooks, teardown, state, say, cancel.signal, bar?.live ? bar : undefined);
  const cancelled = new Promise<never>((_, reject) => {
    if (cancel.signal.aborted) reject(new FloodCancelled());
    cancel.signal.addEventListener('abort', () => reject(new FloodCancelled()), { once: true });
  });
  // The loser of the race below is abandoned: its rejection is expected, not unhandled. Steps
  // abandoned by a cancel fail at their next use of what the teardown closed, or at its refusal
  // to create anything more.
  work.catch(() => undefined);
  cancelled.catch(() => undefined);
  let settled!: () => void;
  const untrack = trackFlood({ cancel: () => cancel.abort(), settled: new Promise<void>((resolve) => (settled = resolve)) });
  try {
    return await Promise.race([work, cancelled]);
  } finally {
    bar?.stop();
    await teardown.close({ hurry: cancel.signal.aborted });
    hooks.cancel?.removeEventListener('abort', onCancel);
    untrack();
    settled();
    const env = state.env;
    // Something may be left behind: say so even when --quiet.
    for (const f of teardown.failures) (hooks.say ?? ((line: string) => process.stderr.write(`[flood] ${line}\n`)))(`cleanup: ${f.what} failed: ${f.error}`);
    if (env && opts.keep) say(`kept (--keep): database ${env.ownDatabase ?? '(attached)'}, namespace ${env.namespace}, logs ${env.runDir}`);
    else if (env && !state.ok) say(`logs kept for inspection in ${env.runDir}`);
  }
}

interface FloodState {
  /** The report's verdict: a failed run keeps its logs. */
  ok: boolean;
  env: RunEnvironment | undefined;
}

async function floodSteps(given: FloodOptions, hooks: FloodHooks, teardown: Teardown, state: FloodState, say: (line: string) => void, cancelled: AbortSignal, bar: ProgressBar | undefined): Promise<FloodRun> {
  const t0 = Date.now();
  // On a cluster, every address comes from the cluster's directory.
  const cluster = given.cluster ? await LocalClusterControl.open(given.cluster, (line) => say(line)) : undefined;
  const opts: FloodOptions = cluster ? { ...given, amqpUrl: cluster.amqpUrl } : given;
  if (!opts.quiet && !hooks.say) process.stderr.write('[flood] preparing: database, broker topology (waits while the broker is unreachable)\n');
  const writer = opts.history ? new HistoryWriter(opts.history) : undefined;
  if (writer) teardown.defer('history files', () => writer.close());
  const env = (state.env = await RunEnvironment.prepare(opts, teardown, () => opts.keep || !state.ok));
  const history = new History(writer);
  for (const note of opts.notes) say(note);
  say(`seed ${opts.seed}, ${opts.commands || '∞'} commands${opts.durationMs ? ` or ${opts.durationMs / 1000} s` : ''}, duplicates ${opts.duplicates}, faults ${formatFaults(opts.faults)}, namespace ${env.namespace}, run dir ${env.runDir}`);
  const broker = await brokerAdmin(opts.amqpUrl, cluster?.managementUrls);
  const rabbitmqctl = opts.faults.some((f) => f.kind === 'broker') && (await rabbitmqctlAvailable(opts.amqpUrl));
  if (cluster) say(`on the RabbitMQ cluster in ${opts.cluster}: ${cluster.nodes.map((n) => n.name).join(', ')}`);
  say(broker ? `broker admin: ${broker.kind}` : 'neither the management API nor rabbitmqctl reaches the broker: no conn faults, quiescence from ready counts only');

  const tap = await teardown.create(
    'event tap',
    () => FloodEventTap.open({ amqpUrl: opts.amqpUrl, namespace: env.namespace, tag: env.tag, history, log: env.log, quorumGroupSize: env.topology.quorumGroupSize }),
    (t) => t.close({ deleteQueue: opts.attach || !opts.keep }),
  );

  let fleet: Fleet;
  let provider: ProviderHandle;
  /** The live payment gateways of an owned run and the provider's secret (the forged-webhooks fault). */
  let gateway: { urls: () => string[]; secret: string } | undefined;
  if (opts.attach) {
    const remote = new RemoteProvider(opts.providerUrl);
    await remote.check().catch((err: unknown) => {
      throw new Error(`--attach needs the provider simulator of the deployment at ${opts.providerUrl} (--provider-url): ${(err as Error).message}`);
    });
    provider = remote;
    fleet = new AttachedFleet([]);
  } else {
    const started: { fleet?: ProcessFleet } = {};
    const relay = await teardown.create(
      'webhook relay',
      async () => {
        const r = new WebhookRelay(() => started.fleet?.webhookTargets() ?? []);
        await r.start();
        return r;
      },
      (r) => r.stop(),
    );
    const local = await teardown.create(
      'provider simulator',
      () => ProviderProcess.start(relay.url, { hangMs: PROVIDER_HANG_MS, webhookDuplicates: 2, webhookDelayMs: 20 }, join(env.runDir, 'provider.log')),
      (p, { hurry }) => p.stop(hurry ? 0 : undefined),
    );
    provider = local;
    gateway = { urls: () => started.fleet?.webhookTargets() ?? [], secret: local.webhookSecret };
    const processFleet = new ProcessFleet({
      tag: env.tag,
      instances: opts.instances,
      logDir: env.runDir,
      restartDelayMs: 500,
      env: (kind, instanceId) => env.workerEnv(instanceId, kind === 'payments' ? paymentEnv(local) : kind === 'inventory' ? INVENTORY_ENV : {}),
    });
    fleet = started.fleet = processFleet;
    // Before they start: a start that fails halfway leaves processes to stop. A cancelled run
    // kills them (its database goes anyway) instead of waiting for their drain.
    teardown.defer('worker processes', ({ hurry }) => processFleet.stop(hurry ? 0 : undefined));
    say(`starting ${WORKER_KINDS.map((k) => `${opts.instances[k]} ${k}`).join(', ')} worker processes`);
    await processFleet.start();
  }

  const publisher = await teardown.create(
    'publisher',
    () => Publisher.connect({ url: opts.amqpUrl, namespace: env.namespace, partitions: opts.partitions, autoSequence: false, log: env.log, name: `stockflow-flood:${env.tag}:publisher` }),
    (p) => p.close(),
  );
  const ordered = new OrderedPublisher({ conn: publisher.connection, log: env.log, maxInFlight: opts.maxInFlight, rate: opts.rate });
  teardown.defer('ordered publisher', async () => ordered.close());
  await ordered.start();
  // Rate-limited, two seconds of messages queued ahead of the limiter keep the rate; more
  // (2000 by default) would outlive --duration by minutes at a low rate.
  const http = opts.viaHttp > 0 ? await httpDoor(opts, env, teardown, say) : undefined;
  const flood = new FloodPublisher({ publisher, ordered, history, provider, http }, opts.rate > 0 ? Math.max(64, Math.ceil(opts.rate * 2)) : undefined);

  const catalogue = new Catalogue({ tag: env.tag, products: opts.products, warehouses: opts.warehouses, hotKeys: opts.hotKeys, hotShare: opts.hotShare }, Rng.derive(opts.seed, 'catalogue'));
  const generator = new WorkloadGenerator(
    { tag: env.tag, seed: opts.seed, mix: opts.mix, initialStock: opts.initialStock, maxOrderLines: opts.orderLines, declineRate: opts.declineRate, timeoutRate: opts.timeoutRate, asyncCaptureRate: opts.asyncCaptureRate, shortHoldRate: opts.shortHoldRate, cancelFirstShare: opts.cancelFirstShare },
    catalogue,
  );

  const tSetup = Date.now();
  const setup = generator.setup();
  await runSetup(setup, flood, history, 180_000);
  say(`setup done: ${catalogue.warehouses.length} warehouses, ${catalogue.locations.length} stock keys × ${opts.initialStock} units`);

  const reads = opts.readsPerSec > 0 ? await teardown.create('stock readers', () => ReadLoad.start({ databaseUrl: env.databaseUrl, tag: env.tag, catalogue, perSec: opts.readsPerSec, seed: opts.seed, concurrency: 2 }), (r) => r.stop()) : undefined;
  const sampler = new Sampler(
    [
      historyProbe(history), queueProbe(env.amqp, env.topology), postgresProbe(env.pool), fleetProbe(fleet),
      rssProbe(fleet), activityProbe(env.pool), tableProbe(env.pool), lagProbe(env.pool, history, Catalogue.prefixes(env.tag).command),
      ...(reads ? [reads.probe()] : []),
    ],
    opts.sampleMs,
  );
  teardown.defer('sampler', () => sampler.stop());
  sampler.start();

  const limit = opts.commands > 0 ? opts.commands : Infinity;
  const tPublish = Date.now();
  const deadline = opts.durationMs !== undefined ? tPublish + opts.durationMs : Infinity;
  let generated = 0;
  // Whichever bound comes first decides how far along the flood is (and when counted faults fire).
  const progress = () => Math.max(limit !== Infinity ? generated / limit : 0, deadline !== Infinity ? (Date.now() - tPublish) / (deadline - tPublish) : 0);
  const injector = new FaultInjector(
    {
      namespace: env.namespace,
      databaseUrl: env.databaseUrl,
      redisUrl: opts.redisUrl,
      redisFlushAll: opts.redisFlushAll,
      fleet,
      broker,
      rabbitmqctl,
      rng: Rng.derive(opts.seed, 'fault-targets'),
      stopMs: opts.stopMs,
      brokerDownMs: 3000,
      nodeDownMs: opts.nodeDownMs,
      ...(cluster ? { cluster } : {}),
      edge: { tag: env.tag, topology: env.topology, amqp: env.amqp, pool: env.pool, history, publisher, sequences: flood, gateway, leaseTtlMs: Number(opts.workerEnv.LEASE_TTL_MS ?? DEFAULT_LEASE_TTL_MS) },
      log: say,
    },
    planFaults(opts.faults, opts.seed, limit === Infinity ? opts.durationMs : undefined),
  );
  // Not a heal: the workers are stopped next, so only what outlives the run is put right.
  teardown.defer('fault injector', () => injector.settle());
  injector.start(progress);
  const ticker = bar
    ? setInterval(() => bar.update(progress(), progressLine(history, sampler, injector, limit)), BAR_REDRAW_MS)
    : opts.quiet ? undefined : setInterval(() => say(progressLine(history, sampler, injector, limit)), opts.progressMs);
  teardown.defer('progress line', async () => {
    clearInterval(ticker);
    bar?.stop();
  });

  function* bounded(source: Iterable<PlannedCommand>): Generator<PlannedCommand> {
    for (const c of source) {
      if (generated >= limit || Date.now() >= deadline || hooks.signal?.aborted || cancelled.aborted) return;
      generated++;
      yield c;
    }
  }
  await flood.publishAll(schedule(bounded(generator.commands()), { seed: opts.seed, duplicates: opts.duplicates, lateShare: opts.lateShare, reorderWindow: opts.reorderWindow, lateDistance: [200, 20_000] }));
  await flood.confirmed();
  const tPublished = Date.now();
  clearInterval(ticker);
  bar?.stop();
  await reads?.stop();
  say(`published ${history.publishes.length} messages in ${((tPublished - tPublish) / 1000).toFixed(1)} s${http ? ` (${http.sent} through the gateway)` : ''}; healing faults`);

  await injector.heal(HEAL_TIMEOUT_MS);
  say('waiting for quiescence');
  let lastPending = '';
  const quiescence = await waitForQuiescence({ pool: env.pool, amqp: env.amqp, topology: env.topology, tag: env.tag, broker, tap, fleet }, { stallMs: hooks.signal?.aborted ? 0 : opts.quiesceTimeoutMs, maxMs: opts.drainMaxMs, signal: hooks.signal }, (pending) => {
    const line = pending.join('; ');
    if (line !== lastPending && !opts.quiet) say(`still moving: ${line}`);
    lastPending = line;
  });
  await tap.drain(30_000);
  const tQuiet = Date.now();
  say(quiescence.reached ? `quiescent after ${(quiescence.waitedMs / 1000).toFixed(1)} s; checking` : `no quiescence after ${(quiescence.waitedMs / 1000).toFixed(1)} s (${quiescence.pending.join('; ')}); checking anyway`);
  await sampler.stop();

  const deadLetters = await peekDeadLetters(env.amqp, env.topology);
  const ledger = await provider.ledger();
  await hooks.beforeCheck?.({ env, history });
  const checked = await check({ tag: env.tag, history, deadLetters, provider: ledger, db: dbOf(env.pool), faults: injector.records });
  const tChecked = Date.now();

  const { report, series } = await buildReport({
    opts, env, history, fleet, injector, sampler, quiescence, deadLetters, checked, publisherRetries: ordered.retried, providerPlansLost: flood.plansLost, reads: reads?.figures(),
    times: { t0, tSetup, tPublish, tPublished, tQuiet, tChecked },
  });
  state.ok = report.ok;
  return { report, series, check: checked };
}

/**
 * The door for --via http: an attached deployment's gateway (its URL, the token from the
 * environment), or a gateway this run starts in its own process with a token of its own.
 */
async function httpDoor(opts: FloodOptions, env: RunEnvironment, teardown: Teardown, say: (line: string) => void): Promise<HttpDoor> {
  if (opts.gatewayUrl) {
    const token = process.env.STOCKFLOW_GATEWAY_TOKEN;
    if (!token) throw new UsageError('--gateway-url needs the gateway token in STOCKFLOW_GATEWAY_TOKEN');
    say(`${Math.round(opts.viaHttp * 100)} % of the keys through the gateway at ${opts.gatewayUrl}`);
    return new HttpDoor(opts.gatewayUrl, token, opts.viaHttp);
  }
  const gateway = await startInProcessGateway({ databaseUrl: env.databaseUrl, amqpUrl: opts.amqpUrl, namespace: env.namespace, partitions: opts.partitions, quorumGroupSize: env.topology.quorumGroupSize, log: env.log }, teardown);
  say(`${Math.round(opts.viaHttp * 100)} % of the keys through a gateway at ${gateway.url}`);
  return new HttpDoor(gateway.url, gateway.token, opts.viaHttp);
}

/** Holds must race payments (short TTLs expire in 0.3–2.5 s) and the sweep must catch what Redis lost. */
const INVENTORY_ENV = { EXPIRY_POLL_MS: '100', EXPIRY_SWEEP_MS: '1000', EXPIRY_SWEEP_GRACE_MS: '500' };

/**
 * A planned timeout hangs longer than the client waits; each blocks its payments partition for
 * about the client timeout plus a lookup. The client keeps payment-worker's default: on a
 * loaded machine a shorter one turns a slow provider into a storm of unplanned timeouts and
 * retries (seen here at 2 s with the load average above 10), which then expires holds.
 */
const PROVIDER_TIMEOUT_MS = 5000;
const PROVIDER_HANG_MS = 6000;

function paymentEnv(provider: ProviderHandle): Record<string, string> {
  return {
    PROVIDER_URL: provider.url,
    WEBHOOK_SECRET: provider.webhookSecret,
    PROVIDER_TIMEOUT_MS: String(PROVIDER_TIMEOUT_MS),
    PROVIDER_RETRY_BASE_MS: '50',
    PROVIDER_RETRY_MAX_MS: '500',
  };
}

function progressLine(history: History, sampler: Sampler, injector: FaultInjector, limit: number): string {
  const v = sampler.latest()?.values ?? {};
  const dups = history.publishes.filter((p) => p.dup).length;
  const faults = Object.entries(injector.counts()).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(' ') || 'none';
  const n = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : Math.round(x).toLocaleString('en-US'));
  return `published ${n(history.publishes.length - dups)}${limit !== Infinity ? `/${n(limit)}` : ''} (+${n(dups)} dup) | applied ${n(v.applied)} | dup absorbed ${n(v.duplicatesAbsorbed)} | events ${n(history.events.size)} | queued ${n(v.depth)} | outbox ${n(v.outbox)} | faults ${faults} | workers up ${n(v.workersUp)}`;
}
