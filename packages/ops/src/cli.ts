import { parseArgs } from 'node:util';
import { ConfigError, PAUSE_POLL_MS } from '@stockflow/shared';
import { OpsContext } from './context';
import { dlqDiscard, dlqList, dlqReplay, type DeadLetter, type DeadLetterFilter } from './dlq';
import { inboxPurge, parseDuration } from './inbox-purge';
import { outboxDiscard, outboxParked, outboxRetry } from './outbox';
import { pause, resume, scopeLabel } from './pause';
import { healthLine, healthOf } from './health';
import { describePlan, drop, planDrop } from './namespace-drop';
import { renderStatus, table } from './render';
import { repartition } from './repartition';
import { status, type StatusReport } from './status';
import { OPS_WORKERS, workerNamed } from './worker-kinds';

export const USAGE = `stockflow-ops <command>        (in a checkout: npm run ops -- <command>)

  status [--worker <w>] [--json]           partitions with owner and active consumer, depth, unacked,
                                           consumers, redeliveries and dead letters per queue,
                                           outbox backlog per worker; first line and exit code are
                                           the health verdict: 0 healthy, 1 degraded (why, in one
                                           line: an unowned partition, dead letters, parked rows, an
                                           unreachable service)
  dlq list <worker|queue> [filters] [--json]
                                           dead letters with reason, error and time (left in place)
  dlq replay <worker|queue> [filters]      re-publish dead letters to their partition; deduplication
                                           still applies
  dlq discard <worker|queue> <filters|--all> [--dry-run]
                                           remove dead letters for good (say which with --dry-run)
     filters: --id <id>… --reason <r>… --type <T>… --limit <n> (all given must match)
  outbox parked [<worker>] [--json]         outbox rows the broker kept refusing, per partition key,
                                           with the rows of the key waiting behind them
  outbox retry <worker> --key <k>…|--all   have the relay try those parked keys now (after a fix)
  outbox discard <worker> --key <k>…|--all never publish those parked rows [--dry-run]
  pause <worker> --reason <text> [--partition <n>…] [--wait <s>]
                                           stop consuming a worker (or some of its partitions) in
                                           every instance without stopping processes, e.g. for a
                                           migration; messages wait in their queues, in order, and
                                           instances started meanwhile stay paused. Waits until no
                                           instance consumes them (default 30 s; exit 1 if one
                                           still does). ops status shows it and says degraded
  resume <worker> [--partition <n>…]       consume again (without --partition: all of the worker)
  inbox purge --older-than <7d|12h|30m>    delete old inbox rows [--worker <name>] [--dry-run]
  repartition --to <N>                     change the partition count of a stopped deployment
  namespace drop [--database] [--dry-run] [--yes]
                                           remove a deployment: its queues, exchanges and Redis keys
                                           (and with --database the database of DATABASE_URL);
                                           refused while its workers run, and for the default
                                           namespace 'stockflow' without --yes
  --namespace <ns>                         act on this namespace instead of STOCKFLOW_NAMESPACE

Exit codes: 0 ok (status: healthy), 1 failed (status: degraded), 2 usage.
Connects with the workers' variables (DATABASE_URL, AMQP_URL, REDIS_URL, STOCKFLOW_NAMESPACE,
PARTITIONS, DELIVERY_LIMIT) and MANAGEMENT_URL (default http://<host of the first AMQP_URL
address>:15672).`;

export interface OpsIo {
  out(text: string): void;
  err(text: string): void;
}

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  all: { type: 'boolean' },
  id: { type: 'string', multiple: true },
  reason: { type: 'string', multiple: true },
  type: { type: 'string', multiple: true },
  limit: { type: 'string' },
  key: { type: 'string', multiple: true },
  worker: { type: 'string' },
  'older-than': { type: 'string' },
  to: { type: 'string' },
  partition: { type: 'string', multiple: true },
  wait: { type: 'string' },
  namespace: { type: 'string' },
  database: { type: 'boolean' },
  yes: { type: 'boolean' },
} as const;

/** How long `pause` waits for every instance to let go of the paused queues. */
const DEFAULT_PAUSE_WAIT_S = 30;

/** The namespace `npm start` and the compose file run: dropping it takes --yes. */
const LIVE_DEFAULT_NAMESPACE = 'stockflow';

class UsageError extends Error {}

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/**
 * Runs one ops command; returns the exit code (0 ok, 1 failed or a service unreachable,
 * 2 usage). Output goes through `io` so tests can run it in-process.
 */
