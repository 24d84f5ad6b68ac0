import { ConfigError } from '@stockflow/shared';
import { OpsContext } from './context';
import { dlqList, dlqReplay } from './dlq';
import { inboxPurge, parseDuration } from './inbox-purge';
import { outboxDiscard, outboxParked, outboxRetry } from './outbox';
import { renderStatus, table } from './render';
import { repartition } from './repartition';
import { status } from './status';

export const USAGE = `npm run ops -- <command>

  status [--json]                          partitions with owner and active consumer, depth, unacked,
                                           consumers, redeliveries and dead letters per queue,
                                           outbox backlog per worker
  dlq list <worker|queue> [--json]         dead letters with reason, error and time (left in place)
  dlq replay <worker|queue> [--id <id>]…   re-publish dead letters (all, or the given ids) to their
                                           partition; deduplication still applies
  outbox parked [<worker>] [--json]         outbox rows the broker kept refusing, per partition key,
                                           with the rows of the key waiting behind them
  outbox retry <worker> --key <k>…|--all   have the relay try those parked keys now (after a fix)
  outbox discard <worker> --key <k>…|--all never publish those parked rows [--dry-run]
  inbox purge --older-than <7d|12h|30m>    delete old inbox rows [--worker <name>] [--dry-run]
  repartition --to <N>                     change the partition count of a stopped deployment

Connects with the workers' variables (DATABASE_URL, AMQP_URL, REDIS_URL, STOCKFLOW_NAMESPACE,
PARTITIONS, DELIVERY_LIMIT) and MANAGEMENT_URL (default http://<AMQP host>:15672).`;

export interface OpsIo {
  out(text: string): void;
  err(text: string): void;
}

interface Args {
  positional: string[];
  flags: Map<string, string[]>;
}

function parse(argv: string[]): Args {
  const positional: string[] = [];
  const flags = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const [name, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    const boolean = ['json', 'dry-run', 'help', 'all'].includes(name);
    const value = inline ?? (boolean ? 'true' : argv[++i]);
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  return { positional, flags };
}

class UsageError extends Error {}

function one(args: Args, name: string): string | undefined {
  return args.flags.get(name)?.at(-1);
}

/**
 * Runs one ops command; returns the exit code (0 ok, 1 failed or a service unreachable,
 * 2 usage). Output goes through `io` so tests can run it in-process.
 */
export async function runOps(argv: string[], env: NodeJS.ProcessEnv, io: OpsIo): Promise<number> {
  let ctx: OpsContext | undefined;
  try {
    const args = parse(argv);
    const [command, sub, target] = args.positional;
    if (!command || args.flags.has('help') || command === 'help') {
      io.out(USAGE + '\n');
      return command ? 0 : 2;
    }
    ctx = new OpsContext(env);
    const json = args.flags.has('json');
    if (command === 'status') {
      const report = await status(ctx);
      io.out(json ? JSON.stringify(report, null, 2) + '\n' : renderStatus(report));
      return report.problems.length > 0 ? 1 : 0;
    }
    if (command === 'dlq' && sub === 'list' && target) {
      const letters = await dlqList(ctx, target);
      if (json) io.out(JSON.stringify(letters, null, 2) + '\n');
      else io.out((letters.length === 0 ? 'no dead letters' : table(['queue', 'message id', 'type', 'reason', 'dead at', 'error'], letters.map((d) => [d.queue, d.messageId, d.type, d.reason, d.deadAt, (d.error ?? '').slice(0, 80)]))) + '\n');
      return 0;
    }
    if (command === 'dlq' && sub === 'replay' && target) {
      const r = await dlqReplay(ctx, target, args.flags.get('id') ?? []);
      if (json) io.out(JSON.stringify(r, null, 2) + '\n');
      else {
        io.out(`replayed ${r.replayed.length} message(s)${r.replayed.length > 0 ? ':\n' + table(['message id', 'type', 'to'], r.replayed.map((x) => [x.messageId, x.type, x.to])).replace(/^/gm, '  ') : ''}\n`);
        for (const f of r.failed) io.err(`failed to replay ${f.messageId}: ${f.error}\n`);
        if (r.notFound.length > 0) io.err(`not found in ${target}: ${r.notFound.join(', ')}\n`);
      }
      return r.failed.length > 0 || r.notFound.length > 0 ? 1 : 0;
    }
    if (command === 'outbox' && sub === 'parked') {
      const parked = await outboxParked(ctx, target);
      if (json) io.out(JSON.stringify(parked, null, 2) + '\n');
      else io.out((parked.length === 0 ? 'no parked outbox rows' : table(['worker', 'partition key', 'rows', 'head message', 'type', 'attempts', 'retry at', 'reason'], parked.map((k) => [k.service, k.partitionKey, k.rows, k.head.messageId, k.head.type, k.head.attempts, k.head.retryAt, k.head.reason.slice(0, 80)]))) + '\n');
      return 0;
    }
    if (command === 'outbox' && (sub === 'retry' || sub === 'discard') && target) {
      const keys = args.flags.has('all') ? 'all' : args.flags.get('key');
      if (!keys || (keys !== 'all' && keys.length === 0)) throw new UsageError(`outbox ${sub} needs --key <partition key> (repeatable) or --all`);
      if (sub === 'retry') {
        io.out(`asked the relay to retry ${await outboxRetry(ctx, target, keys)} parked key(s) on its next poll\n`);
        return 0;
      }
      const dryRun = args.flags.has('dry-run');
      const n = await outboxDiscard(ctx, target, keys, dryRun);
      io.out(dryRun ? `would discard ${n} parked row(s)\n` : `discarded ${n} parked row(s)\n`);
      return 0;
    }
    if (command === 'inbox' && sub === 'purge') {
      const olderThan = one(args, 'older-than');
      if (!olderThan) throw new UsageError('inbox purge needs --older-than (e.g. 7d)');
      const dryRun = args.flags.has('dry-run');
      const results = await inboxPurge(ctx, parseDuration(olderThan), { worker: one(args, 'worker'), dryRun });
      io.out(table(['worker', dryRun ? 'rows older than ' + olderThan : 'rows deleted'], results.map((r) => [r.service, r.rows])) + '\n');
      return 0;
    }
    if (command === 'repartition') {
      const to = one(args, 'to');
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

if (require.main === module) {
  void runOps(process.argv.slice(2), process.env, {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
  }).then((code) => process.exit(code));
}
