import type { CheckReport } from '../checker';
import type { DeadLetter } from '../checker/types';
import type { FaultInjector } from '../faults/injector';
import { formatFaults } from '../faults/plan';
import type { History } from '../history/history';
import type { FloodOptions } from '../options';
import type { RunEnvironment } from '../run/environment';
import type { QuiescenceResult } from '../run/quiescence';
import type { Sampler } from '../sampling/sampler';
import { ProcessFleet, type Fleet } from '../supervisor/fleet';
import type { ReadFigures } from '../soak/reads';
import { buildSoak } from './soak';
import { percentile } from './stats';
import type { FloodReport, ReportSeries } from './types';

export interface ReportInput {
  opts: FloodOptions;
  env: RunEnvironment;
  history: History;
  fleet: Fleet;
  injector: FaultInjector;
  sampler: Sampler;
  quiescence: QuiescenceResult;
  deadLetters: DeadLetter[];
  checked: CheckReport;
  publisherRetries: number;
  providerPlansLost: number;
  reads?: ReadFigures | undefined;
  times: { t0: number; tSetup: number; tPublish: number; tPublished: number; tQuiet: number; tChecked: number };
}

/** Figures of a finished flood, from its history, fleet, injector and check. */
export async function buildReport(x: ReportInput): Promise<{ report: FloodReport; series: ReportSeries }> {
  const { history, times } = x;
  const flood = history.commands().filter((c) => !c.setup);
  const dups = history.publishes.filter((p) => p.dup);
  const latencies: number[] = [];
  const effectTimes: number[] = [];
  for (const c of flood) {
    const at = history.firstEffectAt.get(c.id);
    if (at === undefined) continue;
    effectTimes.push(at);
    latencies.push(Math.max(0, at - c.t));
  }
  latencies.sort((a, b) => a - b);
  const lastEffect = effectTimes.reduce((m, t) => (t > m ? t : m), times.tPublish);
  const exactlyOnce = x.checked.invariants.find((i) => i.name === 'exactly-once');
  const claimed = new Set((await x.env.pool.query<{ message_id: string }>(
    `SELECT message_id FROM inventory.inbox WHERE message_id LIKE $1 || '%' UNION ALL SELECT message_id FROM orders.inbox WHERE message_id LIKE $1 || '%'`,
    [`c-${x.env.tag}-`],
  )).rows.map((r) => r.message_id));
  // A copy was absorbed when its id was applied exactly once (and exactly-once found no fault).
  const absorbed = dups.filter((d) => d.confirmedAt !== undefined && claimed.has(d.id)).length;
  const publishSecs = Math.max(0.001, (times.tPublished - times.tPublish) / 1000);
  const events = [...history.events.values()];
  const publishedPerSec = round(history.publishes.filter((p) => !p.setup).length / publishSecs, 1);
  const soak = buildSoak({ opts: x.opts, samples: x.sampler.samples, history, tPublish: times.tPublish, tPublished: times.tPublished, publishedPerSec, reads: x.reads });
  const report: FloodReport = {
    ok: x.checked.ok && x.quiescence.reached && soak.ok,
    commands: flood.length,
    duplicates: dups.length,
    faults: x.injector.counts(),
    invariants: x.checked.invariants,
    throughput: round(flood.length / Math.max(0.001, (lastEffect - times.tPublish) / 1000), 1),
    latency_ms: { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: latencies[latencies.length - 1] ?? NaN, samples: latencies.length },
    seed: x.opts.seed,
    tag: x.env.tag,
    namespace: x.env.namespace,
    mode: x.fleet.mode,
    setupCommands: history.commands().length - flood.length,
    duplicatesAbsorbed: exactlyOnce?.ok ? absorbed : Math.max(0, absorbed - (exactlyOnce?.violations ?? 0)),
    crashesAfterCommit: x.fleet.exits.filter((e) => e.armed && e.signal === 'SIGKILL').length,
    restarts: x.fleet instanceof ProcessFleet ? x.fleet.restarts : 0,
    deadLetters: x.deadLetters.length,
    events: history.events.size,
    rates: {
      publishedPerSec,
      eventsPerSec: round(events.filter((e) => e.t >= times.tPublish).length / Math.max(0.001, (times.tQuiet - times.tPublish) / 1000), 1),
    },
    publisherRetries: x.publisherRetries,
    providerPlansLost: x.providerPlansLost,
    quiescence: x.quiescence,
    outbox: outboxFigures(x.sampler.samples, times.tPublished),
    nodeOutages: x.injector.records.flatMap((r) => r.outages ?? []),
    durations_ms: { setup: times.tPublish - times.tSetup, publish: times.tPublished - times.tPublish, drain: times.tQuiet - times.tPublished, check: times.tChecked - times.tQuiet, total: times.tChecked - times.t0 },
    reproduce: reproduceCommand(x.opts),
    faultLog: x.injector.records,
    runDir: x.env.runDir,
    soak,
  };
  const series: ReportSeries = {
    start: times.tPublish,
    publishEnd: times.tPublished,
    end: times.tQuiet,
    samples: x.sampler.samples,
    publishTimes: history.publishes.filter((p) => !p.setup).map((p) => p.t),
    effectTimes,
    latencies,
  };
  return { report, series };
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** The command line that replays this workload and fault schedule (timing under load still varies). */
export function reproduceCommand(o: FloodOptions): string {
  const args = [
    `--seed ${o.seed}`,
    `--commands ${o.commands}`,
    o.durationMs !== undefined ? `--duration ${o.durationMs / 1000}s` : '',
    o.profile !== 'mixed' ? `--profile ${o.profile}` : '',
    o.readsPerSec > 0 ? `--reads-per-sec ${o.readsPerSec}` : '',
    o.warmupMs !== undefined ? `--warmup ${o.warmupMs / 1000}s` : '',
    o.rate > 0 ? `--rate ${o.rate}` : '',
    `--duplicates ${o.duplicates}`,
    `--late-share ${o.lateShare}`,
    `--reorder-window ${o.reorderWindow}`,
    `--products ${o.products} --warehouses ${o.warehouses} --initial-stock ${o.initialStock}`,
    `--hot-keys ${o.hotKeys} --hot-share ${o.hotShare}`,
    `--mix ${Object.entries(o.mix).map(([k, v]) => `${k}=${v}`).join(',')}`,
    `--decline-rate ${o.declineRate} --timeout-rate ${o.timeoutRate} --async-capture-rate ${o.asyncCaptureRate} --short-hold-rate ${o.shortHoldRate} --cancel-first-share ${o.cancelFirstShare}`,
    `--faults ${formatFaults(o.faults)}`,
    `--instances ${Object.entries(o.instances).map(([k, v]) => `${k}=${v}`).join(',')}`,
    `--partitions ${o.partitions}`,
    o.cluster ? `--cluster ${o.cluster} --node-down ${o.nodeDownMs / 1000}s` : '',
    ...Object.entries(o.workerEnv).map(([k, v]) => `--worker-env ${k}=${v}`),
  ];
  return `npm run flood -- ${args.filter(Boolean).join(' ')}`;
}

function outboxFigures(samples: { t: number; values: Record<string, number> }[], tPublished: number): FloodReport['outbox'] {
  const rows = samples.filter((s) => s.values.outbox !== undefined);
  const peakRows = rows.reduce((m, s) => Math.max(m, s.values.outbox!), 0);
  const empty = rows.find((s) => s.t >= tPublished && s.values.outbox === 0);
  return { peakRows, drainedAfterPublishS: empty ? round((empty.t - tPublished) / 1000, 1) : null };
}