export async function runOps(argv: string[], env: NodeJS.ProcessEnv, io: OpsIo): Promise<number> {
  let ctx: OpsContext | undefined;
  try {
    const { values: flags, positionals } = parse(argv);
    const [command, sub, target] = positionals;
    if (flags.help || command === 'help') {
      io.out(USAGE + '\n');
      return 0;
    }
    if (!command) throw new UsageError('a command is required');
    ctx = new OpsContext(flags.namespace === undefined ? env : { ...env, STOCKFLOW_NAMESPACE: flags.namespace });
    const json = flags.json === true;
    if (command === 'status') {
      const only = flags.worker === undefined ? undefined : workerNamed(flags.worker);
      if (flags.worker !== undefined && !only) throw new UsageError(`--worker ${flags.worker}: one of ${OPS_WORKERS.map((w) => w.kind).join(', ')}`);
      const report = onlyWorker(await status(ctx), only?.service);
      const health = healthOf(report);
      io.out(json ? JSON.stringify({ ...report, health }, null, 2) + '\n' : `${healthLine(health)}\n\n${renderStatus(report)}`);
      return health.verdict === 'healthy' ? 0 : 1;
    }
    if (command === 'dlq' && sub === 'list' && target) {
      const letters = await dlqList(ctx, target, filterOf(flags));
      if (json) io.out(JSON.stringify(letters, null, 2) + '\n');
      else io.out((letters.length === 0 ? 'no dead letters' : deadTable(letters)) + '\n');
      return 0;
    }
    if (command === 'dlq' && sub === 'replay' && target) {
      const r = await dlqReplay(ctx, target, filterOf(flags));
      if (json) io.out(JSON.stringify(r, null, 2) + '\n');
      else {
        io.out(`replayed ${r.replayed.length} message(s)${r.replayed.length > 0 ? ':\n' + table(['message id', 'type', 'to'], r.replayed.map((x) => [x.messageId, x.type, x.to])).replace(/^/gm, '  ') : ''}\n`);
        for (const f of r.failed) io.err(`failed to replay ${f.messageId}: ${f.error}\n`);
        if (r.notFound.length > 0) io.err(`not found in ${target}: ${r.notFound.join(', ')}\n`);
      }
      return r.failed.length > 0 || r.notFound.length > 0 ? 1 : 0;
    }
    if (command === 'dlq' && sub === 'discard' && target) {
      const filter = filterOf(flags);
      if (!flags.all && !filter.ids && !filter.reasons && !filter.types && filter.limit === undefined) throw new UsageError('dlq discard needs a filter (--id, --reason, --type, --limit) or --all');
      const dryRun = flags['dry-run'] === true;
      const gone = await dlqDiscard(ctx, target, filter, dryRun);
      if (json) io.out(JSON.stringify(gone, null, 2) + '\n');
      else io.out(`${dryRun ? 'would discard' : 'discarded'} ${gone.length} dead letter(s)${gone.length > 0 ? ':\n' + deadTable(gone).replace(/^/gm, '  ') : ''}\n`);
      return 0;
    }
    if (command === 'outbox' && sub === 'parked') {
      const parked = await outboxParked(ctx, target);
      if (json) io.out(JSON.stringify(parked, null, 2) + '\n');
      else io.out((parked.length === 0 ? 'no parked outbox rows' : table(['worker', 'partition key', 'rows', 'head message', 'type', 'attempts', 'retry at', 'reason'], parked.map((k) => [k.service, k.partitionKey, k.rows, k.head.messageId, k.head.type, k.head.attempts, k.head.retryAt, k.head.reason.slice(0, 80)]))) + '\n');
      return 0;
    }
    if (command === 'outbox' && (sub === 'retry' || sub === 'discard') && target) {
      const keys = flags.all ? 'all' : flags.key;
      if (!keys || (keys !== 'all' && keys.length === 0)) throw new UsageError(`outbox ${sub} needs --key <partition key> (repeatable) or --all`);
      if (sub === 'retry') {
        io.out(`asked the relay to retry ${await outboxRetry(ctx, target, keys)} parked key(s) on its next poll\n`);
        return 0;
      }
      const dryRun = flags['dry-run'] === true;
      const n = await outboxDiscard(ctx, target, keys, dryRun);
      io.out(dryRun ? `would discard ${n} parked row(s)\n` : `discarded ${n} parked row(s)\n`);
      return 0;
    }
    if ((command === 'pause' || command === 'resume') && sub) {
      const w = workerNamed(sub);
      if (!w) throw new UsageError(`${command} ${sub}: one of ${OPS_WORKERS.map((x) => x.kind).join(', ')}`);
      if (target) throw new UsageError(`${command} takes one worker; partitions go in --partition`);
      const partitions = flags.partition === undefined ? null : flags.partition.map((p) => wholeNumber('--partition', p, 0));
      if (command === 'resume') {
        const r = await resume(ctx, w, partitions);
        if (r.wholeWorkerStillPaused) {
          io.err(`ops: ${w.service} is still paused as a whole${r.removed > 0 ? ` (${r.removed} partition pause(s) removed)` : ''}: resume it without --partition\n`);
          return 1;
        }
        io.out(r.removed === 0 ? `nothing of ${w.service} was paused\n` : `resumed ${r.removed} pause(s) of ${w.service}; its instances consume again within ${PAUSE_POLL_MS / 1000} s\n`);
        return 0;
      }
      const reason = flags.reason?.at(-1);
      if (!reason?.trim()) throw new UsageError('pause needs --reason <text> (it is shown in ops status and the workers\' logs)');
      const waitS = flags.wait === undefined ? DEFAULT_PAUSE_WAIT_S : wholeNumber('--wait', flags.wait, 0);
      const r = await pause(ctx, w, partitions, reason, waitS * 1000, env);
      const n = (await ctx.deployment()).partitions;
      const scope = partitions === null ? `every partition of ${w.service}` : `${w.service} ${partitions.map((p) => scopeLabel(p, n)).join(', ')}`;
      if (json) io.out(JSON.stringify(r, null, 2) + '\n');
      else if (r.stillConsumed.length === 0) io.out(`paused ${scope}: no instance consumes ${partitions?.length === 1 ? 'it' : 'them'} (after ${(r.waitedMs / 1000).toFixed(1)} s)\n`);
      else io.out(`paused ${scope}; after ${waitS} s still consumed: ${r.stillConsumed.map((q) => `${q.queue} (${q.consumers})`).join(', ')}\n`);
      if (r.stillConsumed.length > 0 && waitS > 0) io.err(`ops: an instance still consumes a paused partition: one that cannot reach Postgres, or one older than the pause (it keeps consuming)\n`);
      return r.stillConsumed.length > 0 && waitS > 0 ? 1 : 0;
    }
    if (command === 'inbox' && sub === 'purge') {
      const olderThan = flags['older-than'];
      if (!olderThan) throw new UsageError('inbox purge needs --older-than (e.g. 7d)');
      const dryRun = flags['dry-run'] === true;
      const results = await inboxPurge(ctx, parseDuration(olderThan), { worker: flags.worker, dryRun });
      io.out(table(['worker', dryRun ? 'rows older than ' + olderThan : 'rows deleted'], results.map((r) => [r.service, r.rows])) + '\n');
      return 0;
    }
    if (command === 'namespace' && sub === 'drop') {
      if (ctx.namespace === LIVE_DEFAULT_NAMESPACE && !flags.yes && !flags['dry-run']) throw new UsageError(`refusing to drop the default namespace '${LIVE_DEFAULT_NAMESPACE}' (what npm start and compose run) without --yes`);
      const plan = await planDrop(ctx, { database: flags.database === true });
      io.out(describePlan(plan) + '\n');
      if (plan.liveInstances.length > 0) {
        io.err(`ops: ${plan.liveInstances.length} worker instance(s) still run in namespace '${plan.namespace}' (${plan.liveInstances.join(', ')}): stop them first\n`);
        return 1;
      }
      if (flags['dry-run']) {
        io.out('dry run: nothing removed\n');
        return 0;
      }
      await drop(ctx, plan);
      io.out(`dropped namespace '${plan.namespace}'${plan.database ? ` and database '${plan.database}'` : ''}\n`);
      return 0;
    }
    if (command === 'repartition') {
      const to = flags.to;
      if (!to || !/^\d+$/.test(to)) throw new UsageError('repartition needs --to <N>');
      const r = await repartition(ctx, Number(to), (line) => io.out(line + '\n'));
      if (json) io.out(JSON.stringify(r, null, 2) + '\n');
      return 0;
    }
    throw new UsageError(`unknown command: ${argv.join(' ')}`);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    io.err(`ops: ${err instanceof ConfigError ? err.message : (err as Error).message}\n`);
    return 1;
  } finally {
    await ctx?.close();
  }
}

