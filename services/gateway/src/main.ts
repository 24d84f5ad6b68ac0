import { configOrExit } from '@stockflow/shared';
import { loadGatewayConfig } from './config';
import { Gateway } from './gateway';

const SHUTDOWN_GRACE_MS = 10_000;

/** `node services/gateway/dist/main.js`: the HTTP ingress as a process (npm start, compose). */
async function main(): Promise<void> {
  const config = configOrExit('gateway', () => loadGatewayConfig(process.env));
  const gateway = new Gateway(config);
  const stop = (signal: NodeJS.Signals) => {
    gateway.log.info({ signal }, 'stopping');
    setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS).unref();
    void gateway.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    await gateway.start();
  } catch (err) {
    gateway.log.fatal({ err: (err as Error).message }, 'gateway failed to start');
    await gateway.stop();
    process.exit(1);
  }
}

void main();
