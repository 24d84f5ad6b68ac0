import { writeFileSync } from 'node:fs';
import { runFlood } from './flood';
import { helpText, parseOptions, UsageError } from './options';
import { htmlReport } from './report/html';
import { summaryText } from './report/summary';

/**
 * `npm run flood -- [options]`: exit 0 only when every invariant held, 1 when one did not,
 * 2 for usage errors or a run that could not even start. Ctrl-C once stops publishing and
 * (or SIGTERM) still heals, checks and cleans up; twice exits at once (the workers follow within a second).
 */
async function main(): Promise<number> {
  let opts;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(helpText() + '\n');
    return 0;
  }
  const abort = new AbortController();
  const interrupt = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) process.exit(130);
    process.stderr.write(`\n[flood] ${signal}: stopping, healing, checking and cleaning up (again to quit now)\n`);
    abort.abort();
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  const { report, series } = await runFlood(opts, { signal: abort.signal });
  process.stdout.write(summaryText(report));
  if (opts.json) writeFileSync(opts.json, JSON.stringify(report, null, 2) + '\n');
  if (opts.html) writeFileSync(opts.html, htmlReport(report, series));
  return report.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[flood] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  },
);