function wholeNumber(flag: string, raw: string, min: number): number {
  if (!/^[0-9]+$/.test(raw) || Number(raw) < min) throw new UsageError(`${flag} ${raw}: a whole number from ${min}`);
  return Number(raw);
}

function filterOf(flags: { id?: string[]; reason?: string[]; type?: string[]; limit?: string }): DeadLetterFilter {
  if (flags.limit !== undefined && !/^[1-9][0-9]*$/.test(flags.limit)) throw new UsageError(`--limit ${flags.limit}: a whole number from 1`);
  return { ids: flags.id, reasons: flags.reason, types: flags.type, limit: flags.limit === undefined ? undefined : Number(flags.limit) };
}

function deadTable(letters: DeadLetter[]): string {
  return table(['queue', 'message id', 'type', 'reason', 'dead at', 'error'], letters.map((d) => [d.queue, d.messageId, d.type, d.reason, d.deadAt, (d.error ?? '').slice(0, 80)]));
}

/** The report of one worker kind: its rows, and the problems that are not another worker's. */
function onlyWorker(report: StatusReport, service: string | undefined): StatusReport {
  if (!service) return report;
  const others = OPS_WORKERS.map((w) => w.service).filter((s) => s !== service);
  return { ...report, workers: report.workers.filter((w) => w.service === service), problems: report.problems.filter((p) => !others.some((o) => p.startsWith(`${o}:`))) };
}
