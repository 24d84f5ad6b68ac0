import { ConfigError } from '../errors';
import { startTracing } from '../tracing/sdk';
import type { Logger } from '../logger';
import { Worker } from './worker';
import type { UnitOfWork } from './types';

/**
 * Process lifecycle for a worker's main.ts: start; on SIGTERM/SIGINT stop consuming, finish
 * in-flight batches, flush the outbox, close everything and exit 0 within the grace period;
 * a second signal (or the grace period running out) forces exit 1.
 */
export async function runWorker<U extends UnitOfWork>(worker: Worker<U>, log: Logger, graceMs: number): Promise<void> {
  const stopTracing = startTracing(worker.def.name);
  if (stopTracing) log.info('tracing: spans exported over OTLP (OTEL_* variables)');
  const flushTraces = () => (stopTracing ? stopTracing().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'tracing: flush failed')) : Promise.resolve());
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: forcing exit');
      process.exit(1);
    }
    log.info({ signal, graceMs }, 'shutdown requested');
    const force = setTimeout(() => {
      log.error({ graceMs }, 'grace period over: forcing exit');
      worker.forceAbort();
      process.exit(1);
    }, graceMs);
    force.unref();
    worker.stop().then(
      () => flushTraces().then(() => process.exit(0)),
      (err: unknown) => {
        log.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));

  void worker.failed.then((err) => {
    log.fatal({ err: err.message }, 'worker failed; exiting');
    void worker.stop().finally(() => process.exit(2));
  });
  try {
    await worker.start();
  } catch (err) {
    log.fatal({ err }, 'worker failed to start');
    process.exit(2);
  }
}

/**
 * A main.ts's configuration, or exit 2 with one line per bad variable on stderr (values of
 * secrets and URL passwords are never in the message): no stack trace, no half-started worker.
 */
export function configOrExit<T>(service: string, load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${service}: ${err.message}\n`);
    process.exit(2);
  }
}
