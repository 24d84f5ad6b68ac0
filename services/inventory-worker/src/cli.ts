// The config module alone: the package index would load amqplib, ioredis, pino and prom-client
// too, seconds of start-up on a busy machine for a one-query CLI.
import { parseArgs } from 'node:util';
import { commonSettings, loadConfig } from '@stockflow/shared/dist/config';
import { formatProduct, formatReservation, formatStock } from './cli-format';
import { InventoryReadModel } from './read-model';

export const USAGE = `Usage: npm run stock -- [stock] <product> [<warehouse>] [--json]
       npm run stock -- reservation <id> [--json]

  stock <product> <warehouse>  levels of one row, its ledger sums and held reservations, and whether they agree
  stock <product>              the same for every warehouse holding the product, with totals
  reservation <id>             a reservation: status, lines, expiry and its ledger entries
  --json                       machine-readable output

Reads DATABASE_URL (default ${commonSettings.databaseUrl.default}).
Exit status: 0 found and consistent, 1 not found, 2 usage error, 3 found but the row disagrees
with its ledger or held reservations, 4 the query failed (database unreachable, …).`;

export const EXIT = { ok: 0, notFound: 1, usage: 2, inconsistent: 3, failed: 4 } as const;

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

/** Parses argv (without node and script), runs one query, prints, returns the exit status. */
export async function runStockCli(argv: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    io.err(`${(err as Error).message}\n${USAGE}`);
    return EXIT.usage;
  }
  const json = parsed.values.json === true;
  const args = parsed.positionals;
  if (parsed.values.help) {
    io.out(USAGE);
    return EXIT.ok;
  }
  if (args.length === 0) {
    io.err(USAGE);
    return EXIT.usage;
  }
  const [verb, ...rest] = args[0] === 'stock' || args[0] === 'reservation' ? [args[0], ...args.slice(1)] : ['stock', ...args];
  if ((verb === 'stock' && (rest.length < 1 || rest.length > 2)) || (verb === 'reservation' && rest.length !== 1)) {
    io.err(USAGE);
    return EXIT.usage;
  }
  const { databaseUrl } = loadConfig({ databaseUrl: commonSettings.databaseUrl }, env);
  const model = await InventoryReadModel.connect(databaseUrl, 'stockflow:stock-cli');
  try {
    const print = (value: unknown, human: () => string) => io.out(json ? JSON.stringify(value, null, 2) : human());
    if (verb === 'reservation') {
      const r = await model.reservation(rest[0]!);
      if (!r) return notFound(io, `no reservation ${rest[0]}`);
      print(r, () => formatReservation(r));
      return EXIT.ok;
    }
    const [productId, warehouseId] = rest as [string, string | undefined];
    if (warehouseId !== undefined) {
      const v = await model.stock(productId, warehouseId);
      if (!v) return notFound(io, `no stock row for ${productId} @ ${warehouseId}`);
      print(v, () => formatStock(v));
      return v.consistent ? EXIT.ok : EXIT.inconsistent;
    }
    const views = await model.productStock(productId);
    if (views.length === 0) return notFound(io, `no stock rows for ${productId}`);
    print(views, () => formatProduct(productId, views));
    return views.every((v) => v.consistent) ? EXIT.ok : EXIT.inconsistent;
  } finally {
    await model.close();
  }
}

function notFound(io: CliIo, message: string): number {
  io.err(message);
  return EXIT.notFound;
}

if (require.main === module) {
  runStockCli(process.argv.slice(2), process.env, { out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`) }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${(err as Error).message}\n`);
      process.exitCode = EXIT.failed;
    },
  );
}
