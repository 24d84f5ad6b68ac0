import { writeFileSync } from 'node:fs';
import { FloodCancelled, runFlood } from './flood';
import { helpText, parseOptions, UsageError } from './options';
import { htmlReport } from './report/html';
import { summaryText } from './report/summary';

/**
 * `npm run flood -- [options]`: exit 0 only when every invariant held, 1 when one did not,
 * 2 for usage errors or a run that could not even start. The first Ctrl-C (or SIGTERM) stops
 * publishing, then heals, checks and cleans up; the second abandons the check and only cleans
 * up, at once (workers killed, database, queues and Redis keys removed), then exits 130; a
 * third exits 130 on the spot, leaving what is left to the orphan guard and the test suite's
 * stale-namespace sweep.
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
  const stop = new AbortController();
  const cancel = new AbortController();
  const interrupt = (signal: NodeJS.Signals) => {
    if (cancel.signal.aborted) process.exit(130);
    if (stop.signal.aborted) {
      process.stderr.write(`\n[flood] ${signal} again: abandoning the check, removing what the run created (again to quit now)\n`);
      cancel.abort();
      return;
    }
    process.stderr.write(`\n[flood] ${signal}: stopping, healing, checking and cleaning up (again to only clean up)\n`);
    stop.abort();
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  let run;
  try {
    run = await runFlood(opts, { signal: stop.signal, cancel: cancel.signal });
  } catch (err) {
    if (err instanceof FloodCancelled) {
      process.stderr.write(`[flood] ${err.message}\n`);
      return 130;
    }
    throw err;
  }
  const { report, series } = run;
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
